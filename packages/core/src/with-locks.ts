import { InvalidArgumentError } from './errors.js';
import type { Lease } from './lease.js';
import type { Locker, WithLockOptions } from './locker.js';
import { floor, max, monotonicNow as now } from './timers.js';
import { check, isFunction, isObject, validateKey, validateMs } from './validate.js';

/** One lease per key, in the order of the keys: a tuple when the keys are (so each is typed `Lease`). */
export type LeasesOf<K extends readonly string[]> = { -readonly [I in keyof K]: Lease };

/**
 * Holds the locks of several keys at once, as nested {@link Locker.withLock} calls: runs `fn` with their
 * leases (in the order of `keys`) and releases them all once it settles. Keys are acquired one after
 * another in one fixed order — sorted by UTF-16 code units, the same in every process — so that two
 * callers locking overlapping sets of keys never wait for each other in a cycle. Each lease is
 * auto-extended on its own and fences its own key's writes (tokens of different keys do not compare).
 *
 * Settles as `withLock` does: `fn`'s result or its own error; {@link LockLostError} if any lease was lost
 * before `fn` settled; {@link LockTimeoutError} when a key stayed held, after the keys before it were
 * released. `options.waitMs` bounds the wait for all the keys together: each key waits at most what is
 * left of it (at least one attempt). Without it, each key waits up to the locker's `waitMs`. Every key
 * and option is checked before anything is sent: bad input throws {@link InvalidArgumentError} and
 * changes nothing.
 *
 * Not a store-side atomic multi-key lock: while it waits for a later key it holds the earlier ones.
 *
 * @example
 * ```ts
 * await withLocks(locker, [`account:${from}`, `account:${to}`], async ([debit, credit]) => {
 *   await move(amount, { from: debit.token, to: credit.token });
 * }, { waitMs: 2_000 });
 * ```
 */
export async function withLocks<T, const K extends readonly string[] = readonly string[]>(
  locker: Locker,
  keys: K,
  fn: (leases: LeasesOf<K>) => Promise<T> | T,
  options?: WithLockOptions,
): Promise<T> {
  check('locker', locker, 'a Locker (createLocker(...))', (l) => isObject(l) && isFunction(l.withLock), true);
  check('keys', keys, 'a non-empty array of keys', (k) => Array.isArray(k) && k.length > 0, true);
  for (const key of keys) validateKey(key);
  const order = [...keys].sort();
  // Not echoing the key (nor "got string", which reads as the wrong type): its position says which.
  const repeated = keys.findIndex((key, i) => keys.indexOf(key) !== i);
  if (repeated >= 0)
    throw new InvalidArgumentError(
      'keys',
      `must not repeat a key (index ${repeated} repeats an earlier one)`,
    );
  check('fn', fn, 'a function', isFunction, true);
  check('options', options, 'an object', isObject);
  const waitMs = options?.waitMs === undefined ? undefined : validateMs('waitMs', options.waitMs, 0);
  const start = now();
  const leases = new Map<string, Lease>();

  const hold = async (i: number): Promise<T> => {
    // A lease lost while a later key was awaited (taken, or run out after failed extensions): neither the
    // next key nor fn goes on without it. Its LockLostError is the answer.
    for (const lease of leases.values()) lease.signal.throwIfAborted();
    const key = order[i];
    if (key === undefined) return fn(keys.map((k) => leases.get(k)!) as LeasesOf<K>);
    const left = waitMs === undefined ? undefined : max(0, floor(waitMs - (now() - start)));
    const opts = left === undefined ? options : { ...options, waitMs: left };
    const next = (lease: Lease) => {
      leases.set(key, lease);
      return hold(i + 1);
    };
    // The first key's call checks every option (the signal too) before anything is sent.
    if (!i) return locker.withLock(key, next, opts);
    // A later key's wait also ends as soon as a lease already held is lost.
    const stop = new AbortController();
    const watched = [...leases.values()].map((lease) => lease.signal);
    if (options?.signal) watched.push(options.signal);
    const listeners = watched.map((signal) => () => stop.abort(signal.reason));
    watched.forEach((signal, j) => {
      if (signal.aborted) stop.abort(signal.reason);
      else signal.addEventListener('abort', listeners[j]!);
    });
    try {
      return await locker.withLock(key, next, { ...opts, signal: stop.signal });
    } finally {
      watched.forEach((signal, j) => {
        signal.removeEventListener('abort', listeners[j]!);
      });
    }
  };
  return hold(0);
}
