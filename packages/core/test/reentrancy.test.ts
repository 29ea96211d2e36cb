import { describe, expect, it } from 'vitest';
import { createLocker, type Lease, type LockLostError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks the event loop, as a busy handler would: no timer runs meanwhile. */
const busyWait = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
};

/** User code that core runs synchronously inside its own operations (abort listeners) calling back in. */
describe('re-entrancy from user code', () => {
  it('a waiter aborted by the releasing lease’s abort listener hands the passed lease on to the one queued there', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const first = await locker.acquire('k');
    const controller = new AbortController();
    const aborted = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    let queued: Promise<Lease> | undefined;
    first.signal.addEventListener('abort', () => {
      controller.abort(new Error('gone'));
      queued = locker.acquire('k');
    });
    await sleep(5);
    expect(await first.release()).toBe(true);
    expect(await aborted).toMatchObject({ message: 'gone' });
    const last = await queued!;
    // Passed twice in memory: no store request, the next token each time, the key still held.
    expect(last.token).toBe(first.token + 2);
    expect(store.calls).toMatchObject({ acquire: 1, release: 0 });
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    expect(await last.release()).toBe(true);
    expect(store.calls.release).toBe(1);
  });

  it('a waiter whose signal is the holder’s own hands the lease passed to it back, to the next waiter', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const first = await locker.acquire('k');
    const same = locker.acquire('k', { signal: first.signal }).catch((e: unknown) => e);
    const next = locker.acquire('k');
    await sleep(5);
    await first.release();
    expect(((await same) as LockLostError).reason).toBe('released');
    const lease = await next;
    expect(lease.held).toBe(true);
    expect(store.calls).toMatchObject({ acquire: 1, release: 0 });
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    await lease.release();
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('a lease that runs out inside its own release answers the calls of its abort listener; its waiters still get the key', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const lease = await locker.acquire('k', { ttlMs: 100 });
    const waiting = locker.acquire('k', { waitMs: 1_000 });
    const inner: Promise<unknown>[] = [];
    lease.signal.addEventListener('abort', () => {
      inner.push(
        lease.release(),
        lease.extend().catch((e: unknown) => e),
      );
      inner.push(locker.acquire('k', { waitMs: 1_000 }).then((l) => l.release()));
    });
    await sleep(5);
    busyWait(110); // the expiry timer cannot run: the release finds the lease run out
    await lease.release();
    const next = await waiting;
    expect(next.held).toBe(true);
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    await next.release();
    const [again, extended, after] = await Promise.all(inner);
    expect(again).toBe(false); // one release request for both calls
    expect(extended).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(after).toBe(true);
    // The run-out lease's release, then the last holder's: `next` passed the lease to the listener's call.
    expect(store.calls.release).toBe(2);
    expect((await locker.inspect('k')).held).toBe(false);
  });
});
