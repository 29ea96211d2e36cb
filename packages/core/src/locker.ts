import {
  type HolderInfo,
  InvalidArgumentError,
  LockLostError,
  LockTimeoutError,
  StoreError,
} from './errors.js';
import type { LockEvent, LockEventListener } from './events.js';
import { KeyQueues } from './key-queue.js';
import { asStoreError, type Lease, type LeaseContext, LeaseImpl } from './lease.js';
import type { LockState, LockStore, StoreAcquireResult } from './store.js';
import { fullJitter, monotonicNow, sleep, unrefTimeout } from './timers.js';
import {
  type InvocationContext,
  MIN_TTL_MS,
  validateContext,
  validateKey,
  validateMs,
  validateOptionsObject,
  validateSignal,
} from './validate.js';

/**
 * Options of {@link createLocker}.
 *
 * @example
 * ```ts
 * const locker = createLocker({ store, ttlMs: 15_000, waitMs: 5_000 });
 * ```
 */
export interface LockerOptions {
  /** Where leases live: `dynamoDbStore(...)`, `upstashStore(...)` or your own {@link LockStore}. */
  readonly store: LockStore;
  /** Default lease length in ms. Default 10 000. */
  readonly ttlMs?: number;
  /** Default time `acquire`/`withLock` wait for a held lock, in ms. Default: the lease TTL. */
  readonly waitMs?: number;
  /** First backoff ceiling between attempts, in ms (full jitter, doubling). Default 20. */
  readonly retryBaseMs?: number;
  /** Largest backoff between attempts, in ms. Default 250. */
  readonly retryMaxMs?: number;
  /**
   * Extra safety margin, in ms, subtracted from every lease's local validity on top of the drift
   * allowance (1% of the TTL + 2 ms). Raise it when clients' clocks may disagree (DynamoDB expiry is
   * written with the client clock). Default 0.
   */
  readonly clockSkewMs?: number;
  /** Receives lease events for logs and metrics; never sees owner ids. */
  readonly onEvent?: LockEventListener;
}

/**
 * Options of `acquire`, `tryAcquire` and `withLock`.
 *
 * @example
 * ```ts
 * await locker.acquire('k', { ttlMs: 5_000, waitMs: 1_000, signal: AbortSignal.timeout(2_000) });
 * ```
 */
export interface AcquireOptions {
  /** Lease length in ms (whole number, 100 ms to one day). Default: the locker's `ttlMs`. */
  readonly ttlMs?: number;
  /** How long to wait for a held lock, in ms (0 = one attempt). Default: the locker's `waitMs`. */
  readonly waitMs?: number;
  /** Abandons the wait; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * The AWS Lambda context (anything with `getRemainingTimeInMillis()`): waits, leases and
   * extensions never outlive the invocation.
   */
  readonly context?: InvocationContext;
}

/**
 * Options of `withLock`: those of `acquire`, plus auto-extension control.
 *
 * @example
 * ```ts
 * await locker.withLock('report', run, { ttlMs: 30_000, extendEveryMs: 10_000 });
 * ```
 */
export interface WithLockOptions extends AcquireOptions {
  /** How often to extend the lease while the callback runs, in ms. Default: a third of the TTL. */
  readonly extendEveryMs?: number;
}

/**
 * The lock API. Create one per store client and reuse it (e.g. at module scope in a Lambda).
 *
 * @example
 * ```ts
 * const locker = createLocker({ store: dynamoDbStore({ client, tableName: 'leasehold-locks' }) });
 * const result = await locker.withLock('booking:e1:s12', async (lease) => book(lease.token));
 * ```
 */
export interface Locker {
  /**
   * Acquire `key`, waiting up to `waitMs` with capped full-jitter backoff (and the holder's known
   * expiry). Rejects with {@link LockTimeoutError} when still held after the wait, {@link StoreError}
   * when the store fails, the signal's reason on abort, {@link InvalidArgumentError} on bad input.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  /** One attempt: the lease, or `null` when someone else holds the lock. Store failures reject. */
  tryAcquire(key: string, options?: Omit<AcquireOptions, 'waitMs'>): Promise<Lease | null>;
  /**
   * Acquire, run `fn` while auto-extending the lease, always release. Resolves with `fn`'s result;
   * rejects with `fn`'s own error if it threw (never hidden by a release error), or with
   * {@link LockLostError} if the lease was lost before `fn` settled.
   */
  withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, options?: WithLockOptions): Promise<T>;
  /** The key's current state in the store, for operators. */
  inspect(key: string): Promise<LockState>;
  /** Frees the store's connections, if it holds any. */
  close(): Promise<void>;
}

