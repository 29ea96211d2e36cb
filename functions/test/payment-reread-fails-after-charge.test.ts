import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { lambdaContext, localDynamoDbClient } from '../local/index.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * README (payment table): 500 internal_error = "failed where no charge can have gone through"; step 4:
 * "if this write fails after the charge, the answer is 503 payment_outcome_unknown too".
 *
 * Interleaving: claim ok -> provider charges -> "mark paid" is applied but its answer is lost (the SDK
 * resends it; the resend's own condition refuses it: ConditionalCheckFailed) -> pay() takes the
 * "overtaken" branch and re-reads the order -> that GetItem fails (DynamoDB throttling past the SDK's
 * retries: the same blip that ate the answer) -> the error escapes pay() and the handler answers
 * 500 internal_error, although the charge went through (and here the order is even paid).
 */

const setup = useLocalSetup(['dynamodb']);

function flakyOrdersDb(ordersTable: string, markPaid: 'lost' | 'pause' = 'lost', pauseMs = 0) {
  const client = localDynamoDbClient(setup.endpoints);
  let updates = 0;
  let lost = false;
  const isOrders = (args: unknown) =>
    (args as { input?: { TableName?: string } }).input?.TableName === ordersTable;
  // The 2nd UpdateItem on the orders table ("mark paid"): applied, answer lost inside the retry loop
  // ('lost'), or sent only after `pauseMs` ('pause': the lease runs out meanwhile; nobody else comes).
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const hit = context.commandName === 'UpdateItemCommand' && isOrders(args) && ++updates === 2;
      if (hit && markPaid === 'pause') await new Promise((r) => setTimeout(r, pauseMs));
      const out = await next(args);
      if (hit) {
        lost = true;
        if (markPaid === 'lost')
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
      }
      return out;
    },
    { step: 'deserialize', name: 'reviewLostMarkPaid' },
  );
  // Every GetItem on the orders table after that: throttled past the SDK's retries.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (lost && context.commandName === 'GetItemCommand' && isOrders(args)) {
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ProvisionedThroughputExceededException',
          $metadata: { attempts: 3 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'reviewThrottledReads' },
  );
  return DynamoDBDocumentClient.from(client);
}

describe('payment: charged, "mark paid" answer lost, then the re-read fails', () => {
  it('answers 503 payment_outcome_unknown (not 500 "no charge can have gone through")', async () => {
    const handler = paymentHandlerOn(setup, (d) => ({ ...d, db: flakyOrdersDb(setup.tables.orders) }));
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const res = await handler(payEvent(orderId, key), lambdaContext());
    // The customer was charged, and the order is paid with this very key.
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
    expect({ status: res.statusCode, error: JSON.parse(res.body).error }).toEqual({
      status: 503,
      error: 'payment_outcome_unknown',
    });
  });

  it('a payment completed after its lease ran out (LockLostError from withLock) is not answered 500 either', async () => {
    const ttlMs = 300;
    const handler = paymentHandlerOn(
      setup,
      (d) => ({ ...d, db: flakyOrdersDb(setup.tables.orders, 'pause', ttlMs * 2) }),
      { lock: { ttlMs, extendEveryMs: 60_000 } },
    );
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const res = await handler(payEvent(orderId, key), lambdaContext());
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
    // Charged and paid with this key: 200 (or at worst 503 payment_outcome_unknown), never 500.
    expect(res.statusCode).not.toBe(500);
  });
});
