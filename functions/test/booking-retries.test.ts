import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { BookingDeps } from '../booking/booking-service.js';
import { bookingDepsFromEnv, createBookingHandler } from '../booking/handler.js';
import {
  httpEvent,
  LocalData,
  type LockStoreKind,
  lambdaContext,
  localDynamoDbClient,
} from '../local/index.js';
import type { LockSettings } from '../shared/lock-store.js';
import { createLogger } from '../shared/logger.js';
import { exampleTableDefinitions } from '../shared/tables.js';
import { faultyDocumentClient, type UpdateFault } from './support/faults.js';
import { bookEvent, bookingHandlerOn } from './support/handlers.js';
import { sleep, uid, useLocalSetup } from './support/local-setup.js';

const setup = useLocalSetup(['dynamodb', 'upstash']);

/** A document client whose first UpdateItem on the seats table is `fault`ed (see UpdateFault). */
const faultyDb = (fault: UpdateFault, pauseMs = 0) =>
  faultyDocumentClient(setup.endpoints, setup.tables.seats, { fault, ms: pauseMs });

describe.each(['dynamodb', 'upstash'] as LockStoreKind[])('booking with the %s lock store', (store) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({}, 'debug', (line) => lines.push(JSON.parse(line)));
  const handler = (wrap?: (d: BookingDeps) => BookingDeps, lock: Partial<LockSettings> = {}) =>
    bookingHandlerOn(setup, wrap, { lock, store, logger });

  it("a booking write applied but unanswered (the SDK resends it) is the user's booking", async () => {
    const book = handler((d) => ({ ...d, db: faultyDb('lost') }));
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect([200, 201]).toContain(res.statusCode);
    const [seat] = await setup.data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
  });

  it('a crash after the write: the retry gets the same booking, anyone else 409', async () => {
    const crashing = handler((d) => ({ ...d, db: faultyDb('crash') }));
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const failed = await crashing(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(failed.statusCode).toBe(500);
    expect(failed.body).not.toContain('socket');
    const book = handler();
    const retry = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(retry.statusCode).toBe(200);
    const [seat] = await setup.data.seats(eventId);
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
    await setup.data.seedSeats(eventId, ['s1']);
    const first = frozen(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    await sleep(50);
    const takeover = await other(bookEvent(eventId, 's1', 'bob'), lambdaContext());
    const late = await first;
    expect(takeover.statusCode).toBe(201);
    expect(late.statusCode).toBe(409);
    expect(JSON.parse(late.body)).toMatchObject({ error: 'seat_taken' });
    const [seat] = await setup.data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'bob' });
    const refused = lines.find(
      (l) => l.msg === 'booking overtaken; answering from the seat state' && l.eventId === eventId,
    );
    expect((refused?.error as { code?: string } | undefined)?.code).toBe('STALE_TOKEN');
  });

  it('different users racing for one seat: exactly one gets it', async () => {
    const book = handler();
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const users = Array.from({ length: 8 }, (_, i) => `user${i}`);
    const answers = await Promise.all(users.map((u) => book(bookEvent(eventId, 's1', u), lambdaContext())));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(1);
    for (const a of answers) expect([201, 409]).toContain(a.statusCode);
    const winner = JSON.parse(answers.find((a) => a.statusCode === 201)!.body).userId;
    expect((await setup.data.seats(eventId))[0]).toMatchObject({ status: 'booked', userId: winner });
  });

  it('a lock store outage is a 503, never a booking or "seat taken", and changes nothing', async () => {
    const env = setup.functionEnv(store);
    if (store === 'upstash') env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:1';
    else env.LOCK_TABLE_NAME = 'no-such-lock-table';
    const book = createBookingHandler(() => bookingDepsFromEnv(env), logger);
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'lock_store_unavailable' });
    expect(await setup.data.seats(eventId)).toEqual([{ eventId, seatId: 's1', status: 'available' }]);
  });
});

/**
 * A document client whose eventually consistent Query on the seats table is answered by `replica`: a
 * copy of the seats that has not seen the latest writes yet, as a DynamoDB replica may answer such a
 * read right after a write. Strongly consistent reads and every write go to the seats table itself.
 */
function laggingReplicaDb(replica: string) {
  const client = localDynamoDbClient(setup.endpoints);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input?: { TableName?: string; ConsistentRead?: boolean } }).input;
      if (
        context.commandName === 'QueryCommand' &&
        input?.TableName === setup.tables.seats &&
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
    const replica = `${setup.tables.seats}-replica`;
    const client = localDynamoDbClient(setup.endpoints);
    const [definition] = exampleTableDefinitions({
      orders: 'unused',
      charges: 'unused',
      seats: replica,
    }).filter((t) => t.TableName === replica);
    await client.send(new CreateTableCommand(definition!));
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: replica });
    client.destroy();
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1', 's2']);
    // The replica has the seats as seeded, and never sees the booking below.
    const replicaData = new LocalData(setup.endpoints, { ...setup.tables, seats: replica });
    await replicaData.seedSeats(eventId, ['s1', 's2']);
    replicaData.close();
    const handler = bookingHandlerOn(setup, (deps) => ({ ...deps, db: laggingReplicaDb(replica) }));

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
