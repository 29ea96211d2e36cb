import {
  createLocker,
  FENCE_STEP,
  type Lease,
  LockLostError,
  type LockStore,
  LockTimeoutError,
  MAX_DURATION_MS,
  MAX_KEY_BYTES,
  type StoreAcquireResult,
  StoreError,
} from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * What a store's test file hands the conformance suite: real services, real clients.
 *
 * @example
 * ```ts
 * runConformance('dynamodb', { supports: { waitForRelease: false, withdraw: true } }, async () => {
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

/**
 * The optional {@link LockStore} methods a store implements, declared by its test file (not read off the
 * store): the tests of a method run only for a store that declares it, and a test checks that the
 * store has exactly the methods it declares, so that a store losing one fails instead of skipping its
 * tests unnoticed.
 */
export interface ConformanceSupports {
  /** `waitForRelease` (and the hand-over to queued waiters, `queueMs`). */
  readonly waitForRelease: boolean;
  /** `withdraw`. */
  readonly withdraw: boolean;
}

/** What {@link runConformance} is told of the store beyond its harness. */
export interface ConformanceOptions {
  /** The optional methods the store implements: each `true` one must be a function, each `false` one absent. */
  readonly supports: ConformanceSupports;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let keySeq = 0;
const uniqueKey = (label: string) => `conf:${label}:${Date.now().toString(36)}:${keySeq++}`;
/** A lease's owner id as core makes them: a random UUID, a secret. */
const newOwner = (): string => crypto.randomUUID();

/** A lease as the store knows it: what extend and release name. */
interface StoreLease {
  readonly key: string;
  readonly owner: string;
  readonly token: number;
}

/** One acquire of `key` by a new (or the given) owner, which the store must grant. */
async function grant(store: LockStore, key: string, ttlMs = 5_000, owner = newOwner()): Promise<StoreLease> {
  const result = await store.acquire({ key, owner, ttlMs });
  if (!result.acquired) throw new Error(`"${key}" refused, expected granted: ${JSON.stringify(result)}`);
  return { key, owner, token: result.token };
}

/** Asks for `key` every 10 ms (one owner, as core's attempts do) until granted, for at most 5 s. */
async function grantOnceFree(store: LockStore, key: string, ttlMs = 5_000): Promise<StoreLease> {
  const owner = newOwner();
  const giveUpAt = performance.now() + 5_000;
  for (;;) {
    const result = await store.acquire({ key, owner, ttlMs });
    if (result.acquired) return { key, owner, token: result.token };
    if (performance.now() > giveUpAt) throw new Error(`"${key}" still refused after 5 s`);
    await sleep(10);
  }
}

/** Reads `key` every 10 ms until the store reports it free, for at most 5 s. */
async function untilFree(store: LockStore, key: string): Promise<void> {
  const giveUpAt = performance.now() + 5_000;
  while ((await store.inspect(key)).held) {
    if (performance.now() > giveUpAt) throw new Error(`"${key}" still held after 5 s`);
    await sleep(10);
  }
}

/**
 * A refusal, and what it says of the holder, when it says it: exactly the holder's token, and no more
 * time than the holder's lease of `holderTtlMs` has.
 */
function expectRefusal(result: StoreAcquireResult, holderToken: number, holderTtlMs: number): void {
  expect(result.acquired).toBe(false);
  if (result.acquired) return;
  if (result.holderToken !== undefined) expect(result.holderToken).toBe(holderToken);
  if (result.holderRemainingMs !== undefined) {
    expect(result.holderRemainingMs).toBeGreaterThanOrEqual(0);
    expect(result.holderRemainingMs).toBeLessThanOrEqual(holderTtlMs);
  }
}

/** Every text an error carries: message, stack, and its causes' (a few levels). */
function errorText(err: unknown): string {
  const texts: string[] = [];
  let e = err as { message?: unknown; stack?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; depth < 5 && e; depth++, e = e.cause as typeof e) {
    texts.push(String(e), String(e.message), String(e.stack));
  }
  return texts.join('\n');
}

/** A key of exactly `bytes` UTF-8 bytes: `head` (ASCII), then `fill` repeated, then ASCII padding and `tail`. */
function keyOfBytes(head: string, fill: string, bytes: number, tail = ''): string {
  const size = (s: string) => new TextEncoder().encode(s).length;
  let key = head;
  while (size(key) + size(fill) + tail.length <= bytes) key += fill;
  while (size(key) + tail.length < bytes) key += '-';
  return key + tail;
}

/**
 * Keys a store might mix up, all distinct, each of 1 to MAX_KEY_BYTES UTF-8 bytes, after `u` (a unique
 * key): separators and names a store might derive its own keys from, case, control characters,
 * composed and decomposed accents, 2- to 4-byte characters, keys differing only in their last byte.
 */
function unusualKeys(u: string): string[] {
  return [
    '%', // one byte (shared by the tests and runs on one service: each releases it)
    u,
    `${u}:fence`,
    `${u}:queue`,
    `${u}:released`,
    `${u}}:fence`,
    `{${u}}`,
    `${u} `,
    `${u}A`,
    `${u}a`,
    `${u}/a?b#c%d\\e,f&g=h`,
    `${u}~2F`,
    `${u}%2F`,
    `${u}\u00e9`, // é, precomposed
    `${u}e\u0301`, // é, decomposed: another key
    `${u}\t\n\u0000\u2028`,
    `${u}\u{1F512}锁`,
    keyOfBytes(u, 'k', MAX_KEY_BYTES, 'A'),
    keyOfBytes(u, 'k', MAX_KEY_BYTES, 'B'), // the same but for the last byte
    keyOfBytes(u, '\u00e9', MAX_KEY_BYTES), // 2-byte characters
    keyOfBytes(u, '\u20ac', MAX_KEY_BYTES), // 3-byte characters
    keyOfBytes(u, '\u{1F512}', MAX_KEY_BYTES), // 4-byte characters
  ];
}

