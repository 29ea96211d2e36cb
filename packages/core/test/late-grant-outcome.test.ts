import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A store whose first grant lands after its 100 ms lease (handed back), each release 100 ms late. */
const lateOnceSlowRelease = () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const store = memoryStore();
  const acquire = store.acquire.bind(store);
  const release = store.release.bind(store);
  let first = true;
  store.acquire = async (request) => {
    if (first) {
      first = false;
      await sleep(150);
    }
    return acquire(request);
  };
  store.release = async (request) => {
    await sleep(100);
    return release(request);
  };
  return store;
};

describe('acquire, a store slower than the TTL near a Lambda deadline', () => {
  it('is a StoreError (timeout), never "still held by another owner", when nobody ever held the key', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    vi.spyOn(Math, 'random').mockReturnValue(0); // backoff sleeps of 1 ms
    const store = memoryStore();
    store.latencyMs = 148; // every grant lands after its 100 ms lease (97 ms of validity) ran out
    const locker = createLocker({ store, ttlMs: 100 });
    const pending = locker
      .acquire('k', { waitMs: 10_000, context: { getRemainingTimeInMillis: () => 300 } })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await pending;
    // No other owner ever held 'k': only this caller's own (late, handed back) grants.
    expect(store.calls.acquire).toBe(2);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ kind: 'timeout' });
  });
});

describe('acquire, a store slower than the TTL whose hand-back is slower still', () => {
  it('is a StoreError (timeout), not LockTimeoutError "held", when only its own handed-back grant held the key', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    vi.spyOn(Math, 'random').mockReturnValue(0); // backoff sleeps of 1 ms
    const store = lateOnceSlowRelease();
    const locker = createLocker({ store, ttlMs: 100 });
    const pending = locker.acquire('k', { waitMs: 180 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await pending;
    // No other owner ever held 'k': the retries were refused by this caller's own handed-back grant.
    expect(store.rows.get('k')?.owner).toBeUndefined();
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ kind: 'timeout' });
  });
});

describe('acquire, a grant that came too late with time left to wait', () => {
  it('asks again once its hand-back has landed, and is granted: no request refused by its own grant', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = lateOnceSlowRelease();
    const locker = createLocker({ store, ttlMs: 100, retryBaseMs: 1, retryMaxMs: 2 });
    const pending = locker.acquire('k', { waitMs: 1_000 });
    await vi.advanceTimersByTimeAsync(300);
    const lease = await pending;
    expect(lease.held).toBe(true);
    expect(store.calls.acquire).toBe(2); // the late one, then one after the hand-back (at 250 ms)
    expect(store.rows.get('k')?.owner).toBeTruthy();
  });
});
