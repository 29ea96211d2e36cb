import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  frozenHolderScenario,
  httpEvent,
  type LocalData,
  lambdaContext,
  paymentStorm,
} from '../../functions/local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../../functions/payment/handler.js';
import { envFor, prepare, stores, uid } from '../support/harness.js';

let data: LocalData;
let tables: Awaited<ReturnType<typeof prepare>>['tables'];
beforeAll(async () => {
  ({ data, tables } = await prepare());
});
afterAll(() => data?.close());

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
    const deps = await paymentDepsFromEnv(envFor(tables, store));
    const result = await frozenHolderScenario(deps, data, uid('frozen'), 400);
    // B took over after A's lease ran out, resumed A's recorded attempt (same provider key) and paid.
    expect(result.takeover.statusCode).toBe(409);
    expect(result.order).toMatchObject({ status: 'paid', paidKey: result.keys.frozen });
    expect(result.charges).toBe(1);
    // A woke up and tried its fenced "mark paid": the fence rejected the stale token.
    expect(result.staleRejected).toBe(true);
    expect(result.staleAccepted).toBe(false);
    // A's caller still learns the truth: its key paid the order.
    expect(result.frozen.statusCode).toBe(200);
    expect(JSON.parse(result.frozen.body)).toMatchObject({
      orderId: result.orderId,
      status: 'paid',
      idempotencyKey: result.keys.frozen,
    });
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