/**
 * Registers the store conformance suite (vitest `describe`/`it`) for one store. `setup` is called
 * once for the main suite and once more for the outage test, which stops its own services.
 * `options.supports` declares the optional methods the store implements: the tests of an undeclared
 * one are not registered (neither run nor counted), and one test fails unless every store the
 * harness makes has exactly the declared ones.
 *
 * @example
 * ```ts
 * import { runConformance } from '@leasehold/testkit';
 * runConformance('upstash', { supports: { waitForRelease: true, withdraw: true } }, setupUpstashHarness);
 * ```
 */
export function runConformance(
  name: string,
  options: ConformanceOptions,
  setup: () => Promise<ConformanceHarness>,
): void {
  const { supports } = options;
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

    describe('declared optional methods', () => {
      it('has exactly the optional methods its test file declares (waitForRelease, withdraw)', async () => {
        // A store that lost a declared method fails here by name (its own tests fail too); one with a
        // method it does not declare fails here instead of having that method go untested.
        const store = harness.newStore();
        for (const method of ['waitForRelease', 'withdraw'] as const) {
          expect(typeof store[method], `${method}: declared ${supports[method]}`).toBe(
            supports[method] ? 'function' : 'undefined',
          );
        }
        await store.close?.();
      });
    });

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

      it('grants a free, released or run-out key to exactly one of 8 askers on separate clients at once', async () => {
        const setupStore = harness.newStore();
        const released = await grant(setupStore, uniqueKey('race-released'));
        expect(await setupStore.release(released)).toBe(true);
        const ranOut = await grant(setupStore, uniqueKey('race-ran-out'), 100);
        await untilFree(setupStore, ranOut.key);
        const askers = Array.from({ length: 8 }, () => harness.newStore());
        const cases: Array<[string, string, number?]> = [
          ['never granted', uniqueKey('race-new')],
          ['released', released.key, released.token],
          ['ran out', ranOut.key, ranOut.token],
        ];
        await Promise.all(
          cases.map(async ([label, key, before]) => {
            const owners = askers.map(() => newOwner());
            const results = await Promise.all(
              askers.map((s, i) => s.acquire({ key, owner: owners[i]!, ttlMs: 5_000 })),
            );
            const winners = results.flatMap((r, i) =>
              r.acquired ? [{ key, owner: owners[i]!, token: r.token }] : [],
            );
            expect(winners.length, label).toBe(1);
            const winner = winners[0]!;
            if (before !== undefined) expect(winner.token, label).toBeGreaterThanOrEqual(before + FENCE_STEP);
            for (const result of results) if (!result.acquired) expectRefusal(result, winner.token, 5_000);
            expect(await harness.newStore().inspect(key), label).toMatchObject({
              held: true,
              token: winner.token,
            });
            expect(await setupStore.release(winner), label).toBe(true);
          }),
        );
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

      it('advance by at least FENCE_STEP per grant, across release and expiry (core hands out the tokens in between)', async () => {
        const key = uniqueKey('step');
        const a = harness.newStore();
        const b = harness.newStore();
        const tokens: number[] = [];
        const first = await grant(a, key);
        tokens.push(first.token);
        expect(await a.release(first)).toBe(true);
        const second = await grant(b, key, 150);
        tokens.push(second.token);
        const third = await grantOnceFree(a, key); // once the second ran out, un-released
        tokens.push(third.token);
        expect(await a.release(third)).toBe(true);
        // Through core: a release passes the lease to a local waiter with the next token, no store request;
        // the store's next grant is above that one too.
        const locker = createLocker({ store: harness.newStore(), ttlMs: 5_000 });
        const held = await locker.acquire(key);
        tokens.push(held.token);
        const queued = locker.acquire(key, { waitMs: 5_000 });
        await sleep(20);
        await held.release();
        const passed = await queued;
        expect(passed.token).toBeGreaterThan(held.token);
        await passed.release();
        const fourth = await grant(b, key);
        expect(fourth.token).toBeGreaterThan(passed.token);
        tokens.push(fourth.token);
        expect(await b.release(fourth)).toBe(true);
        for (let i = 1; i < tokens.length; i++) {
          expect(tokens[i]! - tokens[i - 1]!).toBeGreaterThanOrEqual(FENCE_STEP);
        }
      });

      it('are named exactly in a refusal, also after the key changed hands', async () => {
        const key = uniqueKey('refusal');
        const asker = harness.newStore();
        const owner = newOwner();
        const holders = harness.newStore();
        const first = await grant(holders, key, 20_000);
        expectRefusal(await asker.acquire({ key, owner, ttlMs: 1_000 }), first.token, 20_000);
        expect(await holders.release(first)).toBe(true);
        const second = await grant(holders, key, 3_000);
        // Not the last token this client saw, nor the first holder's time: the current holder's.
        expectRefusal(await asker.acquire({ key, owner, ttlMs: 1_000 }), second.token, 3_000);
        expect(await holders.release(second)).toBe(true);
      });

      it('are kept by inspect once released, and inspect reveals the owner id in no field', async () => {
        const key = uniqueKey('inspect-owner');
        const owner = newOwner();
        const store = harness.newStore();
        const lease = await grant(store, key, 4_000, owner);
        const state = await harness.newStore().inspect(key);
        expect(JSON.stringify(state)).not.toContain(owner);
        expect(state).toMatchObject({ key, held: true, token: lease.token });
        expect(state.expiresAt).toBeGreaterThan(Date.now() - 100);
        expect(state.expiresAt).toBeLessThanOrEqual(Date.now() + 4_000 + 100);
        expect(state.remainingMs).toBeLessThanOrEqual(4_000);
        expect(await store.release(lease)).toBe(true);
        const free = await harness.newStore().inspect(key);
        expect(JSON.stringify(free)).not.toContain(owner);
        // The contract: the last token issued, held or not, while the store has it; expiry only when held.
        expect(free).toMatchObject({ key, held: false, token: lease.token });
        expect(free.expiresAt).toBeUndefined();
        expect(free.remainingMs).toBeUndefined();
      });

      it('rise above every earlier grant when an owner acquires again after its lease ran out, also after others held the key', async () => {
        const key = uniqueKey('owner-again');
        const a = harness.newStore();
        const b = harness.newStore();
        const owner = newOwner();
        const first = await grant(a, key, 150, owner);
        await untilFree(b, key);
        // Its lease ran out: the owner holds nothing, so a new grant is a new lease with a new token.
        const second = await grant(a, key, 150, owner);
        expect(second.token).toBeGreaterThanOrEqual(first.token + FENCE_STEP);
        await untilFree(b, key);
        const other = await grant(b, key);
        expect(other.token).toBeGreaterThanOrEqual(second.token + FENCE_STEP);
        expect(await b.release(other)).toBe(true);
        // Another owner held the key since: the owner's token is above that one, never its own old one.
        const third = await grant(a, key, 5_000, owner);
        expect(third.token).toBeGreaterThanOrEqual(other.token + FENCE_STEP);
        // Acquired again while held: its token or a new one; the next grant to anyone is above either.
        const repeated = await grant(a, key, 5_000, owner);
        expect(repeated.token === third.token || repeated.token >= third.token + FENCE_STEP).toBe(true);
        expect(await b.inspect(key)).toMatchObject({ held: true, token: repeated.token });
        expect(await a.release(repeated)).toBe(true);
        const next = await grant(b, key);
        expect(next.token).toBeGreaterThanOrEqual(repeated.token + FENCE_STEP);
        expect(await b.release(next)).toBe(true);
      });

      it('name no owner id in a refusal, and report a key never granted or run out as free: no owner id, no expiry', async () => {
        const key = uniqueKey('secret');
        const store = harness.newStore();
        const reader = harness.newStore();
        // Never granted: free, and no token, expiry or remaining time to report.
        expect(await reader.inspect(key)).toEqual({ key, held: false });
        const lease = await grant(store, key, 200);
        // The refused asker is another client: with the holder's owner id it could release the lease.
        const refused = await harness.newStore().acquire({ key, owner: newOwner(), ttlMs: 1_000 });
        expectRefusal(refused, lease.token, 200);
        expect(JSON.stringify(refused)).not.toContain(lease.owner);
        await untilFree(reader, key);
        // Ran out, never released: not held, so no expiry; the token kept (or forgotten), no owner.
        const lapsed = await reader.inspect(key);
        expect(JSON.stringify(lapsed)).not.toContain(lease.owner);
        expect(lapsed).toMatchObject({ key, held: false });
        if (lapsed.token !== undefined) expect(lapsed.token).toBe(lease.token);
        expect(lapsed.expiresAt).toBeUndefined();
        expect(lapsed.remainingMs).toBeUndefined();
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
          // The same grant (its token), or a new one above every token issued (FENCE_STEP up).
          expect(retried.token === first.token || retried.token >= first.token + FENCE_STEP).toBe(true);
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

      it('never cut a lease short by a repeated acquire of its owner with a shorter TTL (a late copy)', async () => {
        const key = uniqueKey('late-acquire');
        const store = harness.newStore();
        const owner = newOwner();
        const first = await grant(store, key, 30_000, owner);
        const again = await store.acquire({ key, owner, ttlMs: 300 });
        let token = first.token;
        if (again.acquired) {
          expect(again.token === first.token || again.token >= first.token + FENCE_STEP).toBe(true);
          token = again.token;
        } else {
          // Refusing a copy that would shorten the lease is fine; naming another holder is not.
          expectRefusal(again, first.token, 30_000);
        }
        expect((await harness.newStore().inspect(key)).remainingMs).toBeGreaterThan(25_000);
        expect((await harness.newStore().acquire({ key, owner: newOwner(), ttlMs: 1_000 })).acquired).toBe(
          false,
        );
        expect(await store.release({ key, owner, token })).toBe(true);
      });

      it('answer false and change nothing when extended or released after they ran out, were taken or released', async () => {
        const key = uniqueKey('spent');
        const store = harness.newStore();
        const old = await grant(store, key, 150);
        await untilFree(store, key);
        // Ran out, nobody took it since: not revived, not "released".
        expect(await store.extend({ ...old, ttlMs: 60_000 })).toBe(false);
        expect((await store.inspect(key)).held).toBe(false);
        expect(await store.release(old)).toBe(false);
        // Taken by someone else: the old holder's calls leave the new lease as it is.
        const other = harness.newStore();
        const next = await grant(other, key, 20_000);
        const before = await other.inspect(key);
        expect(await store.extend({ ...old, ttlMs: 60_000 })).toBe(false);
        expect(await store.release(old)).toBe(false);
        const after = await other.inspect(key);
        expect(after).toMatchObject({ held: true, token: next.token });
        expect(after.remainingMs).toBeLessThanOrEqual(before.remainingMs!);
        // Released: released once only, and not extended back to life.
        expect(await other.release(next)).toBe(true);
        expect(await other.release(next)).toBe(false);
        expect(await other.extend({ ...next, ttlMs: 60_000 })).toBe(false);
        expect((await store.inspect(key)).held).toBe(false);
      });

      it('leave the holder, its token and its expiry as they were when refusing an acquire, whatever TTL it asks', async () => {
        const key = uniqueKey('refused');
        const store = harness.newStore();
        const sentAt = performance.now();
        const holder = await grant(store, key, 2_000);
        const grantedBy = performance.now();
        const askers = harness.newStore();
        // Longer than the holder's lease, the shortest core sends, and shorter: each refused alike.
        for (const ttlMs of [60_000, 3, 300]) {
          expectRefusal(await askers.acquire({ key, owner: newOwner(), ttlMs }), holder.token, 2_000);
        }
        await sleep(350); // past the shorter asks' leases
        const readAt = performance.now();
        const state = await harness.newStore().inspect(key);
        const readBy = performance.now();
        expect(state).toMatchObject({ held: true, token: holder.token });
        // Neither moved out (by the 60 s ask) nor in: bounds from this side's clock, 5 ms for the store's.
        expect(state.remainingMs).toBeLessThanOrEqual(2_000 - (readAt - grantedBy) + 5);
        expect(state.remainingMs).toBeGreaterThanOrEqual(2_000 - (readBy - sentAt) - 5);
        expect(await store.extend({ ...holder, ttlMs: 2_000 })).toBe(true);
        expect(await store.release(holder)).toBe(true);
      });

      it("change nothing when another owner presents the holder's token to extend or release it", async () => {
        const key = uniqueKey('stranger');
        const store = harness.newStore();
        const holder = await grant(store, key, 2_000);
        const grantedBy = performance.now();
        const stranger = harness.newStore();
        // One differing from the holder's in its last character only, and an unrelated one.
        const near = holder.owner.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
        for (const owner of [near, newOwner()]) {
          expect(await stranger.extend({ key, owner, token: holder.token, ttlMs: 60_000 })).toBe(false);
          expect(await stranger.extend({ key, owner, token: holder.token, ttlMs: 3 })).toBe(false);
          expect(await stranger.release({ key, owner, token: holder.token })).toBe(false);
        }
        const readAt = performance.now();
        const state = await stranger.inspect(key);
        expect(state).toMatchObject({ held: true, token: holder.token });
        expect(state.remainingMs).toBeLessThanOrEqual(2_000 - (readAt - grantedBy) + 5);
        expect(await store.extend({ ...holder, ttlMs: 2_000 })).toBe(true);
        expect(await store.release(holder)).toBe(true);
      });

      it("answer the holder's owner with a token it was not granted as its lease's or with false, never half-done", async () => {
        const key = uniqueKey('wrong-token');
        const store = harness.newStore();
        const reader = harness.newStore();
        const holder = await grant(store, key, 2_000);
        const grantedBy = performance.now();
        // A store may recognise the lease by its owner alone (true, and done), or check the token (false,
        // and nothing changed); not answer one and do the other.
        /** The latest expiry the lease may have: `ttlMs` from `from` (when its grant or extension was answered). */
        let upTo = { ttlMs: 2_000, from: grantedBy };
        for (const token of [holder.token + 1, holder.token - FENCE_STEP]) {
          const since = performance.now();
          const extended = await store.extend({ key, owner: holder.owner, token, ttlMs: 20_000 });
          const answeredBy = performance.now();
          const state = await reader.inspect(key);
          expect(state).toMatchObject({ held: true, token: holder.token });
          if (extended) {
            expect(state.remainingMs).toBeGreaterThanOrEqual(20_000 - (performance.now() - since) - 5);
            upTo = { ttlMs: 20_000, from: answeredBy };
          } else {
            expect(state.remainingMs).toBeLessThanOrEqual(upTo.ttlMs - (answeredBy - upTo.from) + 5);
          }
        }
        const released = await store.release({ key, owner: holder.owner, token: holder.token + 1 });
        expect(await reader.inspect(key)).toMatchObject({ held: !released, token: holder.token });
        expect(await store.release(holder)).toBe(!released);
      });

      it('hold the lock until at least now + TTL when its owner acquires it again with a longer TTL', async () => {
        const key = uniqueKey('again-longer');
        const store = harness.newStore();
        const owner = newOwner();
        const first = await grant(store, key, 300, owner);
        const since = performance.now();
        // A later attempt of the same owner (core's retry, or its next attempt) asks for a longer lease.
        const again = await grant(store, key, 20_000, owner);
        expect(again.token === first.token || again.token >= first.token + FENCE_STEP).toBe(true);
        const state = await harness.newStore().inspect(key);
        expect(state).toMatchObject({ held: true, token: again.token });
        expect(state.remainingMs).toBeGreaterThanOrEqual(20_000 - (performance.now() - since) - 5);
        expect(state.remainingMs).toBeLessThanOrEqual(20_000);
        expectRefusal(
          await harness.newStore().acquire({ key, owner: newOwner(), ttlMs: 1_000 }),
          again.token,
          20_000,
        );
        expect(await store.release(again)).toBe(true);
      });
    });

    describe('keys and durations', () => {
      it('keep keys of unusual characters and lengths (1 to MAX_KEY_BYTES UTF-8 bytes) apart', async () => {
        const u = uniqueKey('keys');
        const keys = unusualKeys(u);
        expect(new Set(keys).size).toBe(keys.length);
        for (const key of keys)
          expect(new TextEncoder().encode(key).length).toBeLessThanOrEqual(MAX_KEY_BYTES);
        const store = harness.newStore();
        const reader = harness.newStore();
        // Every key granted at once (none held by another's grant), each with its own token.
        const leases = await Promise.all(keys.map((key) => grantOnceFree(store, key, 10_000)));
        const states = await Promise.all(keys.map((key) => reader.inspect(key)));
        states.forEach((state, i) => {
          expect(state, JSON.stringify(keys[i])).toMatchObject({
            key: keys[i],
            held: true,
            token: leases[i]!.token,
          });
        });
        // Releasing every other key frees those only.
        const even = (i: number) => i % 2 === 0;
        await Promise.all(
          leases.map(async (lease, i) => even(i) && expect(await store.release(lease)).toBe(true)),
        );
        const after = await Promise.all(keys.map((key) => reader.inspect(key)));
        after.forEach((state, i) => {
          expect(state.held, JSON.stringify(keys[i])).toBe(!even(i));
        });
        // And a new grant of each key continues that key's own tokens.
        const again = await Promise.all(
          keys.map(async (key, i) => (even(i) ? grant(store, key, 10_000) : leases[i]!)),
        );
        again.forEach((lease, i) => {
          if (even(i))
            expect(lease.token - leases[i]!.token, JSON.stringify(keys[i])).toBeGreaterThanOrEqual(
              FENCE_STEP,
            );
        });
        await Promise.all(again.map(async (lease) => expect(await store.release(lease)).toBe(true)));
      });

      it("extend and release only the named key's lease, among keys of unusual characters", async () => {
        const keys = unusualKeys(uniqueKey('keys-leases'));
        const store = harness.newStore();
        const reader = harness.newStore();
        const leases = await Promise.all(keys.map((key) => grantOnceFree(store, key, 2_000)));
        const grantedBy = performance.now();
        // Each key named with the lease of the next key (its owner and token): refused, nothing changed.
        const next = (i: number) => leases[(i + 1) % leases.length]!;
        const crossed = await Promise.all(
          keys.map(async (key, i) => [
            await store.extend({ ...next(i), key, ttlMs: 60_000 }),
            await store.release({ ...next(i), key }),
          ]),
        );
        expect(crossed).toEqual(keys.map(() => [false, false]));
        // Every other key extended with its own lease: that key's lease only.
        const even = (i: number) => i % 2 === 0;
        const extended = await Promise.all(
          leases.map(async (lease, i) => !even(i) || (await store.extend({ ...lease, ttlMs: 20_000 }))),
        );
        expect(extended).toEqual(keys.map(() => true));
        const readAt = performance.now();
        const states = await Promise.all(keys.map((key) => reader.inspect(key)));
        states.forEach((state, i) => {
          const label = JSON.stringify(keys[i]);
          expect(state, label).toMatchObject({ key: keys[i], held: true, token: leases[i]!.token });
          if (even(i)) expect(state.remainingMs, label).toBeGreaterThan(15_000);
          else expect(state.remainingMs, label).toBeLessThanOrEqual(2_000 - (readAt - grantedBy) + 5);
        });
        const released = await Promise.all(leases.map((lease) => store.release(lease)));
        expect(released).toEqual(keys.map(() => true));
      });
      it('serve a new client whose first calls, on many keys, all come at once (a cold start)', async () => {
        const store = harness.newStore();
        const keys = Array.from({ length: 12 }, (_, i) => uniqueKey(`cold-${i}`));
        const leases = await Promise.all(keys.map((key) => grant(store, key, 10_000)));
        const states = await Promise.all(keys.map((key) => harness.newStore().inspect(key)));
        states.forEach((state, i) => {
          expect(state).toMatchObject({ key: keys[i], held: true, token: leases[i]!.token });
        });
        const released = await Promise.all(leases.map((lease) => store.release(lease)));
        expect(released).toEqual(keys.map(() => true));
      });
      it('count TTLs in milliseconds, not whole seconds, for acquire, extend and refusals', async () => {
        const key = uniqueKey('ms');
        const store = harness.newStore();
        // Bounds from this side's clock: never wrong, however late the answers come (a 5 ms tolerance for
        // the stores' clocks); a store rounding up (2 s) or down (1 s) to whole seconds fails them.
        const within = (remaining: number, ttlMs: number, since: number) => {
          expect(remaining).toBeLessThanOrEqual(ttlMs);
          expect(remaining).toBeGreaterThanOrEqual(ttlMs - (performance.now() - since) - 5);
        };
        let since = performance.now();
        const lease = await grant(store, key, 1_900);
        within((await store.inspect(key)).remainingMs!, 1_900, since);
        const refused = await harness.newStore().acquire({ key, owner: newOwner(), ttlMs: 1_000 });
        expect(refused.acquired).toBe(false);
        if (!refused.acquired && refused.holderRemainingMs !== undefined) {
          within(refused.holderRemainingMs, 1_900, since);
        }
        since = performance.now();
        expect(await store.extend({ ...lease, ttlMs: 2_700 })).toBe(true);
        within((await store.inspect(key)).remainingMs!, 2_700, since);
        expect(await store.release(lease)).toBe(true);
      });
      it('grant leases of a few ms (what core asks near a Lambda deadline) up to one day', async () => {
        const short = uniqueKey('ttl-3ms');
        const store = harness.newStore();
        // Core sends any whole TTL above its drift allowance: 3 ms is the shortest.
        const tiny = await grant(store, short, 3);
        const state = await store.inspect(short);
        if (state.held) expect(state.remainingMs).toBeLessThanOrEqual(3);
        const other = harness.newStore();
        const next = await grantOnceFree(other, short);
        expect(next.token).toBeGreaterThanOrEqual(tiny.token + FENCE_STEP);
        expect(await other.release(next)).toBe(true);
        const long = uniqueKey('ttl-day');
        const since = performance.now();
        const day = await grant(store, long, MAX_DURATION_MS);
        const held = await store.inspect(long);
        expect(held.remainingMs).toBeLessThanOrEqual(MAX_DURATION_MS);
        expect(held.remainingMs).toBeGreaterThanOrEqual(MAX_DURATION_MS - (performance.now() - since) - 5);
        expect(await store.extend({ ...day, ttlMs: MAX_DURATION_MS })).toBe(true);
        expect(await store.extend({ ...day, ttlMs: 3 })).toBe(true); // never moved back
        expect((await store.inspect(long)).remainingMs).toBeGreaterThan(MAX_DURATION_MS - 60_000);
        expect(await store.release(day)).toBe(true);
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
        const lease = await pending;
        const handoff = performance.now() - releasedAt;
        expect(lease.token).toBeGreaterThan(holder.token);
        // The backoff is capped at 200 ms; the holder's lease had ~20 s left.
        expect(handoff).toBeLessThan(1_000);
        await lease.release();
      });
      // The optional methods: a store without waitForRelease (core polls) cannot hand locks over. Its
      // tests are registered only for a store declaring it (and one declaring it must have it).
      if (!supports.waitForRelease) return;
      /** A new store, its waitForRelease checked present (a TypeError otherwise, failing the test). */
      const waitingStore = () => {
        const store = harness.newStore();
        if (typeof store.waitForRelease !== 'function') {
          throw new TypeError(`${store.name} declares waitForRelease but has none`);
        }
        return store as LockStore & Required<Pick<LockStore, 'waitForRelease'>>;
      };
      it('waitForRelease resolves soon after a release, at its timeout, and on abort, never rejecting for them', async () => {
        const store = waitingStore();
        const holders = harness.newStore();
        const [timedKey, releasedKey, abortedKey] = ['wait-timeout', 'wait-release', 'wait-abort'].map(
          uniqueKey,
        );
        const [, released] = await Promise.all(
          [timedKey, releasedKey, abortedKey].map((key) => grant(holders, key!, 20_000)),
        );
        /** How long the wait took and what it resolved with. */
        const timed = async (wait: Promise<unknown>) => {
          const start = performance.now();
          const value = await wait;
          return { ms: performance.now() - start, end: performance.now(), value };
        };
        const aborter = new AbortController();
        const waits = Promise.all([
          timed(store.waitForRelease(timedKey!, 600)),
          timed(store.waitForRelease(releasedKey!, 20_000)),
          timed(store.waitForRelease(abortedKey!, 20_000, aborter.signal)),
        ]);
        await sleep(300);
        const releasedAt = performance.now();
        expect(await holders.release(released!)).toBe(true);
        aborter.abort(new Error('caller gave up'));
        const abortedAt = performance.now();
        const [timeout, release, abort] = await waits;
        // At its timeout: not at once (core would spin on the store), not never (core would hang).
        expect(timeout.ms).toBeGreaterThanOrEqual(300);
        expect(timeout.ms).toBeLessThan(10_000);
        expect(release.end - releasedAt).toBeLessThan(5_000); // its timeout was 20 s
        expect(abort.end - abortedAt).toBeLessThan(5_000);
        // Without a claim nothing is handed over: no token.
        for (const { value } of [timeout, release, abort]) expect(value).toBeUndefined();
        await store.close?.();
      });

      it('waitForRelease resolves at once for a key already free when it is called, and for a signal already aborted', async () => {
        const store = waitingStore();
        const holders = harness.newStore();
        /** How long a wait took to settle (resolved or rejected), and what it resolved with. */
        const settle = async (wait: Promise<unknown>) => {
          const start = performance.now();
          const value = await wait.catch((e: unknown) => e);
          return { ms: performance.now() - start, value };
        };
        // Released between the refused acquire that precedes a wait and the wait: its announcement was
        // missed, yet the key is free (core would otherwise wait out its timeout on a free key).
        const key = uniqueKey('wait-missed');
        const lease = await grant(holders, key, 20_000);
        expect((await store.acquire({ key, owner: newOwner(), ttlMs: 1_000 })).acquired).toBe(false);
        expect(await holders.release(lease)).toBe(true);
        const missed = await settle(store.waitForRelease(key, 10_000));
        expect(missed.ms).toBeLessThan(3_000);
        expect(missed.value).toBeUndefined();
        const never = await settle(store.waitForRelease(uniqueKey('wait-never'), 10_000));
        expect(never.ms).toBeLessThan(3_000);
        expect(never.value).toBeUndefined();
        // Aborted before the call (an abort listener added now never fires): settles at once, either way.
        const held = await grant(holders, uniqueKey('wait-pre-aborted'), 20_000);
        const aborted = await settle(
          store.waitForRelease(held.key, 10_000, AbortSignal.abort(new Error('gone'))),
        );
        expect(aborted.ms).toBeLessThan(1_000);
        expect(typeof aborted.value).not.toBe('number');
        expect(await holders.release(held)).toBe(true);
        await store.close?.();
      });
      it("hands a lock over on release only above the holder's token and for the TTL the waiter asked", async () => {
        const store = waitingStore();
        const key = uniqueKey('handover');
        const holders = harness.newStore();
        const holder = await grant(holders, key, 20_000);
        const owner = newOwner();
        const refused = await store.acquire({ key, owner, ttlMs: 20_000, queueMs: 10_000 });
        expectRefusal(refused, holder.token, 20_000);
        const above = (!refused.acquired && refused.holderToken) || holder.token;
        const waiting = store.waitForRelease(key, 10_000, undefined, { owner, above });
        await sleep(300);
        expect(await holders.release(holder)).toBe(true);
        const handed = await waiting;
        // Handed over (a number), or not: then the waiter's next acquire finds the lock free or its own.
        const token = typeof handed === 'number' ? handed : (await grant(store, key, 20_000, owner)).token;
        expect(token).toBeGreaterThanOrEqual(holder.token + FENCE_STEP);
        const state = await harness.newStore().inspect(key);
        expect(state).toMatchObject({ held: true, token });
        // Core counts the lease from the queued request's send time with the TTL it asked for.
        expect(state.remainingMs).toBeGreaterThan(15_000);
        expectRefusal(
          await harness.newStore().acquire({ key, owner: newOwner(), ttlMs: 1_000, queueMs: 0 }),
          token,
          20_000,
        );
        expect(await store.extend({ key, owner, token, ttlMs: 20_000 })).toBe(true);
        expect(await store.release({ key, owner, token })).toBe(true);
        await store.close?.();
      });
      it('hands a lock over only to a waiter still queued: not one that asked without queueMs, withdrew or ran out', async () => {
        const store = waitingStore();
        const holders = harness.newStore();
        const reader = harness.newStore();
        /** `key` is held, `waiter` asks for it (queued for `queueMs`) and then does `meanwhile`; the holder releases. */
        const scenario = async (
          label: string,
          queueMs: number | undefined,
          meanwhile: (key: string, owner: string) => Promise<unknown>,
          afterRelease?: (key: string, owner: string) => Promise<unknown>,
        ) => {
          const key = uniqueKey(label);
          const holder = await grant(holders, key, 20_000);
          const owner = newOwner();
          const request = { key, owner, ttlMs: 20_000 };
          const refused = await store.acquire(queueMs === undefined ? request : { ...request, queueMs });
          expect(refused.acquired).toBe(false);
          await meanwhile(key, owner);
          expect(await holders.release(holder)).toBe(true);
          await afterRelease?.(key, owner);
          // Free: nobody is left with a lock that no caller will ever use (it would block the key a TTL).
          expect((await reader.inspect(key)).held, label).toBe(false);
        };
        const withdraw = (key: string, owner: string) => store.withdraw!(key, owner);
        await Promise.all([
          scenario('no-queue', undefined, async () => {}),
          scenario('ran-out', 100, () => sleep(1_000)),
          ...(supports.withdraw
            ? [
                scenario('withdrew', 10_000, withdraw),
                scenario('withdrew-late', 10_000, async () => {}, withdraw), // handed over, then withdrawn
              ]
            : []),
        ]);
        // Withdrawing an owner that is not queued leaves the holder's lease alone.
        if (supports.withdraw) {
          const key = uniqueKey('withdraw-stranger');
          const holder = await grant(holders, key, 20_000);
          await withdraw(key, newOwner());
          await withdraw(
            key,
            holder.owner.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
          );
          expect(await reader.inspect(key)).toMatchObject({ held: true, token: holder.token });
          expect(await holders.release(holder)).toBe(true);
        }
        await store.close?.();
      });
    });
    describe('withdraw', () => {
      // Core withdraws the owner of an acquire that failed with its outcome unknown: a store that can
      // must free the grant if it was applied, and touch nothing else. Registered only for a store
      // declaring withdraw (and one declaring it must have it).
      if (!supports.withdraw) return;
      /** A new store, its withdraw checked present (a TypeError otherwise, failing the test). */
      const withdrawingStore = () => {
        const store = harness.newStore();
        if (typeof store.withdraw !== 'function') {
          throw new TypeError(`${store.name} declares withdraw but has none`);
        }
        return store as LockStore & Required<Pick<LockStore, 'withdraw'>>;
      };
      it("frees a grant held by the withdrawn owner, and leaves another owner's lease alone", async () => {
        const store = withdrawingStore();
        const orphanKey = uniqueKey('withdraw-granted');
        const orphan = await grant(store, orphanKey, 20_000);
        await store.withdraw(orphanKey, orphan.owner);
        const reader = harness.newStore();
        expect((await reader.inspect(orphanKey)).held).toBe(false);
        // Free at once, not after the 20 s TTL, and the fence kept.
        const next = await grant(reader, orphanKey);
        expect(next.token).toBeGreaterThanOrEqual(orphan.token + FENCE_STEP);
        expect(await reader.release(next)).toBe(true);

        const key = uniqueKey('withdraw-other');
        const holder = await grant(store, key, 20_000);
        await store.withdraw(key, newOwner());
        await store.withdraw(key, orphan.owner);
        expect(await reader.inspect(key)).toMatchObject({ held: true, token: holder.token });
        expect(await store.release(holder)).toBe(true);
        await store.close?.();
        await reader.close?.();
      });

      it('leaves alone the lease of an owner that took the key after the withdrawn one lost it, and settles on a free key', async () => {
        const store = withdrawingStore();
        const reader = harness.newStore();
        const key = uniqueKey('withdraw-lost');
        const lost = await grant(store, key, 100);
        await untilFree(reader, key);
        const holder = await grant(reader, key, 2_000);
        const grantedBy = performance.now();
        await store.withdraw(key, lost.owner);
        const readAt = performance.now();
        const state = await reader.inspect(key);
        expect(state).toMatchObject({ held: true, token: holder.token });
        expect(state.remainingMs).toBeLessThanOrEqual(2_000 - (readAt - grantedBy) + 5);
        // A withdrawn grant stays withdrawn: its owner's extend and release find nothing to act on.
        const orphanKey = uniqueKey('withdraw-orphan');
        const orphan = await grant(store, orphanKey, 20_000);
        await store.withdraw(orphanKey, orphan.owner);
        expect(await store.extend({ ...orphan, ttlMs: 20_000 })).toBe(false);
        expect(await store.release(orphan)).toBe(false);
        expect((await reader.inspect(orphanKey)).held).toBe(false);
        // On a free key (withdrawn twice, released, never granted): resolves, and the key stays free.
        expect(await reader.release(holder)).toBe(true);
        for (const [k, owner] of [
          [orphanKey, orphan.owner],
          [key, holder.owner],
          [key, newOwner()],
          [uniqueKey('withdraw-never'), newOwner()],
        ] as const) {
          await store.withdraw(k, owner);
          expect((await reader.inspect(k)).held).toBe(false);
        }
        expect((await reader.inspect(key)).token).toBe(holder.token);
        await store.close?.();
        await reader.close?.();
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
          // The store itself, without core (which wraps whatever a store throws in a StoreError).
          const raw = own.newStore();
          const rawLease = await grant(raw, uniqueKey('down-raw'), 30_000);
          await expect(locker().acquire(key, { waitMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);
          const waiter = locker();
          // A wait far longer than the failure takes to surface, yet short enough that a store reporting
          // its failure as "held" fails this test by LockTimeoutError well inside its time.
          const waiting = waiter.acquire(key, { waitMs: 20_000 }).catch((e) => e);
          await sleep(150);
          const stoppedAt = performance.now();
          await own.stopService();
          const waitError = await waiting;
          expect(waitError).toBeInstanceOf(StoreError);
          expect(waitError).not.toBeInstanceOf(LockTimeoutError);
          expect(performance.now() - stoppedAt).toBeLessThan(30_000);
          const fresh = await locker()
            .acquire(uniqueKey('down'))
            .catch((e) => e);
          expect(fresh).toBeInstanceOf(StoreError);
          expect(fresh.code).toBe('STORE_ERROR');
          await expect(lease.extend()).rejects.toBeInstanceOf(StoreError);
          await expect(lease.release()).rejects.toBeInstanceOf(StoreError);
          const asker = newOwner();
          const calls: Array<[string, () => Promise<unknown>]> = [
            ['acquire', () => raw.acquire({ key: rawLease.key, owner: asker, ttlMs: 1_000 })],
            ['extend', () => raw.extend({ ...rawLease, ttlMs: 30_000 })],
            ['release', () => raw.release(rawLease)],
            ['inspect', () => raw.inspect(rawLease.key)],
            // Core withdraws after a failed acquire: a failure of withdraw is a StoreError too.
            ...(supports.withdraw
              ? ([['withdraw', () => raw.withdraw!(rawLease.key, asker)]] as Array<
                  [string, () => Promise<unknown>]
                >)
              : []),
          ];
          for (const [op, call] of calls) {
            const error = await call().then(
              (answer: unknown) => new Error(`answered ${JSON.stringify(answer)}`),
              (e: unknown) => e,
            );
            // Rejected (never an answer such as "held"), with a StoreError of this store...
            expect(error, op).toBeInstanceOf(StoreError);
            const storeError = error as StoreError;
            expect(storeError.store, op).toBe(raw.name);
            // ... of a kind that says "retry later": the service is down, not misconfigured.
            expect(storeError.retryable, `${op}: ${storeError.kind}`).toBe(true);
            // ... and no secret in its message, stack or causes.
            for (const secret of [asker, rawLease.owner]) expect(errorText(error), op).not.toContain(secret);
          }
          // A wait with the service down settles (resolves or fails), never hangs past its timeout.
          if (supports.waitForRelease) {
            const timedOut = Symbol('still waiting');
            const startedAt = performance.now();
            const settled = await Promise.race([
              raw.waitForRelease!(rawLease.key, 500, undefined, { owner: asker, above: rawLease.token }).then(
                () => 'resolved',
                (e: unknown) => e,
              ),
              sleep(5_000).then(() => timedOut),
            ]);
            expect(settled, 'waitForRelease').not.toBe(timedOut);
            expect(performance.now() - startedAt).toBeLessThan(5_000);
            if (settled !== 'resolved') {
              expect(settled, 'waitForRelease').toBeInstanceOf(StoreError);
              for (const secret of [asker, rawLease.owner]) expect(errorText(settled)).not.toContain(secret);
            }
            await raw.close?.();
          }
        } finally {
          await own.teardown();
        }
      }, 90_000);
    });
  });
}
