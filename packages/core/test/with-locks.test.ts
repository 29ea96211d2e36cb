import { describe, expect, it } from 'vitest';
import {
  createLocker,
  InvalidArgumentError,
  type Lease,
  type LockEvent,
  LockLostError,
  LockTimeoutError,
  withLocks,
} from '../src/index.js';
import { type AppliedOp, memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A locker over a fresh memory store that records the operations it applies. */
function setup(options: { announceReleases?: boolean } = {}) {
  const store = memoryStore(options);
  const applied: AppliedOp[] = [];
  store.onApply = (op) => applied.push(op);
  const locker = createLocker({ store, ttlMs: 2_000, retryBaseMs: 2, retryMaxMs: 10 });
  return { store, applied, locker };
}

describe('withLocks', () => {
  it('acquires in sorted order, hands the leases over in the order given, and releases them all', async () => {
    const { store, applied, locker } = setup();
    const out = await withLocks(locker, ['b', 'c', 'a'], (leases) => {
      expect(leases.map((l) => l.key)).toEqual(['b', 'c', 'a']);
      expect(leases.every((l) => l.held)).toBe(true);
      return leases.map((l) => l.token);
    });
    expect(out).toEqual(['b', 'c', 'a'].map((k) => store.rows.get(k)!.fence));
    expect(applied.filter((op) => op.op === 'acquire').map((op) => op.key)).toEqual(['a', 'b', 'c']);
    // Released innermost first, every one of them.
    expect(applied.filter((op) => op.op === 'release').map((op) => [op.key, op.ok])).toEqual([
      ['c', true],
      ['b', true],
      ['a', true],
    ]);
    for (const key of ['a', 'b', 'c']) expect((await locker.inspect(key)).held).toBe(false);
  });

  it('never deadlocks: callers locking overlapping keys in opposite orders all get through, one at a time', async () => {
    const { locker } = setup();
    const inside = new Set<string>();
    let overlaps = 0;
    const section = (keys: string[]) =>
      withLocks(
        locker,
        keys,
        async (leases: Lease[]) => {
          for (const key of keys) if (inside.has(key)) overlaps++;
          for (const key of keys) inside.add(key);
          await sleep(3);
          for (const key of keys) inside.delete(key);
          return leases.length;
        },
        { waitMs: 10_000 },
      );
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => section(i % 2 ? ['x', 'y', 'z'] : ['z', 'y', 'x'])),
    );
    expect(runs).toEqual(Array(12).fill(3));
    expect(overlaps).toBe(0);
  });

  it('waitMs bounds the wait for all the keys together; the keys before the held one are released', async () => {
    const { store, locker } = setup();
    expect(store.takeOver('n', 60_000, 'someone-else')).not.toBeNull();
    const started = performance.now();
    const error = await withLocks(locker, ['m', 'n'], () => 'never', { waitMs: 150 }).catch(
      (e: unknown) => e,
    );
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).key).toBe('n');
    expect(waited).toBeGreaterThanOrEqual(140);
    expect((await locker.inspect('m')).held).toBe(false);
  });

  it('gives a later key only what is left of waitMs', async () => {
    const { store, locker } = setup();
    // "a" frees at 100 ms, "b" at 180 ms: with 150 ms for both, "b" has 50 ms left, not enough.
    expect(store.takeOver('a', 100, 'someone-else')).not.toBeNull();
    expect(store.takeOver('b', 180, 'someone-else')).not.toBeNull();
    const error = await withLocks(locker, ['a', 'b'], () => 'never', { waitMs: 150 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).key).toBe('b');
    expect((await locker.inspect('a')).held).toBe(false);
  });

  it("rethrows the callback's own error after releasing every lease", async () => {
    const { locker } = setup();
    const mine = new Error('declined');
    const error = await withLocks(locker, ['p', 'q'], () => {
      throw mine;
    }).catch((e: unknown) => e);
    expect(error).toBe(mine);
    for (const key of ['p', 'q']) expect((await locker.inspect(key)).held).toBe(false);
  });

  it('rejects with LockLostError when a lease was lost before the callback settled', async () => {
    const { store, locker } = setup();
    const error = await withLocks(locker, ['r', 's'], async ([r]) => {
      store.steal('r');
      await r!.extend().catch(() => undefined); // finds it taken
      return 'done';
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ key: 'r', reason: 'taken' });
    expect((await locker.inspect('s')).held).toBe(false);
  });

  it('does not run the callback, nor wait on, once a lease already held was lost while a later key was awaited', async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({
      store,
      ttlMs: 2_000,
      retryBaseMs: 2,
      retryMaxMs: 10,
      onEvent: (e) => events.push(e),
    });
    store.takeOver('b', 1_000, 'someone-else'); // held elsewhere: withLocks holds "a" while it waits
    setTimeout(() => store.steal('a'), 50); // the next auto-extension of "a" finds it taken
    let ran = false;
    const error = await withLocks(
      locker,
      ['a', 'b'],
      () => {
        ran = true;
      },
      { waitMs: 2_000, extendEveryMs: 20 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ key: 'a', reason: 'taken' });
    expect(ran).toBe(false);
    // The wait for "b" ended with the loss of "a", before "b" came free (at 1 s).
    expect(events.some((e) => e.type === 'acquired' && e.key === 'b')).toBe(false);
  });

  it('says which position repeats a key, without echoing it or reading as a wrong type', async () => {
    const { locker } = setup();
    const error = await withLocks(locker, ['a', 'b', 'a'], () => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe('keys: must not repeat a key (index 2 repeats an earlier one)');
  });

  it('refuses bad input with InvalidArgumentError before anything is sent', async () => {
    const { store, locker } = setup();
    const fn = () => 'x';
    const cases: [string, () => Promise<unknown>][] = [
      ['locker', () => withLocks({} as never, ['a'], fn)],
      ['keys', () => withLocks(locker, 'a' as never, fn)],
      ['keys', () => withLocks(locker, [], fn)],
      ['keys', () => withLocks(locker, ['a', 'b', 'a'], fn)],
      ['key', () => withLocks(locker, ['a', ''], fn)],
      ['key', () => withLocks(locker, ['a', 7 as never], fn)],
      ['fn', () => withLocks(locker, ['a'], 'run' as never)],
      ['options', () => withLocks(locker, ['a'], fn, null as never)],
      ['waitMs', () => withLocks(locker, ['a', 'b'], fn, { waitMs: -1 })],
      ['ttlMs', () => withLocks(locker, ['a', 'b'], fn, { ttlMs: 1 })],
      ['extendEveryMs', () => withLocks(locker, ['a', 'b'], fn, { extendEveryMs: 0 })],
    ];
    for (const [argument, call] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error, argument).toBeInstanceOf(InvalidArgumentError);
      expect(error, argument).toMatchObject({ argument });
    }
    expect(store.calls).toEqual({ acquire: 0, extend: 0, release: 0, inspect: 0 });
  });
});
