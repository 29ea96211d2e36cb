import { describe, expect, it } from 'vitest';
import { type StoreReport, violations } from '../demo/report.js';

const safe: StoreReport = {
  store: 'dynamodb',
  invocations: 10,
  orders: 2,
  chargesPerOrder: [1, 1],
  replayMismatches: 0,
  seats: 2,
  seatsBooked: 2,
  doubleBookings: 0,
  frozenHolders: 1,
  staleWritesRejected: 1,
  staleWritesAccepted: 0,
  acquireLatenciesMs: [1],
  contendedAcquisitions: 0,
  acquisitions: 1,
  seconds: 1,
};

describe('the demo report', () => {
  it('passes a safe run', () => {
    expect(violations(safe)).toEqual([]);
  });

  it.each<[string, Partial<StoreReport>]>([
    ['a double charge', { chargesPerOrder: [1, 2] }],
    ['a replay that broke idempotency', { replayMismatches: 1 }],
    ['a double booking', { doubleBookings: 1 }],
    ['a stale write accepted', { staleWritesAccepted: 1 }],
  ])('fails a run with %s', (_, patch) => {
    expect(violations({ ...safe, ...patch })).toHaveLength(1);
  });
});
