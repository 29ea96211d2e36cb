import { createLocker } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { describe, expect, it } from 'vitest';
import { seatLockKey } from '../booking/booking-service.js';
import { lambdaContext, localDynamoDbClient } from '../local/index.js';
import { bookEvent, bookingHandlerOn } from './support/handlers.js';
import { uid, useLocalSetup } from './support/local-setup.js';

/**
 * Ids may hold `:`. Joined with `:`, event `x:y` seat `z` and event `x` seat `y:z` would share one lock:
 * a booking of one would wait on the other's holder and answer 409 booking_in_progress.
 */

const setup = useLocalSetup(['dynamodb']);

describe('booking: seat lock keys', () => {
  it('are one per seat, also when ids hold ":"', () => {
    expect(seatLockKey('x:y', 'z')).not.toBe(seatLockKey('x', 'y:z'));
    expect(seatLockKey('gig-42', 'A:12')).toBe('booking:gig-42/A:12');
  });

  it('let a seat be booked while another seat whose ids join alike is locked', async () => {
    const base = uid('event');
    const [heldEvent, heldSeat, freeEvent, freeSeat] = [`${base}:y`, 'z', base, 'y:z'];
    await setup.data.seedSeats(heldEvent, [heldSeat]);
    await setup.data.seedSeats(freeEvent, [freeSeat]);
    const client = localDynamoDbClient(setup.endpoints);
    const locker = createLocker({ store: dynamoDbStore({ client, tableName: setup.tables.locks }) });
    const held = await locker.acquire(seatLockKey(heldEvent, heldSeat), { ttlMs: 10_000 });
    try {
      const impatient = bookingHandlerOn(setup, undefined, { lock: { waitMs: 100 } });
      const res = await impatient(bookEvent(freeEvent, freeSeat, 'alice'), lambdaContext());
      expect(res.statusCode).toBe(201);
      expect(await setup.data.seats(freeEvent)).toMatchObject([{ seatId: freeSeat, status: 'booked' }]);
    } finally {
      await held.release();
      client.destroy();
    }
  });
});
