import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent, LockLostError, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks the event loop, as a busy handler would: no timer runs meanwhile. */
const busyWait = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
};

describe('Lease', () => {
  it('aborts its signal when it runs out un-extended', async () => {
    const locker = createLocker({ store: memoryStore() });
    const lease = await locker.acquire('k', { ttlMs: 120 });
    expect(lease.remainingMs).toBeLessThanOrEqual(120 - 3);
    await sleep(150);
    expect(lease.held).toBe(false);
    expect(lease.remainingMs).toBe(0);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(LockLostError);
    expect(lease.signal.reason).toMatchObject({ reason: 'expired', key: 'k', token: lease.token });
  });

  it('stops claiming validity before the store expiry (drift allowance)', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 1000 });
    // 1% of the TTL + 2 ms is taken off the holder's view.
    expect(lease.remainingMs).toBeLessThanOrEqual(1000 - 12);
    expect(store.rows.get('k')!.expiresAt - Date.now()).toBeGreaterThan(lease.remainingMs);
  });

  it('extend pushes the validity with one store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 150 });
    await sleep(100);
    await lease.extend(400);
    expect(store.calls.extend).toBe(1);
    await sleep(100);
    expect(lease.held).toBe(true);
    expect(lease.remainingMs).toBeGreaterThan(150);
    expect(lease.signal.aborted).toBe(false);
  });

  it('extend of a taken lease throws LockLostError and aborts the signal', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.steal('k');
    const error = await lease.extend().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ code: 'LOCK_LOST', reason: 'taken' });
    expect(lease.signal.aborted).toBe(true);
    await expect(lease.extend()).rejects.toBeInstanceOf(LockLostError);
    expect(store.calls.extend).toBe(1);
  });

  it('extend after local expiry throws LockLostError without a store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 });
    await sleep(120);
    await expect(lease.extend()).rejects.toMatchObject({ reason: 'expired' });
    expect(store.calls.extend).toBe(0);
  });

  it('extend that the store cannot answer throws StoreError and keeps the lease', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.failNext();
    await expect(lease.extend()).rejects.toBeInstanceOf(StoreError);
    expect(lease.held).toBe(true);
    await lease.extend();
  });

  it('extend validates its ttl before any store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    await expect(lease.extend(0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(lease.extend(1.5)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(store.calls.extend).toBe(0);
  });

  it('release returns true once, then false, with a single store call', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    expect(await lease.release()).toBe(true);
    expect(await lease.release()).toBe(false); // already released: no second call, and not "freed it" again
    expect(store.calls.release).toBe(1);
    expect(lease.held).toBe(false);
    expect(lease.signal.reason).toMatchObject({ reason: 'released' });
  });

  it('release returns false when the lease had been taken over', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 });
    await sleep(120);
    store.steal('k');
    expect(await lease.release()).toBe(false);
    expect(store.rows.get('k')!.owner).toBe('thief');
  });

  it('release that the store cannot answer rejects with StoreError and can be retried', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    store.failNext();
    await expect(lease.release()).rejects.toBeInstanceOf(StoreError);
    expect(await lease.release()).toBe(true);
  });

  it('await using releases at the end of the block', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    {
      await using lease = await locker.acquire('k');
      expect(lease.held).toBe(true);
    }
    expect(store.calls.release).toBe(1);
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('dispose reports a failed release as an event instead of throwing', async () => {
    const events: LockEvent[] = [];
    const store = memoryStore();
    const lease = await createLocker({ store, onEvent: (e) => events.push(e) }).acquire('k');
    store.failNext();
    await lease[Symbol.asyncDispose]();
    expect(events.map((e) => e.type)).toContain('release-failed');
  });
});

