import { describe, expect, it } from 'vitest';
import { createLocker, FENCE_STEP, type Lease, type LockEvent, type LockLostError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

/** Queues `n` waiters for `key` behind `holder`, each releasing as soon as it gets the lease. */
function chain(locker: ReturnType<typeof createLocker>, key: string, n: number, ttlMs?: number) {
  const leases: Lease[] = [];
  const done = Array.from({ length: n }, () =>
    locker.acquire(key, { waitMs: 5_000, ...(ttlMs === undefined ? {} : { ttlMs }) }).then(async (lease) => {
      leases.push(lease);
      expect(lease.held).toBe(true);
      await lease.release();
    }),
  );
  return { leases, done: Promise.all(done) };
}

describe('local pass', () => {
  it('hands a released lease to the next local waiter with no store request and the next token', async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, ttlMs: 5_000, onEvent: (e) => events.push(e) });
    const first = await locker.acquire('k');
    const waiting = locker.acquire('k');
    await new Promise((r) => setTimeout(r, 5));
    expect(await first.release()).toBe(true);
    const second = await waiting;
    expect(second.token).toBe(first.token + 1);
    expect(second.held).toBe(true);
    expect(first.held).toBe(false);
    expect((first.signal.reason as LockLostError).reason).toBe('released');
    // Same store lease: it runs out when the first one would have.
    expect(second.remainingMs).toBeLessThanOrEqual(5_000);
    expect(second.remainingMs).toBeGreaterThan(4_000);
    expect(store.calls).toMatchObject({ acquire: 1, release: 0 });
    expect(events.filter((e) => e.type === 'acquired').at(-1)).toMatchObject({
      attempts: 0,
      contended: true,
    });
    await second.release();
    expect(store.calls.release).toBe(1);
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('extends and releases a passed lease in the store under the store grant', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 1_000 });
    const first = await locker.acquire('k');
    const waiting = locker.acquire('k');
    await first.release();
    const second = await waiting;
    await second.extend(3_000);
    expect(store.calls.extend).toBe(1);
    expect(second.remainingMs).toBeGreaterThan(2_500);
    expect((await locker.inspect('k')).remainingMs).toBeGreaterThan(2_500);
    expect(await second.release()).toBe(true);
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it(`goes back to the store after ${FENCE_STEP - 1} passes, with tokens still strictly increasing`, async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    const { leases, done } = chain(locker, 'k', FENCE_STEP + 4);
    await new Promise((r) => setTimeout(r, 5));
    await first.release();
    await done;
    const tokens = [first.token, ...leases.map((l) => l.token)];
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
    // 1 grant + 15 passes, then one release to the store and a fresh grant above every passed token.
    expect(store.calls.acquire).toBe(2);
    expect(store.calls.release).toBe(2);
    expect(tokens[FENCE_STEP]).toBe(first.token + FENCE_STEP);
  });

  it('does not pass a lease with less than half the waiter’s TTL left: the waiter gets a fresh grant', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const first = await locker.acquire('k', { ttlMs: 1_000 });
    const { leases, done } = chain(locker, 'k', 1, 10_000);
    await new Promise((r) => setTimeout(r, 5));
    await first.release();
    await done;
    expect(store.calls).toMatchObject({ acquire: 2, release: 2 });
    expect(leases[0]?.token).toBe(first.token + FENCE_STEP);
  });

  it('does not pass while an extension is in flight', async () => {
    const store = memoryStore();
    store.latencyMs = 20;
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    const waiting = locker.acquire('k');
    const extending = first.extend();
    const released = await first.release();
    expect(released).toBe(true);
    await extending.catch(() => undefined);
    const second = await waiting;
    expect(store.calls.release).toBe(1);
    expect(second.token).toBe(first.token + FENCE_STEP);
    await second.release();
  });

  it('passes within withLock too, and the callback sees a held lease', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, () =>
        locker.withLock('k', async (lease) => {
          expect(lease.held).toBe(true);
          seen.push(lease.token);
          await new Promise((r) => setTimeout(r, 2));
        }),
      ),
    );
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe((seen[0] as number) + 5);
    expect(store.calls).toMatchObject({ acquire: 1, release: 1 });
  });

  it('is not freed in the store by a release called again from the released lease’s abort listener', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    // Cleanup tied to the lease's signal ("release it if it is lost") runs inside the release itself.
    const again: Promise<boolean>[] = [];
    first.signal.addEventListener('abort', () => again.push(first.release()));
    const waiting = locker.acquire('k');
    await new Promise((r) => setTimeout(r, 5));
    expect(await first.release()).toBe(true);
    const second = await waiting;
    expect(await Promise.all(again)).toEqual([false]);
    expect(second.token).toBe(first.token + 1);
    // The store lease went on to `second`: another process must still find the key held.
    expect(store.calls.release).toBe(0);
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    expect(second.held).toBe(true);
    expect(await second.release()).toBe(true);
  });

  it('hands a passed lease straight back when the waiter was aborted meanwhile', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    const controller = new AbortController();
    const aborted = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    const next = locker.acquire('k');
    await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('gone'));
    await first.release();
    expect(await aborted).toMatchObject({ message: 'gone' });
    const lease = await next;
    expect(lease.token).toBe(first.token + 1);
    await lease.release();
    expect(store.calls).toMatchObject({ acquire: 1, release: 1 });
  });
});
