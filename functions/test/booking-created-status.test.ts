import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingDeps } from '../booking/booking-service.js';
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
import type { LockSettings } from '../shared/lock-store.js';
import { type LocalSetup, quiet, startLocalSetup, uid } from './support/local-setup.js';

/**
 * README: a new booking is answered 201; only "the same user's retry gets their booking back (200)".
 * A client that confirms a booking (an e-mail, a receipt) on 201 must get 201 for the request that made
 * the booking, also when the booking write's answer was lost and the SDK resent it, or when the lease
 * ran out while the write was in flight: the seat then holds this very request's booking.
 */

let setup: LocalSetup;
let endpoints: LocalEndpoints;
let tables: LocalTables;
let data: LocalData;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  setup = await startLocalSetup(['dynamodb']);
  ({ endpoints, tables, data } = setup);
}, 120_000);

afterAll(async () => {
  await setup?.stop();
});

const bookEvent = (eventId: string, seatId: string, userId: string) =>
  httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId, userId });

const handler = (wrap: (d: BookingDeps) => BookingDeps, lock: Partial<LockSettings> = {}) =>
  createBookingHandler(async () => {
    const deps = await bookingDepsFromEnv(localFunctionEnv(endpoints, tables, 'dynamodb'));
    return wrap({ ...deps, lock: { ...deps.lock, ...lock } });
  }, quiet);

/**
 * A document client whose first UpdateItem on the seats table is `fault`: 'lost', applied with its
 * answer lost inside the SDK's retry loop (the SDK resends it); 'slow', held back `ms` before it is sent.
 */
function seatsDb(fault: 'lost' | 'slow', ms = 0) {
  const client = localDynamoDbClient(endpoints);
  let seen = 0;
  const first = (context: { commandName?: string }, args: unknown) =>
    context.commandName === 'UpdateItemCommand' &&
    (args as { input?: { TableName?: string } }).input?.TableName === tables.seats &&
    ++seen === 1;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (fault === 'slow') {
        if (first(context, args)) await sleep(ms);
        return next(args);
      }
      const out = await next(args);
      if (first(context, args)) {
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
      }
      return out;
    },
    { step: fault === 'lost' ? 'deserialize' : 'initialize', name: 'seatFault' } as { step: 'initialize' },
  );
  return DynamoDBDocumentClient.from(client);
}

describe('booking: the request that made the booking', () => {
  it('is answered 201 when its write was applied but unanswered (the SDK resent it)', async () => {
    const book = handler((d) => ({ ...d, db: seatsDb('lost') }));
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    const [seat] = await data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
    expect(res.statusCode).toBe(201);
    // A real retry of the same user afterwards is the 200 replay, with the same booking.
    const retry = await handler((d) => d)(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(retry.statusCode).toBe(200);
    expect(JSON.parse(retry.body)).toMatchObject({ bookingId: seat?.bookingId });
  });

  it('is answered 201 when its lease ran out while the write was in flight, nobody else came', async () => {
    const ttlMs = 300;
    // No extension in time (a hard TTL bound), and the write is sent only after the lease ran out.
    const book = handler((d) => ({ ...d, db: seatsDb('slow', ttlMs * 2) }), { ttlMs, extendEveryMs: 60_000 });
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    const [seat] = await data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
    expect(res.statusCode).toBe(201);
  });
});
