import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingDepsFromEnv, createBookingHandler } from '../../functions/booking/handler.js';
import { bookingStorm, httpEvent, type LocalData, lambdaContext } from '../../functions/local/index.js';
import { envFor, prepare, stores, uid } from '../support/harness.js';

let data: LocalData;
let tables: Awaited<ReturnType<typeof prepare>>['tables'];
beforeAll(async () => {
  ({ data, tables } = await prepare());
});
afterAll(() => data?.close());

describe.each(stores)('booking function with the %s lock store', (store) => {
  it('books 20 seats from 200 concurrent attempts and never sells a seat twice', async () => {
    const handler = createBookingHandler(() => bookingDepsFromEnv(envFor(tables, store)));
    const result = await bookingStorm(handler, data, { eventId: uid('event'), seats: 20, attempts: 200 });
    expect(result.booked).toBe(20);
    expect(result.doubleBooked).toBe(0);
    expect((result.statuses[201] ?? 0) + (result.statuses[200] ?? 0)).toBeGreaterThanOrEqual(20);
    expect(result.statuses[201]).toBe(20);
    for (const status of Object.keys(result.statuses)) expect(['200', '201', '409']).toContain(status);
  });

  it("returns the same user's booking on retry and 409 seat taken to anyone else", async () => {
    const handler = createBookingHandler(() => bookingDepsFromEnv(envFor(tables, store)));
    const eventId = uid('event');
    await data.seedSeats(eventId, ['a1', 'a2']);
    const book = (userId: string, seatId = 'a1') =>
      handler(httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId, userId }), lambdaContext());
    const first = await book('alice');
    expect(first.statusCode).toBe(201);
    const retry = await book('alice');
    expect(retry.statusCode).toBe(200);
    expect(JSON.parse(retry.body).bookingId).toBe(JSON.parse(first.body).bookingId);
    const other = await book('bob');
    expect(other.statusCode).toBe(409);
    expect(JSON.parse(other.body)).toMatchObject({ error: 'seat_taken' });
    const list = await handler(
      httpEvent('GET', `/events/${eventId}/seats`, 'GET /events/{eventId}/seats', undefined, { eventId }),
      lambdaContext(),
    );
    expect(list.statusCode).toBe(200);
    expect(JSON.parse(list.body)).toEqual({
      eventId,
      seats: [
        { seatId: 'a1', status: 'booked' },
        { seatId: 'a2', status: 'available' },
      ],
    });
    expect(list.body).not.toContain('alice');
  });

  it('answers malformed input and unknown seats with a 4xx JSON error', async () => {
    const handler = createBookingHandler(() => bookingDepsFromEnv(envFor(tables, store)));
    const eventId = uid('event');
    await data.seedSeats(eventId, ['b1']);
    const post = (body: unknown) =>
      handler(httpEvent('POST', '/bookings', 'POST /bookings', body), lambdaContext());
    expect((await post('{')).statusCode).toBe(400);
    expect((await post([1, 2])).statusCode).toBe(400);
    expect((await post({ eventId, seatId: 'b1' })).statusCode).toBe(400);
    expect((await post({ eventId, seatId: 'b 1', userId: 'u' })).statusCode).toBe(400);
    const unknown = await post({ eventId, seatId: 'zz', userId: 'u' });
    expect(unknown.statusCode).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: 'seat_not_found' });
    const seats = await data.seats(eventId);
    expect(seats).toEqual([{ eventId, seatId: 'b1', status: 'available' }]);
  });
});
