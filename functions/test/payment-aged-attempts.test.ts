import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { lambdaContext, localDynamoDbClient } from '../local/index.js';
import { readProviderKeyRetentionMs } from '../payment/handler.js';
import type { ChargeRequest } from '../payment/provider.js';
import { ConfigError } from '../shared/lock-store.js';
import { createLogger } from '../shared/logger.js';
import { payEvent, paymentHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * Real providers forget idempotency keys after a while (Stripe: 24 h). An attempt left in `charging`
 * longer than that may have charged, and resuming its key could charge again: it is not resumed, but
 * answered `409 payment_needs_reconciliation` and logged at error level. Each claim records when its
 * attempt started (`attemptStartedAt`); an attempt written before that field existed is resumed as before.
 */

const setup = useLocalSetup(['dynamodb']);
const HOUR = 3_600_000;

/** A payment handler whose provider calls are recorded (and fail with an unknown outcome while `failing`). */
function paymentHandler(env: Record<string, string> = {}, failing = { now: false }) {
  const calls: ChargeRequest[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const handler = paymentHandlerOn(
    setup,
    (deps) => ({
      ...deps,
      provider: {
        async charge(request, signal) {
          calls.push(request);
          if (failing.now) throw new Error('the provider timed out');
          return deps.provider.charge(request, signal);
        },
      },
    }),
    { env, logger: createLogger({}, 'debug', (line) => lines.push(JSON.parse(line))) },
  );
  return { handler, calls, lines };
}

/** An order left in `charging` with `attemptKey`, started `ageMs` ago (no start time at all: undefined). */
async function seedCharging(orderId: string, attemptKey: string, ageMs: number | undefined) {
  await setup.data.db.send(
    new PutCommand({
      TableName: setup.tables.orders,
      Item: {
        orderId,
        amount: 1_000,
        currency: 'EUR',
        status: 'charging',
        attemptKey,
        ...(ageMs === undefined ? {} : { attemptStartedAt: new Date(Date.now() - ageMs).toISOString() }),
      },
    }),
  );
}

describe('payment: the claim of an attempt', () => {
  it('records when the attempt started, and a resume keeps that time', async () => {
    const failing = { now: true };
    const { handler } = paymentHandler({}, failing);
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const before = Date.now();
    expect((await handler(payEvent(orderId, key), lambdaContext())).statusCode).toBe(503);
    const after = Date.now();
    const claimed = await setup.data.order(orderId);
    expect(claimed).toMatchObject({ status: 'charging', attemptKey: key });
    const startedAt = claimed?.attemptStartedAt as string;
    expect(typeof startedAt).toBe('string');
    expect(new Date(startedAt).toISOString()).toBe(startedAt);
    expect(Date.parse(startedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(startedAt)).toBeLessThanOrEqual(after);

    // Resumed (by another key, and the attempt's own): the attempt is as old as its first claim.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await handler(payEvent(orderId, uid('key-other')), lambdaContext())).statusCode).toBe(503);
    expect(await setup.data.order(orderId)).toMatchObject({ attemptKey: key, attemptStartedAt: startedAt });
    failing.now = false;
    expect((await handler(payEvent(orderId, key), lambdaContext())).statusCode).toBe(200);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });

  it('a resume keeps that time also when an earlier holder undid the claim between the read and the resume', async () => {
    const orderId = uid('order');
    const key = uid('key');
    await seedCharging(orderId, key, HOUR);
    const { attemptStartedAt } = (await setup.data.order(orderId)) ?? {};
    // Right before the resume's claim, an earlier holder's undo (its charge refused) lands: pending again.
    const client = localDynamoDbClient(setup.endpoints);
    let undone = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = (args as { input?: { TableName?: string } }).input;
        if (
          !undone &&
          context.commandName === 'UpdateItemCommand' &&
          input?.TableName === setup.tables.orders
        ) {
          undone = true;
          await setup.data.db.send(
            new UpdateCommand({
              TableName: setup.tables.orders,
              Key: { orderId },
              UpdateExpression: 'SET #status = :pending REMOVE attemptKey, attemptStartedAt',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':pending': 'pending' },
            }),
          );
        }
        return next(args);
      },
      { step: 'initialize', name: 'undoBeforeClaim' },
    );
    const failing = { now: true };
    const handler = paymentHandlerOn(setup, (deps) => ({
      ...deps,
      db: DynamoDBDocumentClient.from(client),
      provider: {
        async charge() {
          if (failing.now) throw new Error('the provider timed out');
          throw new Error('not reached');
        },
      },
    }));
    expect((await handler(payEvent(orderId, uid('key-other')), lambdaContext())).statusCode).toBe(503);
    expect(undone).toBe(true);
    expect(await setup.data.order(orderId)).toMatchObject({
      status: 'charging',
      attemptKey: key,
      attemptStartedAt,
    });
  });
});

