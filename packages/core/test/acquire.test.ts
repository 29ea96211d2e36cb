import { describe, expect, it } from 'vitest';
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

  it('rejects a non-integer token from a broken store as a StoreError', async () => {
    const store = memoryStore();
    store.acquire = async () => ({ acquired: true, token: 1.5 });
    await expect(createLocker({ store }).acquire('k')).rejects.toMatchObject({ kind: 'bad-response' });
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
    expect(store.calls.acquire).toBe(9); // one request per handoff
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
