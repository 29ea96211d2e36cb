import {
  createLocker,
  type Lease,
  LockLostError,
  type LockStore,
  LockTimeoutError,
  StoreError,
} from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What a store's test file hands the conformance suite: real services, real clients.
 *
 * @example
 * ```ts
 * runConformance('dynamodb', async () => {
 *   const local = await startLocalStores({ services: ['dynamodb'] });
 *   return { newStore: () => dynamoDbStore({ client: newClient(local), tableName }), ... };
 * });
 * ```
 */
export interface ConformanceHarness {
  /** A new store with its own client, as another process or Lambda instance would have. */
  newStore(): LockStore;
  /** Deletes the lock state of `key` in the backing service (row, keys, counter), as data loss would. */
  deleteState(key: string): Promise<void>;
  /** Stops the backing service abruptly, for the outage test. */
  stopService(): Promise<void>;
  /** Stops everything the harness started. */
  teardown(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let keySeq = 0;
const uniqueKey = (label: string) => `conf:${label}:${Date.now().toString(36)}:${keySeq++}`;

/**
 * Registers the store conformance suite (vitest `describe`/`it`) for one store. `setup` is called
 * once for the main suite and once more for the outage test, which stops its own services.
 *
 * @example
 * ```ts
 * import { runConformance } from '@leasehold/testkit';
 * runConformance('upstash', setupUpstashHarness);
 * ```
 */
export function runConformance(name: string, setup: () => Promise<ConformanceHarness>): void {
  describe(`${name} store conformance`, () => {
    let harness: ConformanceHarness;
    beforeAll(async () => {
      harness = await setup();
    });
    afterAll(async () => {
      await harness?.teardown();
    });
    const newLocker = (retryMaxMs = 50) =>
      createLocker({ store: harness.newStore(), ttlMs: 5_000, waitMs: 20_000, retryBaseMs: 5, retryMaxMs });

    describe('mutual exclusion', () => {
      it('keeps a non-atomic read-sleep-write counter exact with 8 contenders on separate clients', async () => {
        const key = uniqueKey('mutex');
        const contenders = Array.from({ length: 8 }, () => newLocker());
        const perContender = 4;
        let counter = 0;
        let inside = 0;
        let maxInside = 0;
        const grantOrder: number[] = [];
        await Promise.all(
          contenders.map(async (locker) => {
            for (let i = 0; i < perContender; i++) {
              await locker.withLock(key, async (lease) => {
                inside++;
                maxInside = Math.max(maxInside, inside);
                grantOrder.push(lease.token);
                const read = counter;
                await sleep(2);
                counter = read + 1;
                inside--;
              });
            }
          }),
        );
        expect(maxInside).toBe(1);
        expect(counter).toBe(8 * perContender);
        for (let i = 1; i < grantOrder.length; i++) expect(grantOrder[i]).toBeGreaterThan(grantOrder[i - 1]!);
      });

      it('the same counter loses updates without the lock (the test can fail)', async () => {
        let counter = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const read = counter;
            await sleep(2);
            counter = read + 1;
          }),
        );
        expect(counter).toBeLessThan(8);
      });

      it("grants a key that was never released only once its holder's lease has run out, not before", async () => {
        const key = uniqueKey('expiry');
        const ttlMs = 600;
        // The store's expiry counts from when it applied the grant, which is after this instant.
        const sentAt = performance.now();
        const holder = await newLocker().acquire(key, { ttlMs });
        // Asked again and again (not slept until the known expiry, as acquire would): an early grant
        // anywhere in the lease shows.
        const other = newLocker();
        let next: Lease | null = null;
        while (!next && performance.now() - sentAt < 5_000) {
          next = await other.tryAcquire(key);
          if (!next) await sleep(10);
        }
        const grantedAfter = performance.now() - sentAt;
        if (!next) throw new Error('never granted after the holder expired');
        expect(holder.held).toBe(false);
        // (1 ms of slack: the wall clock the store's expiry is written in and performance.now tick apart.)
        expect(grantedAfter).toBeGreaterThanOrEqual(ttlMs - 1);
        expect(next.token).toBeGreaterThan(holder.token);
        await next.release();
      });

      it('grants a held key to nobody else, and tryAcquire returns null', async () => {
        const key = uniqueKey('held');
        const a = newLocker();
        const b = newLocker();
        const lease = await a.acquire(key);
        expect(await b.tryAcquire(key)).toBeNull();
        await expect(b.acquire(key, { waitMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);
        await lease.release();
      });
    });

    describe('fencing tokens', () => {
      it('are safe integers strictly increasing across release, expiry and re-acquire', async () => {
        const key = uniqueKey('tokens');
        const a = newLocker();
        const b = newLocker();
        const tokens: number[] = [];
        const first = await a.acquire(key);
        tokens.push(first.token);
        await first.release();
        const second = await b.acquire(key, { ttlMs: 150 });
        tokens.push(second.token);
        await sleep(200); // let it expire un-released
        const third = await a.acquire(key, { waitMs: 2_000 });
        tokens.push(third.token);
        await third.release();
        const fourth = await b.acquire(key);
        tokens.push(fourth.token);
        await fourth.release();
        for (const t of tokens) expect(Number.isSafeInteger(t)).toBe(true);
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
      });

      it("keep increasing after the store's lock state is deleted", async () => {
        const key = uniqueKey('deleted');
        const locker = newLocker();
        const before = await locker.acquire(key);
        await before.release();
        const again = await locker.acquire(key);
        await again.release();
        await harness.deleteState(key);
        expect((await locker.inspect(key)).held).toBe(false);
        const lostAt = Date.now();
        const after = await newLocker().acquire(key);
        expect(after.token).toBeGreaterThan(again.token);
        // A new counter starts at the clock floor (epoch ms x 1000), not merely above the last token seen
        // here: tokens issued elsewhere since were above this caller's too.
        expect(after.token).toBeGreaterThanOrEqual(lostAt * 1000);
        await harness.deleteState(key); // lost while held, too
        const next = await newLocker().acquire(key);
        expect(next.token).toBeGreaterThan(after.token);
        await next.release();
      });

      it('are reported by inspect without revealing the owner', async () => {
        const key = uniqueKey('inspect');
        const locker = newLocker();
        const lease = await locker.acquire(key, { ttlMs: 3_000 });
        const state = await newLocker().inspect(key);
        expect(state).toMatchObject({ key, held: true, token: lease.token });
        expect(state.remainingMs).toBeGreaterThan(1_000);
        expect(state.remainingMs).toBeLessThanOrEqual(3_000);
        expect(Object.keys(state)).not.toContain('owner');
        await lease.release();
        const free = await locker.inspect(key);
        expect(free.held).toBe(false);
      });
    });

    describe('leases', () => {
      it('are taken over after the holder stops extending, and the old holder learns it lost', async () => {
        const key = uniqueKey('takeover');
        const a = newLocker();
        const b = newLocker();
        const old = await a.acquire(key, { ttlMs: 300 });
        const started = performance.now();
        const taken = await b.acquire(key, { waitMs: 3_000 });
        const waited = performance.now() - started;
        expect(waited).toBeGreaterThanOrEqual(200);
        expect(waited).toBeLessThan(2_000);
        expect(taken.token).toBeGreaterThan(old.token);
        expect(old.signal.aborted).toBe(true);
        await expect(old.extend()).rejects.toBeInstanceOf(LockLostError);
        expect(await old.release()).toBe(false);
        expect((await b.inspect(key)).held).toBe(true);
        await taken.release();
      });

      it('stay held while extended past their original TTL', async () => {
        const key = uniqueKey('extend');
        const lease = await newLocker().acquire(key, { ttlMs: 300 });
        for (let i = 0; i < 3; i++) {
          await sleep(150);
          await lease.extend();
        }
        expect(lease.held).toBe(true);
        expect(await newLocker().tryAcquire(key)).toBeNull();
        expect(await lease.release()).toBe(true);
      });

      it('reject extend and release by a non-owner', async () => {
        const key = uniqueKey('nonowner');
        const store = harness.newStore();
        const lease = await newLocker().acquire(key);
        const stranger = harness.newStore();
        const forged = { key, owner: 'f'.repeat(32), token: lease.token };
        expect(await stranger.extend({ ...forged, ttlMs: 60_000 })).toBe(false);
        expect(await stranger.release(forged)).toBe(false);
        expect(await store.release(forged)).toBe(false);
        expect((await newLocker().inspect(key)).held).toBe(true);
        expect(await lease.release()).toBe(true);
      });

      it('resolve a repeated acquire by the same owner as acquired (a retried, applied request)', async () => {
        const key = uniqueKey('retry');
        const store = harness.newStore();
        const owner = 'a1'.repeat(16);
        const first = await store.acquire({ key, owner, ttlMs: 5_000 });
        const retried = await store.acquire({ key, owner, ttlMs: 5_000 });
        expect(first.acquired).toBe(true);
        expect(retried.acquired).toBe(true);
        const other = await harness.newStore().acquire({ key, owner: 'b2'.repeat(16), ttlMs: 5_000 });
        expect(other.acquired).toBe(false);
        if (retried.acquired && first.acquired) {
          expect(retried.token).toBeGreaterThanOrEqual(first.token);
          expect(await store.release({ key, owner, token: retried.token })).toBe(true);
        }
      });

      it('never move the expiry back: a late, shorter extension keeps the later expiry', async () => {
        const key = uniqueKey('late-extend');
        const store = harness.newStore();
        const owner = 'd4'.repeat(16);
        const granted = await store.acquire({ key, owner, ttlMs: 2_000 });
        expect(granted.acquired).toBe(true);
        if (!granted.acquired) return;
        const lease = { key, owner, token: granted.token };
        expect(await store.extend({ ...lease, ttlMs: 30_000 })).toBe(true);
        // The answer of a shorter extension was lost and a newer one applied first: it lands late.
        expect(await store.extend({ ...lease, ttlMs: 500 })).toBe(true);
        expect((await store.inspect(key)).remainingMs).toBeGreaterThan(25_000);
        expect(await store.release(lease)).toBe(true);
      });

      it("tell a waiter the holder's remaining time", async () => {
        const key = uniqueKey('holder');
        const lease = await newLocker().acquire(key, { ttlMs: 4_000 });
        const result = await harness.newStore().acquire({ key, owner: 'c3'.repeat(16), ttlMs: 1_000 });
        expect(result.acquired).toBe(false);
        if (!result.acquired) {
          expect(result.holderRemainingMs).toBeGreaterThan(2_000);
          expect(result.holderRemainingMs).toBeLessThanOrEqual(4_000);
        }
        await lease.release();
      });
    });

    describe('waiting', () => {
      it('hands the lock to a waiter on another client promptly after release, not at expiry', async () => {
        const key = uniqueKey('prompt');
        const holder = await newLocker().acquire(key, { ttlMs: 20_000 });
        const waiter = newLocker(200);
        const pending = waiter.acquire(key, { waitMs: 15_000 });
        await sleep(300);
        const releasedAt = performance.now();
        await holder.release();
        const lease: Lease = await pending;
        const handoff = performance.now() - releasedAt;
        expect(lease.token).toBeGreaterThan(holder.token);
        // The backoff is capped at 200 ms; the holder's lease had ~20 s left.
        expect(handoff).toBeLessThan(1_000);
        await lease.release();
      });
    });

    describe('outage', () => {
      it('reports LockTimeoutError while up and StoreError once the service stops mid-test', async () => {
        const own = await setup();
        try {
          const key = uniqueKey('outage');
          const locker = (retryMaxMs = 50) =>
            createLocker({ store: own.newStore(), ttlMs: 10_000, retryBaseMs: 5, retryMaxMs });
          const lease = await locker().acquire(key);
          await expect(locker().acquire(key, { waitMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);
          const waiter = locker();
          // A wait far longer than the failure takes to surface, yet short enough that a store reporting
          // its failure as "held" fails this test by LockTimeoutError well inside its time.
          const waiting = waiter.acquire(key, { waitMs: 20_000 }).catch((e: unknown) => e);
          await sleep(150);
          const stoppedAt = performance.now();
          await own.stopService();
          const waitError = await waiting;
          expect(waitError).toBeInstanceOf(StoreError);
          expect(waitError).not.toBeInstanceOf(LockTimeoutError);
          expect(performance.now() - stoppedAt).toBeLessThan(30_000);
          const fresh = await locker()
            .acquire(uniqueKey('down'))
            .catch((e: unknown) => e);
          expect(fresh).toBeInstanceOf(StoreError);
          expect((fresh as StoreError).code).toBe('STORE_ERROR');
          await expect(lease.extend()).rejects.toBeInstanceOf(StoreError);
          await expect(lease.release()).rejects.toBeInstanceOf(StoreError);
        } finally {
          await own.teardown();
        }
      }, 90_000);
    });
  });
}
