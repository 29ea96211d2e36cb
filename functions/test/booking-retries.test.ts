import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BookingDeps } from '../booking/booking-service.js';
import { bookingDepsFromEnv, createBookingHandler } from '../booking/handler.js';
import {
  httpEvent,
  LocalData,
  type LocalEndpoints,
  type LocalTables,
  type LockStoreKind,
  lambdaContext,
  localDynamoDbClient,
  localFunctionEnv,
} from '../local/index.js';
import type { LockSettings } from '../shared/lock-store.js';
import { createLogger } from '../shared/logger.js';
import { exampleTableDefinitions } from '../shared/tables.js';
import { type LocalSetup, startLocalSetup, uid } from './support/local-setup.js';

let setup: LocalSetup;
let endpoints: LocalEndpoints;
let tables: LocalTables;
let data: LocalData;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  setup = await startLocalSetup(['dynamodb', 'upstash']);
  ({ endpoints, tables, data } = setup);
}, 120_000);

afterAll(async () => {
  await setup?.stop();
});

const bookEvent = (eventId: string, seatId: string, userId: string) =>
  httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId, userId });

/**
 * A document client whose first UpdateItem on the seats table is applied, then `fault`: 'lost' loses its
 * answer inside the SDK's retry loop (the SDK resends it), 'crash' after it (the request fails), 'pause'
 * holds the request back `pauseMs` before sending it (a holder frozen before its write).
 */
function faultyDb(fault: 'lost' | 'crash' | 'pause', pauseMs = 0) {
  const { endpoint, region, credentials } = endpoints.dynamodb;
  const client = new DynamoDBClient({ endpoint, region, credentials });
  let seen = 0;
  const first = (context: { commandName?: string }, args: unknown) =>
    context.commandName === 'UpdateItemCommand' &&
    (args as { input?: { TableName?: string } }).input?.TableName === tables.seats &&
    ++seen === 1;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (fault === 'pause') {
        if (first(context, args)) await sleep(pauseMs);
        return next(args);
      }
      const out = await next(args);
      if (first(context, args)) {
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
      }
      return out;
    },
    // Inside the retry loop (deserialize) the SDK resends; outside it (initialize) the error is final.
    { step: fault === 'lost' ? 'deserialize' : 'initialize', name: 'seatFault' } as { step: 'initialize' },
  );
  return DynamoDBDocumentClient.from(client);
}

describe.each(['dynamodb', 'upstash'] as LockStoreKind[])('booking with the %s lock store', (store) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({}, 'debug', (line) => lines.push(JSON.parse(line)));
  const handler = (wrap: (d: BookingDeps) => BookingDeps = (d) => d, lock: Partial<LockSettings> = {}) =>
    createBookingHandler(async () => {
      const deps = await bookingDepsFromEnv(localFunctionEnv(endpoints, tables, store));
      return wrap({ ...deps, lock: { ...deps.lock, ...lock } });
    }, logger);

  it("a booking write applied but unanswered (the SDK resends it) is the user's booking", async () => {
    const book = handler((d) => ({ ...d, db: faultyDb('lost') }));
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect([200, 201]).toContain(res.statusCode);
    const [seat] = await data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
  });

  it('a crash after the write: the retry gets the same booking, anyone else 409', async () => {
    const crashing = handler((d) => ({ ...d, db: faultyDb('crash') }));
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const failed = await crashing(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(failed.statusCode).toBe(500);
    expect(failed.body).not.toContain('socket');
    const book = handler();
    const retry = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(retry.statusCode).toBe(200);
    const [seat] = await data.seats(eventId);
    expect(JSON.parse(retry.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
    const other = await book(bookEvent(eventId, 's1', 'bob'), lambdaContext());
    expect(other.statusCode).toBe(409);
    expect(JSON.parse(other.body)).toMatchObject({ error: 'seat_taken' });
  });

  it("a holder frozen past its lease before its write is refused by the seat's fence", async () => {
    const ttlMs = 300;
    const frozen = handler((d) => ({ ...d, db: faultyDb('pause', ttlMs * 2) }), {
      ttlMs,
      extendEveryMs: 60_000,
    });
    const other = handler(undefined, { ttlMs, waitMs: 5_000 });
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const first = frozen(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    await sleep(50);
    const takeover = await other(bookEvent(eventId, 's1', 'bob'), lambdaContext());
    const late = await first;
    expect(takeover.statusCode).toBe(201);
    expect(late.statusCode).toBe(409);
    expect(JSON.parse(late.body)).toMatchObject({ error: 'seat_taken' });
    const [seat] = await data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'bob' });
    const refused = lines.find(
      (l) => l.msg === 'booking overtaken; answering from the seat state' && l.eventId === eventId,
    );
    expect((refused?.error as { code?: string } | undefined)?.code).toBe('STALE_TOKEN');
  });

  it('different users racing for one seat: exactly one gets it', async () => {
    const book = handler();
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const users = Array.from({ length: 8 }, (_, i) => `user${i}`);
    const answers = await Promise.all(users.map((u) => book(bookEvent(eventId, 's1', u), lambdaContext())));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(1);
    for (const a of answers) expect([201, 409]).toContain(a.statusCode);
    const winner = JSON.parse(answers.find((a) => a.statusCode === 201)!.body).userId;
    expect((await data.seats(eventId))[0]).toMatchObject({ status: 'booked', userId: winner });
  });

  it('a lock store outage is a 503, never a booking or "seat taken", and changes nothing', async () => {
    const env = localFunctionEnv(endpoints, tables, store);
    if (store === 'upstash') env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:1';
    else env.LOCK_TABLE_NAME = 'no-such-lock-table';
    const book = createBookingHandler(() => bookingDepsFromEnv(env), logger);
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'lock_store_unavailable' });
    expect(await data.seats(eventId)).toEqual([{ eventId, seatId: 's1', status: 'available' }]);
  });
});

