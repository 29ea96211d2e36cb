import { describe, expect, it } from 'vitest';
import { lambdaContext } from '../local/index.js';
import { faultyDocumentClient, type UpdateFault } from './support/faults.js';
import { bookEvent, bookingHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * README: a new booking is answered 201; only "the same user's retry gets their booking back (200)".
 * A client that confirms a booking (an e-mail, a receipt) on 201 must get 201 for the request that made
 * the booking, also when the booking write's answer was lost and the SDK resent it, or when the lease
 * ran out while the write was in flight: the seat then holds this very request's booking.
 */

const setup = useLocalSetup(['dynamodb']);

/** A document client whose first UpdateItem on the seats table is `fault`ed (see UpdateFault). */
const seatsDb = (fault: UpdateFault, ms = 0) =>
  faultyDocumentClient(setup.endpoints, setup.tables.seats, { fault, ms });

describe('booking: the request that made the booking', () => {
  it('is answered 201 when its write was applied but unanswered (the SDK resent it)', async () => {
    const book = bookingHandlerOn(setup, (d) => ({ ...d, db: seatsDb('lost') }));
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    const [seat] = await setup.data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
    expect(res.statusCode).toBe(201);
    // A real retry of the same user afterwards is the 200 replay, with the same booking.
    const retry = await bookingHandlerOn(setup)(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    expect(retry.statusCode).toBe(200);
    expect(JSON.parse(retry.body)).toMatchObject({ bookingId: seat?.bookingId });
  });

  it('is answered 201 when its lease ran out while the write was in flight, nobody else came', async () => {
    const ttlMs = 300;
    // No extension in time (a hard TTL bound), and the write is sent only after the lease ran out.
    const book = bookingHandlerOn(setup, (d) => ({ ...d, db: seatsDb('pause', ttlMs * 2) }), {
      lock: { ttlMs, extendEveryMs: 60_000 },
    });
    const eventId = uid('event');
    await setup.data.seedSeats(eventId, ['s1']);
    const res = await book(bookEvent(eventId, 's1', 'alice'), lambdaContext());
    const [seat] = await setup.data.seats(eventId);
    expect(seat).toMatchObject({ status: 'booked', userId: 'alice' });
    expect(JSON.parse(res.body)).toMatchObject({ userId: 'alice', bookingId: seat?.bookingId });
    expect(res.statusCode).toBe(201);
  });
});
