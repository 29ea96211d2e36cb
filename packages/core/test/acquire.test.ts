import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent, LockTimeoutError, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

describe('acquire', () => {
  it('grants a lease with the key and a fencing token in one store call', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const lease = await locker.acquire('order:1');
    expect(lease.key).toBe('order:1');
    expect(Number.isSafeInteger(lease.token)).toBe(true);
    expect(lease.held).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    expect(store.calls.acquire).toBe(1);
    await lease.release();
  });

  it('issues strictly increasing tokens per key', async () => {
    const locker = createLocker({ store: memoryStore() });
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await locker.acquire('k');
      tokens.push(lease.token);
      await lease.release();
    }
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(5);
  });

  it('waits for a held lock and gets it the moment a same-process holder releases', async () => {
    const locker = createLocker({ store: memoryStore(), retryBaseMs: 1000, retryMaxMs: 5000 });
    const first = await locker.acquire('k', { ttlMs: 30_000 });
    const started = performance.now();
    const waiting = locker.acquire('k', { waitMs: 10_000 });
    setTimeout(() => void first.release(), 50);
    const second = await waiting;
    const waited = performance.now() - started;
    expect(second.token).toBeGreaterThan(first.token);
    // Backoff is at least a second here: only the in-process wake-up explains a prompt grant.
    expect(waited).toBeLessThan(900);
    await second.release();
  });

  it("sleeps no longer than the holder's known expiry", async () => {
    const store = memoryStore();
    const a = createLocker({ store, retryBaseMs: 5000, retryMaxMs: 5000 });
    const b = createLocker({ store, retryBaseMs: 5000, retryMaxMs: 5000 });
    await a.acquire('k', { ttlMs: 150 }); // never released: b must wait out the expiry, not 5 s
    const started = performance.now();
    const lease = await b.acquire('k', { waitMs: 3000 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(store.calls.acquire).toBeLessThanOrEqual(4);
    await lease.release();
  });

  it('rejects with LockTimeoutError carrying the holder when the wait runs out', async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const b = createLocker({ store, retryBaseMs: 5, retryMaxMs: 20 });
    const held = await a.acquire('k', { ttlMs: 10_000 });
    const error = await b.acquire('k', { waitMs: 120 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    const timeout = error as LockTimeoutError;
    expect(timeout.code).toBe('LOCK_TIMEOUT');
    expect(timeout.key).toBe('k');
    expect(timeout.attempts).toBeGreaterThan(1);
    expect(timeout.waitedMs).toBeGreaterThanOrEqual(110);
    expect(timeout.holder.token).toBe(held.token);
    expect(timeout.holder.remainingMs).toBeGreaterThan(9000);
    await held.release();
  });

  it('makes exactly one attempt with waitMs 0', async () => {
    const store = memoryStore();
    await createLocker({ store }).acquire('k');
    await expect(createLocker({ store }).acquire('k', { waitMs: 0 })).rejects.toBeInstanceOf(
      LockTimeoutError,
    );
    expect(store.calls.acquire).toBe(2);
  });

  it('reports a store failure as StoreError, never as held', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    store.failNext(1);
    const error = await locker.acquire('k', { waitMs: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(LockTimeoutError);
    expect(store.calls.acquire).toBe(1);
  });

  it('wraps an untyped store exception in a StoreError with the cause', async () => {
    const store = memoryStore();
    const boom = new Error('socket hang up');
    store.acquire = async () => {
      throw boom;
    };
    const error = await createLocker({ store })
      .acquire('k')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toBe(boom);
  });

  it('rejects a non-integer token from a broken store as a StoreError, and withdraws that grant', async () => {
    const store = memoryStore();
    const withdrawn: string[] = [];
    let asked: string | undefined;
    store.acquire = async ({ owner }) => {
      asked = owner;
      return { acquired: true, token: 1.5 };
    };
    store.withdraw = async (key, owner) => {
      withdrawn.push(`${key}:${owner}`);
    };
    await expect(createLocker({ store }).acquire('k')).rejects.toMatchObject({ kind: 'bad-response' });
    // The store holds the key for that owner: freed now, not after a TTL.
    expect(withdrawn).toEqual([`k:${asked}`]);
  });

  it("rejects with the signal's reason when aborted during the wait", async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const b = createLocker({ store });
    await a.acquire('k');
    const controller = new AbortController();
    const waiting = b.acquire('k', { waitMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 30);
    await expect(waiting).rejects.toThrow('client went away');
  });

  it('makes no store call with an already-aborted signal', async () => {
    const store = memoryStore();
    await expect(createLocker({ store }).acquire('k', { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(store.calls.acquire).toBe(0);
  });

  it('hands the lock back when aborted while the grant was in flight', async () => {
    const store = memoryStore();
    store.latencyMs = 40;
    const controller = new AbortController();
    const pending = createLocker({ store }).acquire('k', { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(pending).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 100));
    expect(store.calls.release).toBe(1);
    expect((await createLocker({ store: store }).inspect('k')).held).toBe(false);
  });

  for (const method of ['acquire', 'tryAcquire'] as const) {
    it(`${method} says it never tried, sending nothing, not that the key is held, when the Lambda deadline is too close for any lease`, async () => {
      const store = memoryStore();
      const locker = createLocker({ store });
      const error = await locker[method]('k', { context: { getRemainingTimeInMillis: () => 2 } }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect(error).toMatchObject({ attempts: 0, holder: {}, reason: 'deadline' });
      expect((error as Error).message).toMatch(/^"k" not tried: too close to the invocation deadline/);
      expect((error as Error).message).not.toMatch(/held by another owner/);
      expect(store.calls.acquire).toBe(0);
    });
  }

  it('still says "held by another owner" when the deadline comes after the store said the key is held', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await locker.acquire('k', { ttlMs: 5_000 });
    const error = await createLocker({ store })
      .acquire('k', { context: { getRemainingTimeInMillis: () => 150 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).attempts).toBeGreaterThan(0);
    expect((error as LockTimeoutError).reason).toBe('held');
    expect((error as Error).message).toMatch(/^"k" still held by another owner after/);
  });

  it("caps the lease at a Lambda invocation's remaining time", async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 60_000 });
    const lease = await locker.acquire('k', { context: { getRemainingTimeInMillis: () => 300 } });
    expect(lease.remainingMs).toBeLessThanOrEqual(300);
    const row = store.rows.get('k')!;
    expect(row.expiresAt - Date.now()).toBeLessThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 350));
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toMatchObject({ code: 'LOCK_LOST', reason: 'deadline' });
  });

  it('emits acquired and contended events without owner ids', async () => {
    const events: LockEvent[] = [];
    const store = memoryStore();
    const a = createLocker({ store });
    const b = createLocker({ store, onEvent: (e) => events.push(e) });
    const held = await a.acquire('k', { ttlMs: 200 });
    await b.acquire('k', { waitMs: 2000 });
    expect(events.map((e) => e.type)).toContain('contended');
    expect(events.at(-1)).toMatchObject({ type: 'acquired', key: 'k' });
    const owner = store.rows.get('k')!.owner!;
    expect(JSON.stringify(events)).not.toContain(owner);
    void held;
  });
});

describe('tryAcquire', () => {
  it('returns null when the lock is held and a lease when it is free', async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const b = createLocker({ store });
    const held = await a.tryAcquire('k');
    expect(held).not.toBeNull();
    expect(await b.tryAcquire('k')).toBeNull();
    expect(store.calls.acquire).toBe(2);
    await held!.release();
    expect(await b.tryAcquire('k')).not.toBeNull();
  });

  it('answers from memory, with no store call, when this locker already holds the key', async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const held = await a.acquire('k');
    expect(await a.tryAcquire('k')).toBeNull();
    expect(store.calls.acquire).toBe(1);
    await held.release();
  });

  it('rejects with StoreError when the store fails', async () => {
    const store = memoryStore();
    store.failNext();
    await expect(createLocker({ store }).tryAcquire('k')).rejects.toBeInstanceOf(StoreError);
  });
});

