import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, LockTimeoutError, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });

/** A memory store that, like Upstash on PTTL -1, reports a holder without its remaining time. */
const noExpiryStore = () => {
  const store = memoryStore();
  const acquire = store.acquire.bind(store);
  store.acquire = async (request) => {
    const answer = await acquire(request);
    if (answer.acquired) return answer;
    const { holderRemainingMs: _dropped, ...rest } = answer;
    return rest;
  };
  return store;
};

/**
 * A key held elsewhere with its expiry not reported: x times out on it (held at the time); then the
 * holder goes away and the store fails y's request and the next one (z's, left in flight).
 */
async function outageAfterUnknownExpiry() {
  fakeTimers();
  const store = noExpiryStore();
  store.takeOver('k', 60_000, 'other');
  store.latencyMs = 20;
  const locker = createLocker({ store, retryBaseMs: 5, retryMaxMs: 10 });
  const settled = async (p: Promise<unknown>) => {
    let done = false;
    void p.finally(() => (done = true));
    while (!done) await vi.advanceTimersByTimeAsync(1);
    return p;
  };
  const x = locker.acquire('k', { waitMs: 30 }).catch((e: unknown) => e);
  const y = locker.acquire('k', { waitMs: 60_000 }).catch((e: unknown) => e);
  const z = locker.acquire('k', { waitMs: 60_000 }).catch((e: unknown) => e);
  expect(await settled(x)).toBeInstanceOf(LockTimeoutError);
  store.lose('k');
  store.failNext(2);
  expect(await settled(y)).toBeInstanceOf(StoreError); // the last outcome: a store failure
  return { locker, z };
}

describe('a holder reported without its expiry, then a store outage', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tryAcquire during the outage waits for the request ahead instead of answering "held"', async () => {
    const { locker, z } = await outageAfterUnknownExpiry();
    // z's request is in flight (it will fail too). Nothing is known to hold the key: tryAcquire should
    // wait for z's outcome and then make its own attempt (the key is free), not answer "held" at once.
    let tResult: unknown = 'pending';
    const t = locker.tryAcquire('k').then(
      (v) => (tResult = v),
      (e: unknown) => (tResult = e),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(tResult).toBe('pending'); // not null from a stale "held"
    await vi.advanceTimersByTimeAsync(100);
    await t;
    expect(await z).toBeInstanceOf(StoreError);
    expect(tResult).not.toBeNull();
  });

  it('a queued acquire whose wait runs out during the outage gets no LockTimeoutError', async () => {
    const { locker, z } = await outageAfterUnknownExpiry();
    // A waiter whose short wait runs out while z's request (doomed) is in flight.
    const w = locker.acquire('k', { waitMs: 5 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(200);
    expect(await z).toBeInstanceOf(StoreError);
    // The store was down and nobody held the key: never a LockTimeoutError (see acquire.test.ts
    // "never reports a store outage as LockTimeoutError to queued waiters").
    expect(await w).not.toBeInstanceOf(LockTimeoutError);
  });
});
