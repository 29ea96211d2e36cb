import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('acquire aborted while its request was in flight, then granted', () => {
  it('a failed hand-back is a release-failed event (README: "a failed hand-back is still a release-failed")', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    store.latencyMs = 40; // the grant lands after the caller gave up
    let releases = 0;
    // The hand-back (a release) fails: the store cannot be reached.
    store.release = async () => {
      releases++;
      throw new StoreError('memory', 'unreachable', 'injected failure');
    };
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    const controller = new AbortController();
    const pending = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('caller went away'));
    expect(await pending).toMatchObject({ message: 'caller went away' });
    await vi.advanceTimersByTimeAsync(200); // granted at 40 ms, handed back, the hand-back fails
    expect(releases).toBe(1);
    expect(store.rows.get('k')?.owner).toBeTruthy(); // the grant still blocks the key for its TTL
    // A grant handed back because it came too late reports exactly this (documented-events.test.ts);
    // one handed back because the caller gave up reports nothing.
    expect(events).toEqual([
      { type: 'release-failed', key: 'k', token: expect.any(Number), error: expect.any(StoreError) },
    ]);
  });

  it("a hand-back failing with a store's raw error reports it as a StoreError, as every release-failed does", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    store.latencyMs = 40;
    const raw = new Error('socket hang up');
    store.release = () => Promise.reject(raw);
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    const controller = new AbortController();
    const pending = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await pending;
    await vi.advanceTimersByTimeAsync(200);
    expect(events).toEqual([
      {
        type: 'release-failed',
        key: 'k',
        token: expect.any(Number),
        error: expect.objectContaining({ code: 'STORE_ERROR', kind: 'unknown', cause: raw }),
      },
    ]);
  });
});

describe('the next caller of the locker after a grant was handed back', () => {
  const slowRelease = (store: ReturnType<typeof memoryStore>, ms: number) => {
    const release = store.release.bind(store);
    store.release = async (request) => {
      await new Promise((r) => setTimeout(r, ms)); // the hand-back reaches the store later
      return release(request);
    };
  };

  it('after an abort: its tryAcquire waits for the hand-back and gets the key, not null', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    store.latencyMs = 40; // the grant lands after the caller gave up
    slowRelease(store, 50);
    const locker = createLocker({ store });
    const controller = new AbortController();
    const gaveUp = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('caller went away'));
    expect(await gaveUp).toMatchObject({ message: 'caller went away' });
    const next = locker.tryAcquire('k');
    await vi.advanceTimersByTimeAsync(200); // granted at 40, handed back at 90, then the tryAcquire
    const lease = await next;
    expect(lease?.held).toBe(true);
    expect(store.calls.acquire).toBe(2);
  });

  it('after a grant that came too late: its tryAcquire waits for the hand-back and gets the key, not null', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    const acquire = store.acquire.bind(store);
    let first = true;
    store.acquire = async (request) => {
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 150)); // after its 100 ms lease ran out
      }
      return acquire(request);
    };
    slowRelease(store, 50);
    const locker = createLocker({ store, ttlMs: 100 });
    const slow = locker.tryAcquire('k').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(151);
    expect(await slow).toMatchObject({ code: 'STORE_ERROR', kind: 'timeout' });
    const next = locker.tryAcquire('k');
    await vi.advanceTimersByTimeAsync(100); // the hand-back lands at 200, then the tryAcquire
    const lease = await next;
    expect(lease?.held).toBe(true);
    expect(store.calls.acquire).toBe(2);
  });
});
