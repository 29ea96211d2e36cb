/**
 * Edges of acquire and the lease: a busy key in the locker, a stalled or silent store, a bad Lambda
 * context, a bad extend TTL, and what a queued waiter's timeout reports.
 */
import { describe, expect, it } from 'vitest';
import {
  createLocker,
  InvalidArgumentError,
  type LockStore,
  LockTimeoutError,
  StoreError,
} from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Settles with the promise's outcome, or with 'pending' if it has not settled within `ms`. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([
    p.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
    sleep(ms).then(() => ({ status: 'pending' as const })),
  ]);

describe('an acquire whose outcome is unknown', () => {
  /** The memory store, with `withdraw` as queueing stores have it: frees the lock `owner` holds. */
  const withdrawing = () => {
    const store = memoryStore();
    const withdrawn: string[] = [];
    const withdraw = async (key: string, owner: string) => {
      withdrawn.push(owner);
      const row = store.rows.get(key);
      if (row?.owner === owner) delete row.owner;
    };
    return { store: Object.assign(store, { withdraw }), withdrawn };
  };

  it('withdraws the owner whose grant lost its answer, so the key is not blocked for a whole TTL', async () => {
    const { store, withdrawn } = withdrawing();
    const locker = createLocker({ store, ttlMs: 10_000 });
    store.failNext(1, 'after'); // applied, answer lost
    await expect(locker.tryAcquire('k')).rejects.toBeInstanceOf(StoreError);
    await sleep(1);
    expect(withdrawn).toHaveLength(1);
    const next = await createLocker({ store }).tryAcquire('k');
    expect(next).not.toBeNull();
    await next!.release();
  });

  it('withdraws the owner of a request its caller abandoned when that request then fails, outcome unknown', async () => {
    const { store, withdrawn } = withdrawing();
    store.latencyMs = 20;
    store.failNext(1, 'after'); // applied, answer lost: after the caller has already gone
    const controller = new AbortController();
    const acquiring = createLocker({ store, ttlMs: 10_000 }).acquire('k', { signal: controller.signal });
    await sleep(5);
    controller.abort(new Error('gone'));
    await expect(acquiring).rejects.toThrow('gone');
    await sleep(40);
    expect(withdrawn).toHaveLength(1);
    store.latencyMs = 0;
    const next = await createLocker({ store }).tryAcquire('k');
    expect(next).not.toBeNull();
    await next!.release();
  });

  it('still rejects with the StoreError when a plain-JS store’s withdraw returns no promise or throws', async () => {
    for (const withdraw of [
      () => undefined,
      () => 0,
      () => {
        throw new Error('sync');
      },
    ]) {
      const store = Object.assign(memoryStore(), { withdraw: withdraw as never });
      store.failNext(1);
      const error = await createLocker({ store })
        .tryAcquire('k')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/injected failure/);
    }
  });

  it('raises no unhandled rejection when a plain-JS store’s withdraw throws after an abandoned request', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const store = Object.assign(memoryStore({ announceReleases: true }), {
        withdraw: () => {
          throw new Error('sync');
        },
      });
      const holder = await createLocker({ store }).acquire('k', { ttlMs: 5_000 });
      store.latencyMs = 20;
      const controller = new AbortController();
      // Queued in the store by its request (queueMs): withdrawn once the abandoned request settles.
      const acquiring = createLocker({ store }).acquire('k', { waitMs: 1_000, signal: controller.signal });
      await sleep(5);
      controller.abort(new Error('gone'));
      await expect(acquiring).rejects.toThrow('gone');
      await sleep(40); // unhandled rejections are reported after a tick
      store.latencyMs = 0;
      await holder.release();
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(unhandled).toEqual([]);
  });

  it('sends nothing more when the key was simply held (no unknown outcome, no queue)', async () => {
    const { store, withdrawn } = withdrawing();
    const holder = await createLocker({ store }).acquire('k');
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    await expect(createLocker({ store }).acquire('k', { waitMs: 30 })).rejects.toBeInstanceOf(
      LockTimeoutError,
    );
    await sleep(1);
    expect(withdrawn).toEqual([]);
    await holder.release();
  });
});