describe('inspect', () => {
  it('reports held state, token and remaining time', async () => {
    const locker = createLocker({ store: memoryStore() });
    expect(await locker.inspect('k')).toEqual({ key: 'k', held: false });
    const lease = await locker.acquire('k', { ttlMs: 5000 });
    const state = await locker.inspect('k');
    expect(state).toMatchObject({ key: 'k', held: true, token: lease.token });
    expect(state.remainingMs).toBeGreaterThan(4000);
  });
});

describe('acquire with a store that announces releases', () => {
  it('waits on the notification instead of polling, and re-checks at least every second', async () => {
    const store = memoryStore();
    const waits: number[] = [];
    const listeners = new Set<() => void>();
    const release = store.release.bind(store);
    store.release = async (request) => {
      const ok = await release(request);
      for (const wake of [...listeners]) wake();
      return ok;
    };
    store.waitForRelease = (_key, timeoutMs, signal) =>
      new Promise<void>((resolve) => {
        waits.push(timeoutMs);
        const done = () => {
          listeners.delete(done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        listeners.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    const a = createLocker({ store });
    const b = createLocker({ store, retryBaseMs: 5000, retryMaxMs: 5000 });
    const held = await a.acquire('k', { ttlMs: 30_000 });
    const pending = b.acquire('k', { waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 50));
    const releasedAt = performance.now();
    await held.release();
    const lease = await pending;
    expect(performance.now() - releasedAt).toBeLessThan(200);
    expect(waits.length).toBeGreaterThanOrEqual(1);
    for (const ms of waits) expect(ms).toBeLessThanOrEqual(1_000);
    expect(store.calls.acquire).toBe(3);
    await lease.release();
  });

  it("rejects with the signal's reason when a notified wait is aborted", async () => {
    const store = memoryStore();
    store.waitForRelease = (_key, timeoutMs, signal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        const onAbort = () => {
          clearTimeout(timer);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    await createLocker({ store }).acquire('k');
    const controller = new AbortController();
    const pending = createLocker({ store }).acquire('k', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop waiting')), 30);
    await expect(pending).rejects.toThrow('stop waiting');
    expect(store.calls.acquire).toBe(2);
  });
});

describe('acquire within one locker', () => {
  it('keeps at most one store call in flight per key and serves local waiters first-in, first-out', async () => {
    const store = memoryStore();
    store.latencyMs = 5;
    let inFlight = 0;
    let maxInFlight = 0;
    const acquire = store.acquire.bind(store);
    store.acquire = async (request) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await acquire(request);
      } finally {
        inFlight--;
      }
    };
    const locker = createLocker({ store });
    const first = await locker.acquire('k');
    const order: number[] = [];
    const waiters = Array.from({ length: 8 }, (_, i) =>
      locker.acquire('k').then(async (lease) => {
        order.push(i);
        await lease.release();
      }),
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(store.calls.acquire).toBe(1); // queued behind the local holder: no polling at all
    await first.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(maxInFlight).toBe(1);
    // Each release passed the store lease to the next local waiter: no request per handoff at all.
    expect(store.calls.acquire).toBe(1);
    expect(store.calls.release).toBe(1);
  });

  it('times out a queued waiter with LockTimeoutError', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const held = await locker.acquire('k');
    const error = await locker.acquire('k', { waitMs: 60 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).waitedMs).toBeGreaterThanOrEqual(50);
    await held.release();
    // The timed-out waiter left the queue: the key is free for the next caller at once.
    const next = await locker.acquire('k', { waitMs: 0 });
    await next.release();
  });

  it("rejects a queued waiter with the signal's reason when aborted, and lets the next one through", async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const held = await locker.acquire('k');
    const controller = new AbortController();
    const aborted = locker.acquire('k', { signal: controller.signal });
    const next = locker.acquire('k');
    controller.abort(new Error('caller left'));
    await expect(aborted).rejects.toThrow('caller left');
    await held.release();
    const lease = await next;
    expect(lease.held).toBe(true);
    await lease.release();
  });

  it('hands over to the next local waiter when the lease expires un-released', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await locker.acquire('k', { ttlMs: 100 });
    const started = performance.now();
    const lease = await locker.acquire('k', { waitMs: 2_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
    await lease.release();
  });
});

// Regressions found by the model-based tests (test/model.test.ts).
describe('acquire under faults', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const fakeTimers = () =>
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('never reports a store outage as LockTimeoutError to queued waiters', async () => {
    const store = memoryStore();
    store.latencyMs = 30; // longer than the waits: the queued waiter's time runs out mid-request
    store.failNext(5);
    const locker = createLocker({ store });
    const outcomes = await Promise.allSettled([
      locker.acquire('k', { waitMs: 10 }),
      locker.acquire('k', { waitMs: 10 }),
      locker.acquire('k', { waitMs: 0 }),
    ]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    }
  });

  it('gives a queued waiter whose wait ran out its attempt when the request ahead fails', async () => {
    const store = memoryStore();
    store.latencyMs = 30;
    store.failNext(1);
    const locker = createLocker({ store });
    const [first, second] = await Promise.allSettled([
      locker.acquire('k', { waitMs: 10 }),
      locker.acquire('k', { waitMs: 10 }),
    ]);
    expect(first.status === 'rejected' && first.reason instanceof StoreError).toBe(true);
    expect(second.status).toBe('fulfilled');
  });

  it('times a queued waiter out once the request ahead of it gets the lock', async () => {
    const store = memoryStore();
    store.latencyMs = 30;
    const locker = createLocker({ store });
    const [first, second] = await Promise.allSettled([
      locker.acquire('k', { waitMs: 10 }),
      locker.acquire('k', { waitMs: 10 }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second.status === 'rejected' && second.reason instanceof LockTimeoutError).toBe(true);
  });

  it('reports a grant that arrives after its lease ran out as a slow store, not as held', async () => {
    const store = memoryStore();
    store.latencyMs = 150; // slower than the 100 ms lease
    const locker = createLocker({ store });
    await expect(locker.acquire('k', { ttlMs: 100, waitMs: 0 })).rejects.toMatchObject({
      code: 'STORE_ERROR',
      kind: 'timeout',
    });
    await expect(locker.tryAcquire('k', { ttlMs: 100 })).rejects.toMatchObject({ kind: 'timeout' });
    await sleep(200);
    expect(store.calls.release).toBe(2); // both worthless grants were handed back
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('never asks again as the owner of a grant it handed back', async () => {
    fakeTimers();
    const store = memoryStore();
    const acquire = store.acquire.bind(store);
    const release = store.release.bind(store);
    let slow = true;
    store.acquire = async (request) => {
      if (slow) {
        slow = false;
        await sleep(150); // the first grant lands after its 100 ms lease: it is handed back
      }
      return acquire(request);
    };
    store.release = async (request) => {
      await sleep(50); // ... and the hand-back is slower than the retry
      return release(request);
    };
    const locker = createLocker({ store, retryBaseMs: 1, retryMaxMs: 2 });
    const pending = locker.acquire('k', { ttlMs: 100, waitMs: 2_000 });
    await vi.advanceTimersByTimeAsync(210); // the hand-back has landed by now
    const lease = await pending;
    expect(lease.held).toBe(true);
    // Re-using the owner would have been granted the same token, and the late hand-back would then
    // have freed the new lease under its holder.
    expect(lease.token).toBeGreaterThan(1);
    expect((await locker.inspect('k')).held).toBe(true);
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
  });

  it('a grant handed back after an abort does not let the next local waiter skip the queue', async () => {
    fakeTimers();
    const store = memoryStore();
    store.latencyMs = 20;
    const release = store.release.bind(store);
    store.release = async (request) => {
      const ok = await release(request); // applied after 20 ms ...
      await sleep(40); // ... answered 40 ms later
      return ok;
    };
    const locker = createLocker({ store });
    const controller = new AbortController();
    const first = locker.acquire('k', { signal: controller.signal }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('caller went away'));
    const second = locker.acquire('k');
    const third = locker.acquire('k', { waitMs: 5_000 });
    // t=20: the aborted grant is handed back; the key stays busy here until the store answered that
    // (t=80), so the second's request (answered at t=100) is not refused with the handed-back grant.
    await vi.advanceTimersByTimeAsync(90);
    expect(await first).toMatchObject({ message: 'caller went away' });
    expect(store.calls.acquire).toBe(2);
    await vi.advanceTimersByTimeAsync(10);
    const lease = await second;
    expect(lease.held).toBe(true);
    expect(store.calls.acquire).toBe(2); // the third waits in the queue, it does not poll the store
    const releasing = lease.release();
    await vi.advanceTimersByTimeAsync(100);
    expect(await releasing).toBe(true);
    const next = await third;
    expect(next.held).toBe(true);
    expect(next.token).toBe(lease.token + 1); // passed on locally, not re-acquired
    expect(store.calls.acquire).toBe(2);
  });
});
