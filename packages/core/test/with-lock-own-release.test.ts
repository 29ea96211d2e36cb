// withLock resolves when its callback released the lease itself and that release freed the lock: never
// for work that ran without exclusivity before that release.
import { describe, expect, it } from 'vitest';
import { createLocker, LockLostError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withLock when the callback released the lease itself', () => {
  it('rejects (expired) when the lease ran out locally before the callback released it, even if the store answers true', async () => {
    // The memory store's release does not look at expiry: it answers true for a lease that ran out
    // while nobody took the key (as DynamoDB would within the drift allowance).
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 150 });
    let freed: boolean | undefined;
    const error = await locker
      .withLock(
        'k',
        async (lease) => {
          await sleep(300); // past the lease's validity (no auto-extension before then)
          freed = await lease.release();
          return 'paid';
        },
        { extendEveryMs: 10_000 }, // no auto-extension before the lease runs out
      )
      .catch((e: unknown) => e);
    expect(freed).toBe(true); // the store said it freed the lock...
    expect(error).toBeInstanceOf(LockLostError); // ...but the work ran past the lease: still lost
    expect((error as LockLostError).reason).toBe('expired');
  });

  it('rejects when the lease ran out and the callback releases without awaiting it', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 150 });
    const error = await locker
      .withLock(
        'k',
        async (lease) => {
          await sleep(300);
          void lease.release();
          return 'paid';
        },
        { extendEveryMs: 10_000 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
  });

  it("rejects when the callback's release was applied with its answer lost and withLock's own release then finds nothing", async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const error = await locker
      .withLock('k', async (lease) => {
        store.failNext(1, 'after'); // applied, answer lost
        await lease.release().catch(() => undefined);
        // another client takes the freed key meanwhile
        expect(store.takeOver('k', 60_000, 'other')).not.toBeNull();
        return 'paid';
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
  });

  it("resolves when the callback's release failed before reaching the store and withLock's own release frees it (nobody else held it in between)", async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    let otherGot: number | null = 0;
    const out = await locker.withLock('k', async (lease) => {
      store.failNext(1, 'before');
      await lease.release().catch(() => undefined);
      otherGot = store.takeOver('k', 60_000, 'other'); // still held by us in the store: refused
      return 'paid';
    });
    expect(otherGot).toBeNull();
    expect(out).toBe('paid');
  });

  it('rejects when the key was taken while an auto-extension was in flight and the callback then released', async () => {
    const store = memoryStore();
    store.latencyMs = 20;
    const locker = createLocker({ store, ttlMs: 1_000 });
    const error = await locker
      .withLock(
        'k',
        async (lease) => {
          await sleep(15); // the first extension is on its way
          store.steal('k');
          return lease.release();
        },
        { extendEveryMs: 5 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
  });

  it('passes on locally and resolves; the next local holder starts only after the release', async () => {
    const locker = createLocker({ store: memoryStore() });
    const order: string[] = [];
    const first = locker.withLock('k', async (lease) => {
      await sleep(5); // the second caller queues in this locker meanwhile
      order.push('first-done');
      expect(await lease.release()).toBe(true); // passed on
      return 'first';
    });
    const second = locker.withLock('k', () => {
      order.push('second');
    });
    expect(await first).toBe('first');
    await second;
    expect(order).toEqual(['first-done', 'second']);
  });

  // withLock cannot tell a release at the end of the work from one at its start: as with a lease from
  // acquire(), what runs after a release is not protected (the README says "once its work is done").
  it('resolves also when the callback released first and worked on: that work overlaps the next holder', async () => {
    const locker = createLocker({ store: memoryStore() });
    let inside = 0;
    let overlap = false;
    const work = async () => {
      inside++;
      if (inside > 1) overlap = true;
      await sleep(20);
      inside--;
    };
    const first = locker.withLock('k', async (lease) => {
      await lease.release(); // by mistake, first
      await work();
      return 'first';
    });
    await sleep(1);
    const second = locker.withLock('k', work);
    expect(await first).toBe('first');
    await second;
    expect(overlap).toBe(true);
  });
});
