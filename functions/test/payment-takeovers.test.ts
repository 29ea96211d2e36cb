import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import { faultyDocumentClient } from './support/faults.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { sleep, uid, useLocalSetup } from './support/local-setup.js';

/**
 * Takeovers the other payment tests do not cover: one
 * idempotency key sent for two orders at once, an invocation whose Lambda deadline (shorter than the
 * lease TTL) ends mid-charge, and a holder frozen before its claim.
 */

const setup = useLocalSetup(['dynamodb']);

/** A document client whose `nth` UpdateItem on the orders table is `fault`ed (see UpdateFault). */
const ordersDb = (fault: 'lost' | 'pause', nth: number, pauseMs = 0) =>
  faultyDocumentClient(setup.endpoints, setup.tables.orders, { fault, nth, ms: pauseMs });

describe('payment: one idempotency key sent for two orders at once', () => {
  it('charges one order with it, refuses it for the other (422), which stays payable', async () => {
    const handler = paymentHandlerOn(setup);
    const [a, b] = [uid('order-a'), uid('order-b')];
    await setup.data.seedOrder(a, 1_000, 'EUR');
    await setup.data.seedOrder(b, 1_000, 'EUR');
    const key = uid('key');
    const answers = await Promise.all([a, b].map((o) => handler(payEvent(o, key), lambdaContext())));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 422]);
    const loser = answers[0]!.statusCode === 422 ? a : b;
    expect(JSON.parse(answers.find((r) => r.statusCode === 422)!.body)).toMatchObject({
      error: 'idempotency_key_reused',
    });
    expect(await setup.data.order(loser)).toMatchObject({ status: 'pending' });
    expect(await setup.data.chargesFor(loser)).toHaveLength(0);
    const fresh = await handler(payEvent(loser, uid('key-fresh')), lambdaContext());
    expect(fresh.statusCode).toBe(200);
    expect(await setup.data.chargesFor(a)).toHaveLength(1);
    expect(await setup.data.chargesFor(b)).toHaveLength(1);
  });
});

describe('payment: a Lambda deadline shorter than the lease TTL ends an invocation mid-charge', () => {
  it("lets the retry with the same key in at that deadline (not the TTL's), which answers 200 and charges once", async () => {
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    // The first invocation has 800 ms left, the TTL is 10 s; its provider call outlives the invocation.
    let stall = true;
    const first = paymentHandlerOn(setup, (d) => ({
      ...d,
      provider: {
        async charge(request, signal) {
          if (stall) {
            stall = false;
            await sleep(1_500);
          }
          return d.provider.charge(request, signal);
        },
      },
    }));
    const key = uid('key');
    const started = Date.now();
    const firstAnswer = first(payEvent(orderId, key), lambdaContext(800));
    await sleep(900);
    // The client's retry, on another instance: the lease ended with the first invocation.
    const retry = await paymentHandlerOn(setup)(payEvent(orderId, key), lambdaContext());
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(JSON.parse(retry.body)).toMatchObject({ status: 'paid', idempotencyKey: key });
    expect(retry.statusCode).toBe(200);
    // (On Lambda the first invocation is gone; here it runs on, and its late answer is the same.)
    const late = await firstAnswer;
    expect(late.statusCode).toBe(200);
    expect(late.body).toBe(retry.body);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });
});

describe('payment: a holder frozen past its lease before its claim', () => {
  it('is refused by the fence; the new holder pays with its own key, charged once', async () => {
    const ttlMs = 300;
    // UpdateItem 1 is the claim: sent only after the lease ran out (no extension in time).
    const frozen = paymentHandlerOn(setup, (d) => ({ ...d, db: ordersDb('pause', 1, ttlMs * 3) }), {
      lock: { ttlMs, extendEveryMs: 60_000 },
    });
    const other = paymentHandlerOn(setup, undefined, { lock: { ttlMs, waitMs: 5_000 } });
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const [k1, k2] = [uid('key-frozen'), uid('key-other')];
    const late = frozen(payEvent(orderId, k1), lambdaContext());
    await sleep(50);
    const takeover = await other(payEvent(orderId, k2), lambdaContext());
    expect(takeover.statusCode).toBe(200);
    expect(JSON.parse(takeover.body)).toMatchObject({ idempotencyKey: k2 });
    const answer = await late;
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'order_already_paid' });
    expect(answer.statusCode).toBe(409);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: k2 });
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });
});