const DEFAULT_TTL_MS = 10_000;
/** Longest a waiter trusts a store's release notifications before trying again itself. */
const NOTIFIED_RECHECK_MS = 1_000;

/**
 * Create a {@link Locker} over a store.
 *
 * @example
 * ```ts
 * import { createLocker } from '@leasehold/core';
 * import { upstashStore } from '@leasehold/upstash';
 *
 * const locker = createLocker({ store: upstashStore({ url, token }), ttlMs: 10_000 });
 * await using lease = await locker.acquire('payment:order-42', { waitMs: 2_000 });
 * await markPaid(orderId, { fence: lease.token });
 * ```
 */
export function createLocker(options: LockerOptions): Locker {
  validateOptionsObject('options', options);
  if (options === undefined) throw new InvalidArgumentError('options', 'are required: { store }');
  const candidate = options.store as LockStore | undefined;
  if (!candidate || typeof candidate.acquire !== 'function' || typeof candidate.release !== 'function') {
    throw new InvalidArgumentError(
      'store',
      'must be a LockStore such as dynamoDbStore(...) or upstashStore(...)',
    );
  }
  const store: LockStore = candidate;
  const ttlMs = validateMs('ttlMs', options.ttlMs ?? DEFAULT_TTL_MS, MIN_TTL_MS);
  const waitMs = validateMs('waitMs', options.waitMs ?? ttlMs, 0);
  const retryBaseMs = validateMs('retryBaseMs', options.retryBaseMs ?? 20, 1);
  const retryMaxMs = validateMs('retryMaxMs', options.retryMaxMs ?? 250, retryBaseMs);
  const clockSkewMs = validateMs('clockSkewMs', options.clockSkewMs ?? 0, 0);
  const listener = options.onEvent;
  if (listener !== undefined && typeof listener !== 'function') {
    throw new InvalidArgumentError('onEvent', 'must be a function');
  }

  const now = monotonicNow;
  const driftMs = (ttl: number) => Math.floor(ttl * 0.01) + 2 + clockSkewMs;
  const emit = (event: LockEvent) => {
    try {
      listener?.(event);
    } catch {
      // Observers must not break locking.
    }
  };
  // One FIFO per key: of this locker's waiters only the head calls the store, and only while no lease
  // of this locker holds the key; a local release passes the lease to the head or lets it go at once.
  const queues = new KeyQueues<{ ttl: number; deadline: number }, LeaseImpl>();

  /** What a lease needs from this locker; `handedOver()` says whether it reached its caller. */
  const leaseContext = (deadline: number, handedOver: () => boolean): LeaseContext => ({
    store,
    now,
    driftMs,
    emit,
    deadline,
    // Only a lease handed to a caller holds the key in the queue; one handed back must not free the
    // queue when its release settles (another local caller may hold the key by then).
    onEnd: (k) => {
      if (handedOver()) queues.released(k);
    },
    pass: (lease) =>
      handedOver() &&
      queues.pass(lease.key, (want) =>
        lease.successor(
          want.ttl,
          leaseContext(want.deadline, () => true),
        ),
      ),
  });

  const parse = (key: string, opts: AcquireOptions | undefined, allowWait: boolean) => {
    validateKey(key);
    validateOptionsObject('options', opts);
    const ttl = opts?.ttlMs === undefined ? ttlMs : validateMs('ttlMs', opts.ttlMs, MIN_TTL_MS);
    const wait = !allowWait ? 0 : opts?.waitMs === undefined ? waitMs : validateMs('waitMs', opts.waitMs, 0);
    if (ttl <= driftMs(ttl)) {
      throw new InvalidArgumentError(
        'ttlMs',
        `must exceed the drift and clock skew allowance (${driftMs(ttl)} ms)`,
      );
    }
    const signal = validateSignal(opts?.signal);
    const context = validateContext(opts?.context);
    return { ttl, wait, signal, context };
  };

  async function attemptLoop(
    key: string,
    opts: AcquireOptions | undefined,
    allowWait: boolean,
  ): Promise<Lease | null> {
    const { ttl, wait, signal, context } = parse(key, opts, allowWait);
    signal?.throwIfAborted();
    const start = now();
    const deadline = context ? start + context.getRemainingTimeInMillis() : Number.POSITIVE_INFINITY;
    const waitUntil = Math.min(start + wait, deadline);
    if (!allowWait) {
      // Held or wanted by this locker already: the answer is "someone else has it", no request needed.
      if (queues.busy(key)) return null;
    }
    const queued = await queues.enter(
      key,
      waitUntil - start,
      signal,
      () => new LockTimeoutError(key, Math.round(now() - start), 0, queues.holder(key)),
      { ttl, deadline },
    );
    if (queued instanceof LeaseImpl) {
      // The previous local holder passed its store lease on: granted with no store request.
      if (signal?.aborted) {
        queued
          .release()
          .catch((error: unknown) => emit({ type: 'release-failed', key, token: queued.token, error }));
        throw signal.reason;
      }
      emit({
        type: 'acquired',
        key,
        token: queued.token,
        waitedMs: Math.round(now() - start),
        attempts: 0,
        contended: true,
      });
      return queued;
    }
    let acquired = false;
    let holder: HolderInfo = {};
    try {
      const lease = await attemptAsHead(
        key,
        ttl,
        signal,
        start,
        deadline,
        waitUntil,
        allowWait,
        queued,
        (h, until) => {
          holder = h;
          queues.contended(key, h, until);
        },
      );
      acquired = lease !== null;
      return lease;
    } finally {
      queues.exit(key, acquired, holder);
    }
  }

  /** The store attempts of the queue's head: one request each, sleeping on what the store said. */
  async function attemptAsHead(
    key: string,
    ttl: number,
    signal: AbortSignal | undefined,
    start: number,
    deadline: number,
    waitUntil: number,
    allowWait: boolean,
    queued: boolean,
    onContended: (holder: HolderInfo, until: number) => void,
  ): Promise<LeaseImpl | null> {
    let owner = newOwnerId();
    let holder: HolderInfo = {};
    /** The last attempt was granted only after its lease had run out locally: the store is too slow. */
    let late = false;
    /** The attempt from which the backoff grows: it starts over whenever the store reports a new holder. */
    let backoffFrom = 1;
    for (let attempt = 1; ; attempt++) {
      const sentAt = now();
      const leaseTtl = Math.min(ttl, Math.floor(deadline - sentAt));
      if (leaseTtl <= driftMs(leaseTtl)) {
        throw new LockTimeoutError(key, Math.round(sentAt - start), attempt - 1, holder);
      }
      let result: StoreAcquireResult;
      try {
        result = await store.acquire({ key, owner, ttlMs: leaseTtl });
      } catch (err) {
        throw asStoreError(store, err);
      }
      if (result.acquired) {
        const token = checkToken(store, result.token);
        let handedOver = false;
        const lease = new LeaseImpl(
          key,
          token,
          owner,
          leaseTtl,
          sentAt,
          leaseContext(deadline, () => handedOver),
        );
        if (signal?.aborted) {
          // The caller gave up while the grant was in flight: hand the lock straight back.
          lease.release().catch((error: unknown) => emit({ type: 'release-failed', key, token, error }));
          throw signal.reason;
        }
        if (lease.held) {
          handedOver = true;
          const waitedMs = Math.round(now() - start);
          emit({
            type: 'acquired',
            key,
            token,
            waitedMs,
            attempts: attempt,
            contended: queued || attempt > 1,
          });
          return lease;
        }
        // The answer came back after the lease had already run out locally; it is worthless.
        lease.release().catch((error: unknown) => emit({ type: 'release-failed', key, token, error }));
        // Never ask again as the owner just handed back: the store would re-grant the same token, and
        // the hand-back, if it lands later, would free the new lease under its holder's feet.
        owner = newOwnerId();
        late = true;
      } else {
        late = false;
        // A new holder since the last answer: the key is changing hands, so it is worth asking again soon.
        if (
          result.holderToken !== undefined &&
          holder.token !== undefined &&
          result.holderToken !== holder.token
        ) {
          backoffFrom = attempt;
        }
        holder = {
          ...(result.holderRemainingMs === undefined
            ? {}
            : { remainingMs: Math.round(result.holderRemainingMs) }),
          ...(result.holderToken === undefined ? {} : { token: result.holderToken }),
        };
        // Known held until the reported expiry, counted from the send time (never later than the truth).
        onContended(holder, sentAt + (holder.remainingMs ?? 0));
        emit({
          type: 'contended',
          key,
          attempt,
          ...(holder.remainingMs === undefined ? {} : { holderRemainingMs: holder.remainingMs }),
        });
      }
      signal?.throwIfAborted();
      const left = waitUntil - now();
      if (late && (!allowWait || left <= 0)) {
        // Nobody else holds the key: the store answered too slowly, which is store trouble, not "held".
        throw new StoreError(
          store.name,
          'timeout',
          `the grant of "${key}" arrived after its ${leaseTtl} ms lease had run out; check the store's latency or raise ttlMs`,
        );
      }
      if (!allowWait) return null;
      if (left <= 0) throw new LockTimeoutError(key, Math.round(now() - start), attempt, holder);
      if (store.waitForRelease) {
        // Notifications can be lost silently (a dropped stream), so re-check at least every second.
        const untilExpiry = holder.remainingMs === undefined ? retryMaxMs : holder.remainingMs + 1;
        const slice = Math.min(untilExpiry, Math.ceil(left), NOTIFIED_RECHECK_MS);
        await store.waitForRelease(key, Math.max(1, slice), signal);
        signal?.throwIfAborted(); // stores resolve, not reject, on abort
      } else {
        // Sleep until the holder's known expiry or a capped jittered backoff, whichever comes first.
        const delay = Math.min(
          fullJitter(attempt - backoffFrom + 1, retryBaseMs, retryMaxMs, Math.random),
          holder.remainingMs === undefined ? Number.POSITIVE_INFINITY : holder.remainingMs + 1,
          Math.ceil(left),
        );
        await sleep(delay, signal);
      }
    }
  }

  const locker: Locker = {
    async acquire(key, opts) {
      return (await attemptLoop(key, opts, true)) as Lease;
    },
    tryAcquire(key, opts) {
      return attemptLoop(key, opts, false);
    },
    async withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, opts?: WithLockOptions): Promise<T> {
      if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function');
      const lease = (await attemptLoop(key, opts, true)) as LeaseImpl;
      const every =
        opts?.extendEveryMs === undefined
          ? Math.max(1, Math.floor(lease.ttlMs / 3))
          : validateMs('extendEveryMs', opts.extendEveryMs, 1);
      const stop = autoExtend(lease, every, emit);
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await fn(lease) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      stop();
      const lostWhileRunning = lease.signal.aborted ? (lease.signal.reason as unknown) : undefined;
      try {
        await lease.release();
      } catch (error) {
        emit({ type: 'release-failed', key, token: lease.token, error });
      }
      if (!outcome.ok) throw outcome.error;
      if (lostWhileRunning instanceof LockLostError) throw lostWhileRunning;
      return outcome.value;
    },
    async inspect(key) {
      validateKey(key);
      try {
        return await store.inspect(key);
      } catch (err) {
        throw asStoreError(store, err);
      }
    },
    async close() {
      await store.close?.();
    },
  };
  return locker;
}

/** Extends every `everyMs` until stopped or lost; a failed extension is retried sooner, never thrown. */
function autoExtend(lease: LeaseImpl, everyMs: number, emit: (e: LockEvent) => void): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (stopped || !lease.held) return;
    let next = everyMs;
    try {
      await lease.extend();
    } catch (error) {
      if (!(error instanceof StoreError)) return; // lost: the lease's signal already says so
      emit({ type: 'extend-failed', key: lease.key, token: lease.token, error });
      next = Math.max(1, Math.floor(everyMs / 3));
    }
    if (!stopped) timer = unrefTimeout(tick, next);
  };
  // A lease passed on locally may start with as little as half its TTL left: extend it in time.
  timer = unrefTimeout(tick, Math.max(1, Math.min(everyMs, Math.floor(lease.remainingMs / 2))));
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}

function checkToken(store: LockStore, token: unknown): number {
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token <= 0) {
    throw new StoreError(store.name, 'bad-response', 'the store returned an invalid fencing token');
  }
  return token;
}

/** 128 random bits, hex: unguessable, so no other client can extend or release this lease. */
function newOwnerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
