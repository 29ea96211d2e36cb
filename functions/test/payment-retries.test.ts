import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { lambdaContext, localDynamoDbClient } from '../local/index.js';
import { ChargeDeclinedError, type PaymentProvider } from '../payment/provider.js';
import { faultyDocumentClient } from './support/faults.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

const setup = useLocalSetup(['dynamodb']);

/** Pays `orderId` with a new key named `label`; it must be paid, with exactly one charge. Returns the key. */
async function expectPaidOnce(handler: ReturnType<typeof paymentHandlerOn>, orderId: string, label: string) {
  const key = uid(label);
  const res = await handler(payEvent(orderId, key), lambdaContext());
  expect(JSON.parse(res.body)).toMatchObject({ status: 'paid', idempotencyKey: key });
  expect(res.statusCode).toBe(200);
  expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  return key;
}

describe('payment: a charge refused for a reused key', () => {
  it('answers 422 and leaves the order payable with a fresh key', async () => {
    const handler = paymentHandlerOn(setup);
    const orderA = uid('order-a');
    const orderB = uid('order-b');
    await setup.data.seedOrder(orderA, 1_000, 'EUR');
    await setup.data.seedOrder(orderB, 1_000, 'EUR');
    const shared = uid('key-shared');

    expect((await handler(payEvent(orderA, shared), lambdaContext())).statusCode).toBe(200);
    // The same key for another order is refused (README: "a reused idempotency key for another payment 422").
    const reused = await handler(payEvent(orderB, shared), lambdaContext());
    expect(reused.statusCode).toBe(422);
    expect(JSON.parse(reused.body)).toMatchObject({ error: 'idempotency_key_reused' });
    // Nothing was charged for B, so B must still be payable: the refused attempt (whose key the
    // provider will refuse forever) must not stay recorded as the attempt every later request resumes.
    expect(await setup.data.chargesFor(orderB)).toHaveLength(0);

    // The customer pays B with a brand-new key: that must succeed and charge B exactly once.
    await expectPaidOnce(handler, orderB, 'key-fresh');
  });
});

describe('payment: a resumed attempt whose key the provider refuses', () => {
  it('is undone, and the request pays with its own key', async () => {
    const handler = paymentHandlerOn(setup);
    const orderA = uid('order-a');
    const orderB = uid('order-b');
    await setup.data.seedOrder(orderA, 1_000, 'EUR');
    await setup.data.seedOrder(orderB, 1_000, 'EUR');
    const taken = uid('key-a');
    expect((await handler(payEvent(orderA, taken), lambdaContext())).statusCode).toBe(200);
    // B was claimed with A's key by a request that stopped right after its claim (a crash, a timeout).
    const db = DynamoDBDocumentClient.from(localDynamoDbClient(setup.endpoints));
    await db.send(
      new UpdateCommand({
        TableName: setup.tables.orders,
        Key: { orderId: orderB },
        UpdateExpression: 'SET #status = :charging, attemptKey = :key',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':charging': 'charging', ':key': taken },
      }),
    );
    db.destroy();
    await expectPaidOnce(handler, orderB, 'key-b');
    expect(await setup.data.chargesFor(orderA)).toHaveLength(1);
  });
});

/** A document client whose `nth` UpdateItem on `table` is applied but its answer is lost (the SDK retries). */
const lossyDb = (table: string, nth = 1) =>
  faultyDocumentClient(setup.endpoints, table, { fault: 'lost', nth });