describe('payment: an attempt left in charging', () => {
  it('older than the provider keeps idempotency keys (24 h) is not resumed: 409 payment_needs_reconciliation, logged at error level', async () => {
    const { handler, calls, lines } = paymentHandler();
    const orderId = uid('order');
    const key = uid('key');
    await seedCharging(orderId, key, 25 * HOUR);
    const order = await setup.data.order(orderId);

    for (const k of [key, uid('key-other')]) {
      const res = await handler(payEvent(orderId, k), lambdaContext());
      expect(JSON.parse(res.body)).toMatchObject({ error: 'payment_needs_reconciliation' });
      expect(JSON.parse(res.body)).not.toHaveProperty('retryAfterMs');
      expect(res.statusCode).toBe(409);
    }
    // Nothing was sent to the provider, nothing charged, the order left as it was for reconciliation.
    expect(calls).toHaveLength(0);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(0);
    expect(await setup.data.order(orderId)).toEqual(order);
    const logged = lines.filter(
      (l) => l.orderId === orderId && l.msg === 'charge attempt needs reconciliation',
    );
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({
      level: 'error',
      attemptStartedAt: order?.attemptStartedAt,
      providerKeyRetentionMs: 24 * HOUR,
    });
  });

  it('within the provider key retention is resumed with its key, charged once', async () => {
    const { handler, calls } = paymentHandler();
    const orderId = uid('order');
    const key = uid('key');
    await seedCharging(orderId, key, 23 * HOUR);
    const res = await handler(payEvent(orderId, uid('key-other')), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({ error: 'order_already_paid' });
    expect(calls.map((c) => c.idempotencyKey)).toEqual([key]);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'paid', paidKey: key });
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });

  it('written before attempts recorded their start (no attemptStartedAt) is resumed as before', async () => {
    const { handler, calls } = paymentHandler();
    const orderId = uid('order');
    const key = uid('key');
    await seedCharging(orderId, key, undefined);
    const res = await handler(payEvent(orderId, key), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({ status: 'paid', idempotencyKey: key });
    expect(res.statusCode).toBe(200);
    expect(calls.map((c) => c.idempotencyKey)).toEqual([key]);
    expect(await setup.data.chargesFor(orderId)).toHaveLength(1);
  });

  it('is judged by PROVIDER_KEY_RETENTION_MS when set', async () => {
    const { handler, calls } = paymentHandler({ PROVIDER_KEY_RETENTION_MS: String(HOUR) });
    const orderId = uid('order');
    const key = uid('key');
    await seedCharging(orderId, key, 2 * HOUR);
    const res = await handler(payEvent(orderId, key), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({ error: 'payment_needs_reconciliation' });
    expect(calls).toHaveLength(0);
  });
});

describe('readProviderKeyRetentionMs', () => {
  it('defaults to 24 h, reads PROVIDER_KEY_RETENTION_MS, and rejects nonsense at cold start', () => {
    expect(readProviderKeyRetentionMs({})).toBe(24 * HOUR);
    expect(readProviderKeyRetentionMs({ PROVIDER_KEY_RETENTION_MS: '' })).toBe(24 * HOUR);
    expect(readProviderKeyRetentionMs({ PROVIDER_KEY_RETENTION_MS: String(7 * 24 * HOUR) })).toBe(
      7 * 24 * HOUR,
    );
    for (const bad of ['0', '-1', '1.5', '24h'])
      expect(() => readProviderKeyRetentionMs({ PROVIDER_KEY_RETENTION_MS: bad })).toThrow(ConfigError);
  });
});
