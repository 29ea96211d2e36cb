import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpEvent, type LocalData, lambdaContext, paymentStorm } from '../../functions/local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../../functions/payment/handler.js';
import type { PaymentProvider } from '../../functions/payment/provider.js';
import { createLogger } from '../../functions/shared/logger.js';
import { envFor, prepare, stores, uid } from '../support/harness.js';

let data: LocalData;
let tables: Awaited<ReturnType<typeof prepare>>['tables'];
beforeAll(async () => {
  ({ data, tables } = await prepare());
});
afterAll(() => data?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(stores)('payment function with the %s lock store', (store) => {
  it('charges exactly once for 100 concurrent invocations with duplicate deliveries and mixed keys', async () => {
    const handler = createPaymentHandler(() => paymentDepsFromEnv(envFor(tables, store)));
    const result = await paymentStorm(handler, data, { orderId: uid('order'), deliveries: 100, keys: 10 });
    expect(result.charges).toBe(1);
    expect(result.orderStatus).toBe('paid');
    expect(result.consistentReplies).toBe(true);
    expect(result.retryMatches).toBe(true);
    // Every answer is the paid response (200, for the paying key) or a 409 (another key won).
    expect(Object.keys(result.statuses).sort()).toEqual(expect.arrayContaining(['200']));
    for (const status of Object.keys(result.statuses)) expect(['200', '409']).toContain(status);
  });

  it('stops a holder frozen past its lease at the fence: it cannot mark the order paid', async () => {
    const orderId = uid('frozen');
    const keyA = `${orderId}-key-A`;
    const keyB = `${orderId}-key-B`;
    await data.seedOrder(orderId, 990, 'EUR');
    const ttlMs = 400;
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ service: 'payment' }, 'debug', (line) => lines.push(JSON.parse(line)));
    const deps = await paymentDepsFromEnv(envFor(tables, store, { ttlMs, waitMs: 5_000 }));
    // A: no auto-extension in time and a provider call that stalls 1.5x the TTL — a frozen Lambda.
    let frozen = true;
    const stalling: PaymentProvider = {
      async charge(request) {
        if (frozen) {
          frozen = false;
          await sleep(ttlMs * 1.5);
        }
        return deps.provider.charge(request);
      },
    };
    const a = createPaymentHandler(
      async () => ({ ...deps, provider: stalling, lock: { ...deps.lock, extendEveryMs: 60_000 } }),
      logger,
    );
    const b = createPaymentHandler(async () => deps);
    const body = (idempotencyKey: string) => ({ orderId, amount: 990, currency: 'EUR', idempotencyKey });
    const first = a(httpEvent('POST', '/payments', 'POST /payments', body(keyA)), lambdaContext());
    await sleep(50);
    const second = await b(httpEvent('POST', '/payments', 'POST /payments', body(keyB)), lambdaContext());
    const stale = await first;

    // B took over after A's lease ran out, resumed A's recorded attempt (same provider key) and paid.
    expect(second.statusCode).toBe(409);
    const order = await data.order(orderId);
    expect(order).toMatchObject({ status: 'paid', paidKey: keyA });
    expect(await data.chargesFor(orderId)).toHaveLength(1);
    // A woke up and tried its fenced "mark paid": the fence rejected the stale token.
    const rejected = lines.find((l) => l.msg === 'payment lease lost; answering from the order state');
    expect(rejected).toBeDefined();
    expect((rejected!.error as { code: string }).code).toBe('STALE_TOKEN');
    expect(lines.some((l) => l.msg === 'order paid')).toBe(false);
    // A's caller still learns the truth: its key paid the order.
    expect(stale.statusCode).toBe(200);
    expect(JSON.parse(stale.body)).toMatchObject({ orderId, status: 'paid', idempotencyKey: keyA });
  });

  it('answers malformed input with a 4xx JSON error and changes nothing', async () => {
    const handler = createPaymentHandler(() => paymentDepsFromEnv(envFor(tables, store)));
    const orderId = uid('bad');
    await data.seedOrder(orderId, 100, 'EUR');
    const cases: Array<[unknown, number, string]> = [
      ['not json', 400, 'bad_request'],
      [{ orderId, amount: -1, currency: 'EUR', idempotencyKey: 'key-12345' }, 400, 'bad_request'],
      [{ orderId, amount: 100, currency: 'euro', idempotencyKey: 'key-12345' }, 400, 'bad_request'],
      [{ orderId, amount: 100, currency: 'EUR', idempotencyKey: 'short' }, 400, 'bad_request'],
      [{ orderId: '', amount: 100, currency: 'EUR', idempotencyKey: 'key-12345' }, 400, 'bad_request'],
      [{ orderId, amount: 101, currency: 'EUR', idempotencyKey: 'key-12345' }, 422, 'amount_mismatch'],
      [
        { orderId: uid('missing'), amount: 100, currency: 'EUR', idempotencyKey: 'key-12345' },
        404,
        'order_not_found',
      ],
    ];
    for (const [body, status, error] of cases) {
      const res = await handler(httpEvent('POST', '/payments', 'POST /payments', body), lambdaContext());
      expect(res.statusCode).toBe(status);
      expect(res.headers?.['content-type']).toBe('application/json');
      expect(JSON.parse(res.body)).toMatchObject({ error });
    }
    expect(await data.order(orderId)).toMatchObject({ status: 'pending' });
    expect(await data.chargesFor(orderId)).toHaveLength(0);
  });
});
