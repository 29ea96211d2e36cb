import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { createLocker, LockTimeoutError } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { describe, expect, it } from 'vitest';
import { lambdaContext, localDynamoDbClient } from '../local/index.js';
import { lockFailureResponse } from '../shared/lock-errors.js';
import { bookEvent, bookingHandlerOn, payEvent, paymentHandlerOn } from './support/handlers.js';
import { quiet, uid, useLocalSetup } from './support/local-setup.js';

/**
 * What a client may retry is said the same way everywhere: a status that fits (409 for another
 * request at work, 503 for "not now"), a stable `error` code and `retryAfterMs`.
 */

const setup = useLocalSetup(['dynamodb']);

/** An invocation with no time left for a lease: its deadline has come. */
const spentContext = () => lambdaContext(0);

describe('payment', () => {
  it('too close to the invocation deadline to try the lock: 503 deadline_too_close, retryable, nothing done', async () => {
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const key = uid('key');
    const res = await paymentHandlerOn(setup)(payEvent(orderId, key), spentContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'deadline_too_close',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(503);
    expect(await setup.data.order(orderId)).toMatchObject({ status: 'pending' });
    expect(await setup.data.chargesFor(orderId)).toHaveLength(0);
    const retry = await paymentHandlerOn(setup)(payEvent(orderId, key), lambdaContext());
    expect(retry.statusCode).toBe(200);
  });

  it('a lock held by another request for the whole wait is still 409 payment_in_progress', async () => {
    const orderId = uid('order');
    await setup.data.seedOrder(orderId, 1_000, 'EUR');
    const client = localDynamoDbClient(setup.endpoints);
    const other = createLocker({ store: dynamoDbStore({ client, tableName: setup.tables.locks }) });
    const lease = await other.acquire(`payment:${orderId}`, { ttlMs: 5_000 });
    try {
      const handler = paymentHandlerOn(setup, undefined, { lock: { waitMs: 200 } });
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
    await setup.data.seedSeats(eventId, ['s1']);
    const res = await bookingHandlerOn(setup)(bookEvent(eventId, 's1', 'alice'), spentContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'deadline_too_close',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(503);
    expect(await setup.data.seats(eventId)).toEqual([{ eventId, seatId: 's1', status: 'available' }]);
  });

  it('overtaken while the seat is still free: 409 booking_in_progress with retryAfterMs, like a lock wait that ran out', async () => {
    // The seat carries a fence newer than any token of this lock store (written under another store,
    // as after switching LOCK_STORE back): the booking write is refused as stale, and the seat is free.
    const eventId = uid('event');
    await setup.data.db.send(
      new PutCommand({
        TableName: setup.tables.seats,
        Item: { eventId, seatId: 's1', status: 'available', fence: Number.MAX_SAFE_INTEGER },
      }),
    );
    const res = await bookingHandlerOn(setup)(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'booking_in_progress',
      retryAfterMs: expect.any(Number),
    });
    expect(res.statusCode).toBe(409);
    expect((await setup.data.seats(eventId))[0]).toMatchObject({ status: 'available' });
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