describe('acquire, tryAcquire and extend at the edges', () => {
  it('tryAcquire never answers null ("held") when the only thing ahead of it is a request to a store that is down', async () => {
    const store = memoryStore();
    store.latencyMs = 20;
    store.failNext(10); // the store is down: nobody holds the key
    const locker = createLocker({ store });
    const [first, second] = await Promise.allSettled([locker.tryAcquire('k'), locker.tryAcquire('k')]);
    expect(first.status === 'rejected' && first.reason instanceof StoreError).toBe(true);
    // A StoreError (or an attempt of its own), never null, which means "someone holds it".
    expect(second).toMatchObject({ status: 'rejected' });
    expect((second as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
  });

  it('a queued waiter times out after its own waitMs even when the store does not report the holder expiry', async () => {
    // A valid store: holderRemainingMs is optional in the StoreAcquireResult contract.
    const store: LockStore = {
      name: 'no-remaining',
      acquire: async () => {
        await sleep(5);
        return { acquired: false };
      },
      extend: async () => true,
      release: async () => true,
      inspect: async (key) => ({ key, held: true }),
    };
    const locker = createLocker({ store, retryBaseMs: 20, retryMaxMs: 50 });
    const controller = new AbortController();
    const head = locker.acquire('k', { waitMs: 3_000, signal: controller.signal }).catch(() => undefined);
    await sleep(1);
    const started = performance.now();
    const queued = await within(locker.acquire('k', { waitMs: 100 }), 1_000);
    const took = performance.now() - started;
    controller.abort();
    await head;
    // LockTimeoutError after ~100 ms, not after the head's whole 3 s.
    expect(queued.status).toBe('rejected');
    expect((queued as { reason: unknown }).reason).toBeInstanceOf(LockTimeoutError);
    expect(took).toBeLessThan(600);
  });

  it('a Lambda context whose getRemainingTimeInMillis() is not a number is rejected before any store call', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 1_000 });
    const context = { getRemainingTimeInMillis: () => Number.NaN };
    const outcome = await within(locker.acquire('k', { context }), 200);
    if (outcome.status === 'fulfilled') {
      // (What a NaN deadline made: a store request with ttlMs NaN, and a lease that never ran out.)
      await sleep(1_200);
      expect({ held: outcome.value.held, storeCalls: store.calls.acquire }).toEqual({
        held: false,
        storeCalls: 0,
      });
    }
    expect(outcome.status).toBe('rejected');
    expect((outcome as { reason: unknown }).reason).toBeInstanceOf(InvalidArgumentError);
    expect(store.calls.acquire).toBe(0);
  });

  it('extend() with a TTL the drift + clock-skew allowance swallows is bad input: nothing sent, lease kept', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 10_000, clockSkewMs: 150 });
    const lease = await locker.acquire('k');
    // acquire('k', { ttlMs: 120 }) is an InvalidArgumentError for this locker; so is extend(120).
    const error = await lease.extend(120).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(store.calls.extend).toBe(0);
    expect(lease.held).toBe(true);
    await lease.release();
  });

  it('a lease released right after a settled extend() is passed to the local waiter (no extension is in flight)', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    const waiting = locker.acquire('k');
    await first.extend(); // settled: nothing in flight any more
    expect(await first.release()).toBe(true);
    const second = await waiting;
    expect(second.token).toBe(first.token + 1); // not a fresh store grant
    expect(store.calls.release).toBe(0);
    await second.release();
  });

  it('an extend() refused as bad input does not stop the release that follows from passing the lease on', async () => {
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 5_000 });
    const first = await locker.acquire('k');
    const waiting = locker.acquire('k');
    const refused = first.extend(0).catch((e: unknown) => e); // bad input: nothing sent, nothing counted
    expect(await first.release()).toBe(true);
    const second = await waiting;
    expect(await refused).toBeInstanceOf(InvalidArgumentError);
    // Passed on (was: counted as an extension in flight, so released in the store and granted afresh).
    expect(second.token).toBe(first.token + 1);
    expect(store.calls).toMatchObject({ acquire: 1, extend: 0, release: 0 });
    await second.release();
  });

  it('an abort signal abandons acquire promptly even while the head request is stuck in the store', async () => {
    const store = memoryStore();
    const acquire = store.acquire.bind(store);
    let sent = 0;
    store.acquire = async (request) => {
      // The first request stalls (no request timeout configured).
      if (sent++ === 0) await sleep(1_000);
      return acquire(request);
    };
    const locker = createLocker({ store });
    const pending = locker.acquire('k', { waitMs: 100, signal: AbortSignal.timeout(50) });
    const outcome = await within(pending, 400);
    // Rejected with the signal's reason at ~50 ms, not when the store answers.
    expect(outcome).toMatchObject({ status: 'rejected', reason: { name: 'TimeoutError' } });
    // The key stays busy in this locker until the stalled request settles (one request in flight per
    // key); then its grant is handed back and the next caller gets the key.
    const next = locker.acquire('k', { waitMs: 5_000 });
    await sleep(300);
    expect(sent).toBe(1);
    const lease = await next;
    expect(lease.held).toBe(true);
    expect(sent).toBe(2);
    expect(store.calls.release).toBe(1);
    await lease.release();
  });

  it('a queued waiter aborted in the turn that lets it through sends no store request', async () => {
    const store = memoryStore();
    const controller = new AbortController();
    const locker = createLocker({
      store,
      ttlMs: 1_000,
      // Aborts the waiter in the very turn the release lets it through (as a signal tied to something
      // that ends at that moment would).
      onEvent: (e) => {
        if (e.type === 'released') controller.abort(new Error('gave up'));
      },
    });
    const first = await locker.acquire('k');
    // A TTL the held lease cannot cover half of: not passed on; it goes to the store after the release.
    const waiting = locker
      .acquire('k', { ttlMs: 10_000, signal: controller.signal })
      .catch((e: unknown) => e);
    await sleep(5);
    expect(await first.release()).toBe(true);
    expect(await waiting).toMatchObject({ message: 'gave up' });
    // Was 2: a request sent after the abort, its answer awaited (the abort listener never fires on a
    // signal aborted already), and its grant handed back.
    expect(store.calls).toMatchObject({ acquire: 1, release: 1 });
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it("a queued waiter's LockTimeoutError does not report a previous holder when this locker holds the key", async () => {
    const store = memoryStore();
    const remoteToken = store.takeOver('k', 150) as number; // another process holds it for 150 ms
    const locker = createLocker({ store, ttlMs: 10_000 });
    const lease = await locker.acquire('k', { waitMs: 2_000 }); // waits the remote holder out
    const error = (await locker.acquire('k', { waitMs: 30 }).catch((e: unknown) => e)) as LockTimeoutError;
    expect(error).toBeInstanceOf(LockTimeoutError);
    // Not { token: remoteToken, remainingMs: ~150 }: that holder is long gone.
    expect(error.holder.token).not.toBe(remoteToken);
    expect(error.holder.remainingMs ?? Infinity).toBeGreaterThan(1_000);
    await lease.release();
  });

  it('a failing waitForRelease surfaces as StoreError, like every other store failure', async () => {
    const store: LockStore = {
      name: 'notifying',
      acquire: async () => ({ acquired: false, holderRemainingMs: 5_000, holderToken: 100 }),
      extend: async () => true,
      release: async () => true,
      inspect: async (key) => ({ key, held: true }),
      waitForRelease: async () => {
        throw new Error('stream reset');
      },
    };
    const error = await createLocker({ store })
      .acquire('k', { waitMs: 1_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError); // not the raw Error('stream reset')
  });
});
