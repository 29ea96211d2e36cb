import type { LostReason } from './errors.js';

/**
 * What happened to a lease, for logs and metrics. Never carries the owner id.
 *
 * @example
 * ```ts
 * const locker = createLocker({ store, onEvent: (e) => console.log(JSON.stringify(e)) });
 * ```
 */
export type LockEvent =
  | {
      /** A lease was granted (by the store, or passed on by a lease of the same locker). */
      readonly type: 'acquired';
      /** The lock key. */
      readonly key: string;
      /** The new lease's fencing token. */
      readonly token: number;
      /** From the call to the grant, queueing and backoff included. */
      readonly waitedMs: number;
      /** Store requests it took: 0 for a lease passed on by a local holder. */
      readonly attempts: number;
      /**
       * True when this acquisition had to wait: queued behind another caller of this locker on the key
       * (even one whose store request then failed), refused by the store, or sent more than one request.
       */
      readonly contended: boolean;
    }
  | {
      /** A store request found the key held by another owner; the caller waits or gives up. */
      readonly type: 'contended';
      /** The lock key. */
      readonly key: string;
      /** Which store request of this call found it held (1 for the first). */
      readonly attempt: number;
      /** The holder's remaining lease time in ms, when the store reported it. */
      readonly holderRemainingMs?: number;
    }
  | {
      /** The store pushed the lease's expiry (by `lease.extend()` or `withLock`'s auto-extension). */
      readonly type: 'extended';
      /** The lock key. */
      readonly key: string;
      /** The extended lease's fencing token. */
      readonly token: number;
      /** The TTL the store was asked for: the lease's, or less when capped at the Lambda deadline. */
      readonly ttlMs: number;
    }
  | {
      /**
       * A `release()` (or disposal) was answered by the store, or passed the lease on locally; none
       * for a lease already known to be taken, and none for a lease that never sent `acquired` (a grant
       * handed back, a lease passed on to a waiter that gave up).
       */
      readonly type: 'released';
      /** The lock key. */
      readonly key: string;
      /** The released lease's fencing token. */
      readonly token: number;
      /** True when this release freed the lock (or passed it on); false when it was no longer held. */
      readonly released: boolean;
    }
  | {
      /** A held lease (one that sent `acquired`) stopped being held other than by its release. */
      readonly type: 'lost';
      /** The lock key. */
      readonly key: string;
      /** The lost lease's fencing token. */
      readonly token: number;
      /** `expired`, `taken` or `deadline`. */
      readonly reason: LostReason;
    }
  | {
      /** An auto-extension by `withLock` failed on a store error; it is retried sooner, never thrown. */
      readonly type: 'extend-failed';
      /** The lock key. */
      readonly key: string;
      /** The lease's fencing token. */
      readonly token: number;
      /** The `StoreError` of the failed extension. */
      readonly error: unknown;
    }
  | {
      /**
       * A release by disposal (`await using`, `withLock`, or a grant handed back) failed; never
       * thrown: the lock frees itself at expiry.
       */
      readonly type: 'release-failed';
      /** The lock key. */
      readonly key: string;
      /** The lease's fencing token. */
      readonly token: number;
      /** The error the release rejected with (normally a `StoreError`). */
      readonly error: unknown;
    };

/**
 * Receives {@link LockEvent}s; exceptions it throws (and an async listener's rejections) are swallowed so
 * observers can't break locking.
 *
 * @example
 * ```ts
 * const onEvent: LockEventListener = (e) => { if (e.type === 'lost') metrics.count('lease_lost'); };
 * ```
 */
export type LockEventListener = (event: LockEvent) => void;
