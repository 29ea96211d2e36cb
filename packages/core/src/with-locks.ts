import type { Lease } from './lease.js';
import type { Locker, WithLockOptions } from './locker.js';
import { floor, max, monotonicNow as now } from './timers.js';
import { check, invalid, isFunction, isObject, validateKey, validateMs } from './validate.js';

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
export async function withLocks<T>(
  locker: Locker,
  keys: readonly string[],
  fn: (leases: Lease[]) => Promise<T> | T,
  options?: WithLockOptions,
): Promise<T> {
  check('locker', locker, 'a Locker (createLocker(...))', (l) => isObject(l) && isFunction(l.withLock), true);
  check('keys', keys, 'a non-empty array of keys', (k) => Array.isArray(k) && k.length > 0, true);
  for (const key of keys) validateKey(key);
  const order = [...keys].sort();
  const repeated = order.find((key, i) => key === order[i + 1]);
  if (repeated !== undefined) invalid('keys', 'free of repeats', repeated);
  check('fn', fn, 'a function', isFunction, true);
  check('options', options, 'an object', isObject);
  const waitMs = options?.waitMs === undefined ? undefined : validateMs('waitMs', options.waitMs, 0);
  const start = now();
  const leases = new Map<string, Lease>();

  const hold = async (i: number): Promise<T> => {
    const key = order[i];
    if (key === undefined) return fn(keys.map((k) => leases.get(k)!));
    const left = waitMs === undefined ? undefined : max(0, floor(waitMs - (now() - start)));
    return locker.withLock(
      key,
      (lease) => {
        leases.set(key, lease);
        return hold(i + 1);
      },
      left === undefined ? options : { ...options, waitMs: left },
    );
  };
  return hold(0);
}
