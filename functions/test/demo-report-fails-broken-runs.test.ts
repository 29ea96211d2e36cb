import { describe, expect, it } from 'vitest';
import { type RunReport, renderReport, summarize, violations } from '../demo/report.js';
import { doubleBookedSeats, isRetryable, percentile } from '../local/storms.js';
import { json } from '../shared/http.js';

const safe: RunReport = {
  store: 'dynamodb',
  invocations: 711,
  orders: 8,
  chargesPerOrder: [1, 1, 1, 1, 1, 1, 1, 1],
  unpaidOrders: 0,
  replayMismatches: 0,
  unexpectedAnswers: 0,
  unsettledAnswers: 0,
  seats: 20,
  seatsBooked: 20,
  doubleBookings: 0,
  frozenHolders: 3,
  staleWritesRejected: 3,
  staleWritesAccepted: 0,
  acquireLatenciesMs: [1, 2, 3],
  contendedAcquisitions: 2,
  acquisitions: 3,
  storeContention: { payment: 40, booking: 60 },
  seconds: 1,
};

describe('the demo report judges a run', () => {
  it('passes a safe run', () => {
    expect(violations(safe)).toEqual([]);
  });

  it.each<[string, Partial<RunReport>]>([
    ['a doubled charge', { chargesPerOrder: [1, 1, 2, 1, 1, 1, 1, 1] }],
    ['an order never charged', { chargesPerOrder: [1, 1, 0, 1, 1, 1, 1, 1] }],
    ['an order whose charges were not counted', { chargesPerOrder: [1, 1, 1, 1, 1, 1, 1] }],
    ['no orders at all', { orders: 0, chargesPerOrder: [] }],
    ['an order not marked paid', { unpaidOrders: 1 }],
    ['replies to one idempotency key that disagree', { replayMismatches: 1 }],
    ['a wrong answer to a client', { unexpectedAnswers: 1 }],
    ['a seat sold twice', { doubleBookings: 1 }],
    ['a seat left unsold', { seatsBooked: 19 }],
    ['no seats put up', { seats: 0, seatsBooked: 0 }],
    ['a stale write accepted', { staleWritesAccepted: 1, staleWritesRejected: 2 }],
    ['a stale write neither rejected nor seen', { staleWritesRejected: 2 }],
    ['zero frozen holders (0/0 is no evidence)', { frozenHolders: 0, staleWritesRejected: 0 }],
    ['a payment storm that never contended in the store', { storeContention: { payment: 0, booking: 5 } }],
    ['a booking storm that never contended in the store', { storeContention: { payment: 5, booking: 0 } }],
  ])('fails a run with %s', (_, patch) => {
    expect(violations({ ...safe, ...patch }).length).toBeGreaterThan(0);
  });

  it('does not fail a run only because some requests still said "retry" at the end', () => {
    expect(violations({ ...safe, unsettledAnswers: 3 })).toEqual([]);
  });

  it('names the store and the count in what broke', () => {
    expect(violations({ ...safe, store: 'upstash', doubleBookings: 2 })).toEqual([
      'upstash: 2 seat(s) double-booked',
    ]);
  });
});

describe('the demo report prints', () => {
  it('"1 each" only when every order was charged once', () => {
    expect(summarize([1, 1, 1])).toBe('1 each');
    expect(summarize([1, 2, 1])).toBe('1..2');
    expect(summarize([0, 1])).toBe('0..1');
    expect(summarize([])).toBe('none');
  });

  it('contention as contended over all acquisitions, and nearest-rank p50/p99 of the waits', () => {
    const waits = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 ms
    const out = renderReport([
      { ...safe, acquireLatenciesMs: waits, contendedAcquisitions: 37, acquisitions: 100 },
    ]);
    const row = out.split('\n')[2]!;
    expect(row).toMatch(/\b50 ms\s+99 ms\s+37%/);
    expect(row).toContain('1 each');
    expect(row).toContain('20/20');
    expect(row).toContain('3/3');
  });

  it('a doubled charge, not "1 each"', () => {
    const out = renderReport([{ ...safe, chargesPerOrder: [1, 2, 1, 1, 1, 1, 1, 1] }]);
    expect(out).not.toContain('1 each');
    expect(out).toContain('1..2');
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2);
    expect(percentile([4, 1, 3, 2], 99)).toBe(4);
  });
});

describe('the booking storm counts a seat sold twice', () => {
  const booked = (seatId: string, userId: string) => ({ seatId, userId, status: 'booked' });
  const answer = (seatId: string, userId: string, statusCode: number) => ({ seatId, userId, statusCode });

  it('not when each seat was told to its one holder (a retry may repeat the 200)', () => {
    const answers = [
      answer('s1', 'u0', 201),
      answer('s1', 'u0', 200),
      answer('s1', 'u1', 409),
      answer('s2', 'u2', 201),
    ];
    expect(doubleBookedSeats(answers, [booked('s1', 'u0'), booked('s2', 'u2')])).toBe(0);
  });

  it('when two users were told the seat is theirs', () => {
    expect(doubleBookedSeats([answer('s1', 'u0', 201), answer('s1', 'u1', 201)], [booked('s1', 'u1')])).toBe(
      1,
    );
  });

  it('when one seat was booked (201) twice, even for the same user', () => {
    expect(doubleBookedSeats([answer('s1', 'u0', 201), answer('s1', 'u0', 201)], [booked('s1', 'u0')])).toBe(
      1,
    );
  });

  it('when the table holds someone other than the user told', () => {
    expect(doubleBookedSeats([answer('s1', 'u0', 201)], [booked('s1', 'u1')])).toBe(1);
  });

  it('when a user was told a seat the table shows as free', () => {
    expect(
      doubleBookedSeats([answer('s1', 'u0', 201)], [{ seatId: 's1', status: 'available', userId: 'u0' }]),
    ).toBe(1);
  });
});

describe('the storms retry', () => {
  it('the answers that say "retry", and only those', () => {
    const error = (status: number, code: string) => json(status, { error: code, message: '' });
    expect(isRetryable(error(500, 'internal_error'))).toBe(true);
    expect(isRetryable(error(503, 'lock_store_unavailable'))).toBe(true);
    expect(isRetryable(error(409, 'payment_in_progress'))).toBe(true);
    expect(isRetryable(error(409, 'booking_in_progress'))).toBe(true);
    expect(isRetryable(error(409, 'order_already_paid'))).toBe(false);
    expect(isRetryable(error(409, 'seat_taken'))).toBe(false);
    expect(isRetryable(json(200, { status: 'paid' }))).toBe(false);
  });
});