/**
 * A document client whose eventually consistent Query on the seats table is answered by `replica`: a
 * copy of the seats that has not seen the latest writes yet, as a DynamoDB replica may answer such a
 * read right after a write. Strongly consistent reads and every write go to the seats table itself.
 */
function laggingReplicaDb(replica: string) {
  const client = localDynamoDbClient(endpoints);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input?: { TableName?: string; ConsistentRead?: boolean } }).input;
      if (
        context.commandName === 'QueryCommand' &&
        input?.TableName === tables.seats &&
        !input.ConsistentRead
      ) {
        return next({ ...args, input: { ...input, TableName: replica } } as typeof args);
      }
      return next(args);
    },
    { step: 'initialize', name: 'laggingReplica' },
  );
  return DynamoDBDocumentClient.from(client);
}

describe('the seat list (GET /events/{eventId}/seats)', () => {
  it('shows a seat as booked once its booking was answered, even while replicas lag', async () => {
    const replica = `${tables.seats}-replica`;
    const client = localDynamoDbClient(endpoints);
    const [definition] = exampleTableDefinitions({
      orders: 'unused',
      charges: 'unused',
      seats: replica,
    }).filter((t) => t.TableName === replica);
    await client.send(new CreateTableCommand(definition!));
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: replica });
    client.destroy();
    const eventId = uid('event');
    await data.seedSeats(eventId, ['s1', 's2']);
    // The replica has the seats as seeded, and never sees the booking below.
    const replicaData = new LocalData(endpoints, { ...tables, seats: replica });
    await replicaData.seedSeats(eventId, ['s1', 's2']);
    replicaData.close();
    const handler = createBookingHandler(
      async () => {
        const deps = await bookingDepsFromEnv(localFunctionEnv(endpoints, tables, 'dynamodb'));
        return { ...deps, db: laggingReplicaDb(replica) };
      },
      createLogger({}, 'error', () => undefined),
    );

    const booked = await handler(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(booked.statusCode).toBe(201);
    // Alice was told the seat is hers: the list must not offer it to anyone as available.
    const list = await handler(
      httpEvent('GET', `/events/${eventId}/seats`, 'GET /events/{eventId}/seats', undefined, { eventId }),
      lambdaContext(),
    );
    expect(list.statusCode).toBe(200);
    expect(JSON.parse(list.body)).toEqual({
      eventId,
      seats: [
        { seatId: 's1', status: 'booked' },
        { seatId: 's2', status: 'available' },
      ],
    });
  });
});
