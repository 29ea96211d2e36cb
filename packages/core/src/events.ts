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
      readonly type: 'acquired';
      readonly key: string;
      readonly token: number;
      /** From the call to the grant, queueing and backoff included. */
      readonly waitedMs: number;
      /** Store requests it took. */
      readonly attempts: number;
      /** True when the key was held (here or elsewhere) and this acquisition had to wait. */
      readonly contended: boolean;
    }
  | {
      readonly type: 'contended';
      readonly key: string;
      readonly attempt: number;
      readonly holderRemainingMs?: number;
    }
  | { readonly type: 'extended'; readonly key: string; readonly token: number; readonly ttlMs: number }
  | { readonly type: 'released'; readonly key: string; readonly token: number; readonly released: boolean }
  | { readonly type: 'lost'; readonly key: string; readonly token: number; readonly reason: LostReason }
  | { readonly type: 'extend-failed'; readonly key: string; readonly token: number; readonly error: unknown }
  | {
      readonly type: 'release-failed';
      readonly key: string;
      readonly token: number;
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
