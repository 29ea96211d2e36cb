import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createLocker, LockTimeoutError } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingDepsFromEnv, createBookingHandler } from '../booking/handler.js';
import {
  httpEvent,
  type LocalData,
  type LocalEndpoints,
  type LocalTables,
  lambdaContext,
  localDynamoDbClient,
  localFunctionEnv,
} from '../local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../payment/handler.js';
import { lockFailureResponse } from '../shared/lock-errors.js';
import { type LocalSetup, quiet, startLocalSetup, uid } from './support/local-setup.js';

/**
 * What a client may retry is said the same way everywhere: a status that fits (409 for another
 * request at work, 503 for "not now"), a stable `error` code and `retryAfterMs`.
 */

let setup: LocalSetup;
let endpoints: LocalEndpoints;
let tables: LocalTables;
let data: LocalData;

beforeAll(async () => {
  setup = await startLocalSetup(['dynamodb']);
  ({ endpoints, tables, data } = setup);
}, 120_000);

afterAll(async () => {
  await setup?.stop();
});

const env = () => localFunctionEnv(endpoints, tables, 'dynamodb');
const paymentHandler = () => createPaymentHandler(() => paymentDepsFromEnv(env()), quiet);
const bookingHandler = () => createBookingHandler(() => bookingDepsFromEnv(env()), quiet);
const payEvent = (orderId: string, idempotencyKey: string) =>
  httpEvent('POST', '/payments', 'POST /payments', {
    orderId,
    amount: 1_000,
    currency: 'EUR',
    idempotencyKey,
  });
const bookEvent = (eventId: string, seatId: string, userId: string) =>
  httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId, userId });

/** An invocation with no time left for a lease: its deadline has come. */
const spentContext = () => lambdaContext(0);

describe('payment', () => {
  it('too close to the invocation deadline to try the lock: 503 deadline_too_close, retryable, nothing done', async () => {
    const orderId = uid('order');
    await data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const res = await paymentHandler()(payEvent(orderId, key), spentContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'deadline_too_close',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(503);
    expect(await data.order(orderId)).toMatchObject({ status: 'pending' });
    expect(await data.chargesFor(orderId)).toHaveLength(0);
    const retry = await paymentHandler()(payEvent(orderId, key), lambdaContext());
    expect(retry.statusCode).toBe(200);
  });

  it('a lock held by another request for the whole wait is still 409 payment_in_progress', async () => {
    const orderId = uid('order');
    await data.seedOrder(orderId, 1_000, 'EUR');
    const client = localDynamoDbClient(endpoints);
    const other = createLocker({ store: dynamoDbStore({ client, tableName: tables.locks }) });
    const lease = await other.acquire(`payment:${orderId}`, { ttlMs: 5_000 });
    try {
      const handler = createPaymentHandler(async () => {
        const deps = await paymentDepsFromEnv(env());
        return { ...deps, lock: { ...deps.lock, waitMs: 200 } };
      }, quiet);
      const res = await handler(payEvent(orderId, uid('key')), lambdaContext());
      expect(JSON.parse(res.body)).toMatchObject({
        error: 'payment_in_progress',
        retryAfterMs: expect.any(Number),
      });
      expect(res.statusCode).toBe(409);
    } finally {
      await lease.release();
      client.destroy();
    }
  });
});

describe('booking', () => {
  it('too close to the invocation deadline to try the lock: 503 deadline_too_close, retryable, nothing done', async () => {
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const res = await bookingHandler()(bookEvent(eventId, 's1', 'alice'), spentContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'deadline_too_close',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(503);
    expect(await data.seats(eventId)).toEqual([{ eventId, seatId: 's1', status: 'available' }]);
  });

  it('overtaken while the seat is still free: 409 booking_in_progress with retryAfterMs, like a lock wait that ran out', async () => {
    // The seat carries a fence newer than any token of this lock store (written under another store,
    // as after switching LOCK_STORE back): the booking write is refused as stale, and the seat is free.
    const eventId = uid('event');
    await data.db.send(
      new PutCommand({
        TableName: tables.seats,
        Item: { eventId, seatId: 's1', status: 'available', fence: Number.MAX_SAFE_INTEGER },
      }),
    );
    const res = await bookingHandler()(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'booking_in_progress',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(409);
    expect((await data.seats(eventId))[0]).toMatchObject({ status: 'available' });
  });
});

describe('lockFailureResponse', () => {
  it('tells a lock not tried for lack of time (503) from one held by another caller of this locker (409)', () => {
    const notTried = new LockTimeoutError('payment:o1', 0, 0, {}, 'deadline');
    expect(lockFailureResponse(notTried, quiet, 'payment')?.statusCode).toBe(503);
    const queuedHere = new LockTimeoutError('payment:o1', 3_000, 0, {}, 'held-here');
    const contended = lockFailureResponse(queuedHere, quiet, 'payment');
    expect(contended?.statusCode).toBe(409);
    expect(JSON.parse(contended!.body)).toMatchObject({ error: 'payment_in_progress' });
  });
});