describe('payment: an order write applied but unanswered (the SDK resends it)', () => {
  // UpdateItem 1 on the orders table is the fenced claim, 2 the "mark paid". It is applied, its answer
  // is lost, and the AWS SDK resends it, as it does after a connection reset. Nobody else touches the
  // order: the resend of our own write is recognised and the payment completes in this request.
  for (const [nth, write] of [
    [1, 'claim'],
    [2, '"mark paid"'],
  ] as const) {
    it(`still answers 200 and charges once when it is the ${write}`, async () => {
      const handler = paymentHandlerOn(setup, (d) => ({ ...d, db: lossyDb(setup.tables.orders, nth) }));
      const orderId = uid('order-retry-write');
      await setup.data.seedOrder(orderId, 1_000, 'EUR');
      const key = uid('key');
      const res = await handler(payEvent(orderId, key), lambdaContext());
      expect(JSON.parse(res.body)).toMatchObject({ status: 'paid', idempotencyKey: key });
      expect(res.statusCode).toBe(200);
      expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
      expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
    });
  }
});

/**
 * A provider that declines while the customer's card is refused, as a PSP does: idempotent by key, so a
 * key it declined is declined again (nothing was charged with it); otherwise the local provider charges.
 */
function decliningProvider(card: { ok: boolean }) {
  const declined = new Set<string>();
  return (inner: PaymentProvider): PaymentProvider => ({
    async charge(request, signal) {
      if (!card.ok) declined.add(request.idempotencyKey);
      if (declined.has(request.idempotencyKey)) throw new ChargeDeclinedError();
      return inner.charge(request, signal);
    },
  });
}

describe('payment: a declined charge', () => {
  it('answers 402 and leaves the order payable with a new key', async () => {
    const card = { ok: false };
    const declining = decliningProvider(card);
    const handler = paymentHandlerOn(setup, (d) => ({ ...d, provider: declining(d.provider) }));
    const orderId = uid('order-declined');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const first = uid('key-first');
    const declined = await handler(payEvent(orderId, first), lambdaContext());
    expect(JSON.parse(declined.body)).toMatchObject({ error: 'payment_declined' });
    expect(declined.statusCode).toBe(402);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'pending' });
    // The same key again: the provider declines it again (nothing was charged), still 402.
    expect((await handler(payEvent(orderId, first), lambdaContext())).statusCode).toBe(402);

    // The customer fixes the card and pays again with a new key: it must go through, charged once.
    card.ok = true;
    await expectPaidOnce(handler, orderId, 'key-second');
    expect((await handler(payEvent(orderId, first), lambdaContext())).statusCode).toBe(409);
  });

  it('left in charging by a crashed request is given up, and the next request pays with its own key', async () => {
    const card = { ok: false };
    const declining = decliningProvider(card);
    const handler = paymentHandlerOn(setup, (d) => ({ ...d, provider: declining(d.provider) }));
    const orderId = uid('order-declined-crash');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const first = uid('key-first');
    // The first request's charge is declined, and it crashes before it can say so (its claim stays).
    const crashing = paymentHandlerOn(setup, (d) => {
      const inner = declining(d.provider);
      return {
        ...d,
        provider: {
          async charge(request, signal) {
            await inner.charge(request, signal).catch(() => undefined);
            throw new Error('the function crashed');
          },
        },
      };
    });
    // Whatever the provider call ends with, short of a definite refusal, may have charged.
    const crashed = await crashing(payEvent(orderId, first), lambdaContext());
    expect(JSON.parse(crashed.body)).toMatchObject({ error: 'payment_outcome_unknown' });
    expect(crashed.statusCode).toBe(503);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'charging', attemptKey: first });

    card.ok = true;
    await expectPaidOnce(handler, orderId, 'key-second');
  });
});

describe('payment: an undone claim applied but unanswered (the SDK resends the undo)', () => {
  it('still answers the refusal, and the order stays payable', async () => {
    // The second UpdateItem on the orders table (the undo after the refusal) is applied, its answer is
    // lost, and the AWS SDK resends it.
    const card = { ok: false };
    const declining = decliningProvider(card);
    const handler = paymentHandlerOn(setup, (d) => ({
      ...d,
      db: lossyDb(setup.tables.orders, 2),
      provider: declining(d.provider),
    }));
    const orderId = uid('order-retry-undo');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const res = await handler(payEvent(orderId, uid('key')), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({ error: 'payment_declined' });
    expect(res.statusCode).toBe(402);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'pending' });
  });
});