// Regressions found by the model-based tests (test/model.test.ts).
describe('Lease under faults', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops claiming the lock as soon as its release is sent, so two holders never overlap', async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const b = createLocker({ store });
    const first = await a.acquire('k', { ttlMs: 10_000 });
    store.replyLatencyMs = 50; // the store frees the lock at once; its answer takes 50 ms
    const releasing = first.release();
    expect(first.held).toBe(false);
    expect(first.signal.reason).toMatchObject({ code: 'LOCK_LOST', reason: 'released' });
    await sleep(10);
    store.replyLatencyMs = 0;
    const second = await b.acquire('k', { waitMs: 0 });
    expect(second.held).toBe(true);
    expect(first.held).toBe(false);
    expect(await releasing).toBe(true);
  });

  it('a release whose answer is lost still ends the lease; a retry reports what the store says', async () => {
    const store = memoryStore();
    const a = createLocker({ store });
    const lease = await a.acquire('k');
    store.failNext(1, 'after'); // applied, answer lost
    await expect(lease.release()).rejects.toBeInstanceOf(StoreError);
    expect(lease.held).toBe(false);
    expect(lease.signal.aborted).toBe(true);
    const other = await createLocker({ store }).acquire('k', { waitMs: 0 });
    expect(other.held).toBe(true);
    expect(await lease.release()).toBe(false); // the first attempt had freed it
    expect(other.held).toBe(true);
  });

  it('concurrent release calls share one request and only one of them resolves true', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k');
    const outcomes = await Promise.all([lease.release(), lease.release(), lease.release()]);
    expect(outcomes).toEqual([true, false, false]);
    expect(store.calls.release).toBe(1);
  });

  it('an extend whose answer is lost never counts on more than the store may now allow', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 1_000 });
    store.failNext(1, 'after'); // the shorter extension is applied, its answer lost
    await expect(lease.extend(200)).rejects.toBeInstanceOf(StoreError);
    expect(lease.held).toBe(true);
    expect(lease.remainingMs).toBeLessThanOrEqual(200 - 4);
    await sleep(210); // the store's expiry moved to ~200 ms: someone else may take it now
    const other = await createLocker({ store }).acquire('k', { waitMs: 0 });
    expect(other.held).toBe(true);
    expect(lease.held).toBe(false);
    expect(lease.signal.reason).toMatchObject({ reason: 'expired' });
  });

  it('sends concurrent extensions one at a time, so the lease never counts on one the store overwrote', async () => {
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 1_000 });
    const extend = store.extend.bind(store);
    let calls = 0;
    store.extend = async (request) => {
      const ok = await extend(request); // applied at once ...
      if (calls++ === 0) await sleep(50); // ... but the first answer is slow
      return ok;
    };
    // Sent together, the 100 ms extension would be applied last but answered first, and the lease would
    // then count on the 1 s one while the store expires it in 100 ms.
    await Promise.all([lease.extend(1_000), lease.extend(100)]);
    expect(lease.remainingMs).toBeLessThanOrEqual(100);
    await sleep(120);
    const other = await createLocker({ store }).tryAcquire('k');
    expect(other?.held).toBe(true);
    expect(lease.held).toBe(false);
  });

  it('an extend answer that arrives when the lease has run out does not bring it back', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    let answer: ((ok: boolean) => void) | undefined;
    // Scheduled before the lease exists: when both are due at its last instant, the answer comes first.
    setTimeout(() => answer?.(true), 97);
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 }); // valid until 97 ms
    await vi.advanceTimersByTimeAsync(50);
    store.extend = () =>
      new Promise<boolean>((resolve) => {
        answer = resolve;
      });
    const extending = lease.extend().then(
      () => 'extended',
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(47);
    expect(await extending).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(lease.held).toBe(false);
    expect(lease.signal.aborted).toBe(true);
  });

  it('an extend that fails after the lease ran out rejects with LockLostError, the store error as its cause', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    const lease = await createLocker({ store }).acquire('k', { ttlMs: 100 }); // valid until 97 ms
    await vi.advanceTimersByTimeAsync(50);
    store.extend = () =>
      new Promise<boolean>((_, reject) => {
        setTimeout(() => reject(new StoreError('memory', 'timeout', 'no answer')), 60);
      });
    const extending = lease.extend().then(
      () => 'extended',
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(60);
    const error = await extending;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ reason: 'expired', cause: { code: 'STORE_ERROR', kind: 'timeout' } });
    expect(lease.held).toBe(false);
  });

  it('extend() called from its own abort listener as the first extend finds it run out rejects, never throws', async () => {
    const lease = await createLocker({ store: memoryStore() }).acquire('k', { ttlMs: 100 });
    const fromListener: Array<Promise<void>> = [];
    // A listener that throws is an uncaught exception in Node: the extend must reject instead.
    lease.signal.addEventListener('abort', () => fromListener.push(lease.extend()));
    busyWait(120); // the expiry timer cannot run: the first extend() is what finds the lease run out
    await expect(lease.extend()).rejects.toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(fromListener).toHaveLength(1);
    await expect(fromListener[0]).rejects.toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
  });

  it('reading a lease past its validity aborts its signal at once, even when the timer runs late', async () => {
    const lease = await createLocker({ store: memoryStore() }).acquire('k', { ttlMs: 100 });
    const signal = lease.signal;
    busyWait(120); // the expiry timer cannot run
    expect(signal.aborted).toBe(false);
    expect(lease.held).toBe(false);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ reason: 'expired' });
  });
});
