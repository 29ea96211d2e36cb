import { describe, expect, it } from 'vitest';
import {
  createLocker,
  InvalidArgumentError,
  isLeaseholdError,
  LeaseholdError,
  StoreError,
} from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const badKeys: Array<[string, unknown]> = [
  ['empty', ''],
  ['a number', 42],
  ['undefined', undefined],
  ['null', null],
  ['an object', { key: 'k' }],
  ['oversized (1025 bytes)', 'k'.repeat(1025)],
  ['oversized in UTF-8 (400 x 3-byte chars)', '€'.repeat(400)],
  // Both would be written as U+FFFD: one lock for two keys.
  ['a lone high surrogate', 'order:\uD800'],
  ['a lone low surrogate', 'order:\uDC00'],
];

const badDurations: Array<[string, unknown]> = [
  ['zero', 0],
  ['negative', -5],
  ['fractional', 1500.5],
  ['NaN', Number.NaN],
  ['infinite', Number.POSITIVE_INFINITY],
  ['absurdly large', 10 ** 12],
  ['a string', '1000'],
];

describe('input validation', () => {
  it.each(badKeys)('rejects a key that is %s before any store call', async (_label, key) => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await expect(locker.acquire(key as string)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(locker.tryAcquire(key as string)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'key',
    });
    await expect(locker.withLock(key as string, async () => 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(locker.inspect(key as string)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(store.calls).toEqual({ acquire: 0, extend: 0, release: 0, inspect: 0 });
  });

  it('says a key has a lone surrogate, not "got string" (which reads as if a string were wrong)', async () => {
    const locker = createLocker({ store: memoryStore() });
    const error = await locker.acquire('order:\uD800:\u{1F3AB}\uDC00').catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'key: must be free of lone surrogates (well-formed Unicode), got 2',
    );
  });

  it('accepts keys with characters outside the BMP (surrogate pairs)', async () => {
    const locker = createLocker({ store: memoryStore() });
    const lease = await locker.acquire('seat:\u{1F3AB}:12');
    expect(lease.key).toBe('seat:\u{1F3AB}:12');
    expect(await lease.release()).toBe(true);
  });

  it('accepts a key of exactly 1024 bytes', async () => {
    const locker = createLocker({ store: memoryStore() });
    const lease = await locker.acquire('k'.repeat(1024));
    expect(await lease.release()).toBe(true);
  });

  it.each(badDurations)('rejects a ttlMs that is %s before any store call', async (_label, ttlMs) => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const error = await locker.acquire('k', { ttlMs: ttlMs as number }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'ttlMs',
      name: 'InvalidArgumentError',
    });
    expect(store.calls.acquire).toBe(0);
    expect(() => createLocker({ store, ttlMs: ttlMs as number })).toThrow(InvalidArgumentError);
  });

  it.each(badDurations.filter(([label]) => label !== 'zero'))(
    'rejects a waitMs that is %s before any store call',
    async (_label, waitMs) => {
      const store = memoryStore();
      const locker = createLocker({ store });
      await expect(locker.acquire('k', { waitMs: waitMs as number })).rejects.toMatchObject({
        argument: 'waitMs',
      });
      expect(store.calls.acquire).toBe(0);
    },
  );

  it('rejects a TTL below the 100 ms minimum', async () => {
    const locker = createLocker({ store: memoryStore() });
    await expect(locker.acquire('k', { ttlMs: 99 })).rejects.toThrow(/from 100 to/);
  });

  it('rejects a TTL the clock skew allowance would swallow, as the default at once', async () => {
    // A default no acquire could use fails when the locker is made, not at every call.
    expect(() => createLocker({ store: memoryStore(), ttlMs: 200, clockSkewMs: 500 })).toThrow(
      expect.objectContaining({ argument: 'ttlMs', message: expect.stringMatching(/drift and clock skew/) }),
    );
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 10_000, clockSkewMs: 500 });
    await expect(locker.acquire('k', { ttlMs: 200 })).rejects.toThrow(/drift and clock skew/);
    expect(store.calls.acquire).toBe(0);
  });

  it('raises the default retryMaxMs to a larger retryBaseMs, and rejects an explicit one below it', () => {
    expect(() => createLocker({ store: memoryStore(), retryBaseMs: 500 })).not.toThrow();
    expect(() => createLocker({ store: memoryStore(), retryBaseMs: 500, retryMaxMs: 250 })).toThrow(
      expect.objectContaining({ argument: 'retryMaxMs' }),
    );
    // The message names where its lower bound comes from.
    expect(() => createLocker({ store: memoryStore(), retryBaseMs: 500, retryMaxMs: 250 })).toThrow(
      'retryMaxMs: must be an integer from 500 (retryBaseMs) to 86400000 ms (one day), got 250',
    );
  });

  it('rejects a non-AbortSignal signal and a context without getRemainingTimeInMillis', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await expect(locker.acquire('k', { signal: {} as AbortSignal })).rejects.toMatchObject({
      argument: 'signal',
    });
    await expect(
      locker.acquire('k', { context: {} as { getRemainingTimeInMillis(): number } }),
    ).rejects.toMatchObject({ argument: 'context' });
    expect(store.calls.acquire).toBe(0);
  });

  it('rejects a polyfilled signal without throwIfAborted as bad input, before any store call', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    // The shape of the `abort-controller` package's signal: no throwIfAborted, no reason.
    const signal = { aborted: false, addEventListener() {}, removeEventListener() {} };
    const error = await locker.acquire('k', { signal: signal as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError); // was TypeError: signal.throwIfAborted is not a function
    expect(error).toMatchObject({ argument: 'signal' });
    expect(store.calls.acquire).toBe(0);
  });

  it('rejects a signal without removeEventListener as bad input, before any store call', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    // Accepted, it was granted and then never settled (a TypeError on removing the listener), and the
    // key stayed busy in this locker.
    const signal = { aborted: false, addEventListener() {}, throwIfAborted() {} };
    const error = await locker.acquire('k', { signal: signal as never }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'signal' });
    expect(store.calls.acquire).toBe(0);
    expect(await locker.tryAcquire('k')).not.toBeNull();
  });

  it('rejects a store whose optional withdraw, waitForRelease or close is not a function', () => {
    for (const op of ['withdraw', 'waitForRelease', 'close'] as const) {
      const odd = { ...memoryStore(), [op]: true };
      expect(() => createLocker({ store: odd as never }), op).toThrow(InvalidArgumentError);
      expect(() => createLocker({ store: odd as never }), op).toThrow(
        /waitForRelease and close functions if given/,
      );
    }
  });

  it('rejects a missing or malformed store and a non-function callback', async () => {
    expect(() => createLocker(undefined as never)).toThrow(InvalidArgumentError);
    expect(() => createLocker({ store: {} as never })).toThrow(/LockStore/);
    // Each of the four operations, not only acquire and release: a store without extend failed only
    // when a lease was first extended, as a StoreError.
    for (const op of ['acquire', 'extend', 'release', 'inspect'] as const) {
      const partial = { ...memoryStore(), [op]: undefined };
      expect(() => createLocker({ store: partial as never })).toThrow(InvalidArgumentError);
      // "got object" alone does not say what a custom store lacks: the message names the operations.
      expect(() => createLocker({ store: partial as never })).toThrow(
        /acquire, extend, release and inspect functions/,
      );
    }
    const locker = createLocker({ store: memoryStore() });
    await expect(locker.withLock('k', 'nope' as never)).rejects.toMatchObject({ argument: 'fn' });
  });

  it('reports a store failing to close as a StoreError, with its cause', async () => {
    const boom = new Error('socket hang up');
    const store = { ...memoryStore(), close: () => Promise.reject(boom) };
    const error = await createLocker({ store })
      .close()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).cause).toBe(boom);
  });

  it('gives every error one base class, a stable code and a name', () => {
    const err = new InvalidArgumentError('ttlMs', 'bad');
    expect(err).toBeInstanceOf(LeaseholdError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('InvalidArgumentError');
    expect(isLeaseholdError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(isLeaseholdError(err, 'LOCK_TIMEOUT')).toBe(false);
    expect(isLeaseholdError(new Error('x'))).toBe(false);
  });
});
