import { LockLostError, LockTimeoutError, type LostReason, StoreError } from './errors.js';
import type { LockEventListener } from './events.js';
import { expiries } from './expiries.js';
import { contended, enter, exit, type Gates, open } from './key-queue.js';
import {
  announced,
  asLeaseholdError,
  dispose,
  type Emit,
  type Lease,
  type LeaseImpl,
  leaseMaker,
  noop,
  refusedRelease,
  storeFailed,
  validTtl,
  type Want,
} from './lease.js';
import type { LockState, LockStore, StoreAcquireResult, StoreClaim } from './store.js';
import {
  ceil,
  floor,
  max,
  min,
  monotonicNow as now,
  round,
  sleep,
  timeOrAbort,
  unrefTimeout,
} from './timers.js';
import {
  check,
  type InvocationContext,
  invalid,
  isFunction,
  isObject,
  MIN_TTL_MS,
  validateKey,
  validateMs,
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
  /**
   * Backoff base between attempts, in ms, at least 1: after the n-th attempt a waiter sleeps a random
   * time up to `min(retryMaxMs, retryBaseMs * 2^n)` (full jitter), never past the holder's known
   * expiry. Default 20 (first ceiling 40 ms). Only for stores without `waitForRelease`: with one, a
   * waiter wakes on the release or at the holder's expiry, at least once a second.
   */
  readonly retryBaseMs?: number;
  /**
   * Largest backoff between attempts, in ms, at least `retryBaseMs`. Default 250, or `retryBaseMs` if
   * larger. With a store that has `waitForRelease`, the longest wait when the holder's expiry is unknown.
   */
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
  /**
   * How often to extend the lease while the callback runs, in ms. Default: a third of the TTL. Each
   * extension is valid for the TTL less the drift allowance (1% + 2 ms + `clockSkewMs`) and its own
   * round trip: an interval at or above that never extends in time (the first extension comes at the
   * interval scaled to the validity left), so the lease ends with its TTL, a hard bound on the callback
   * (`LockLostError` if it runs longer). The TTL itself (or more) is the plain way to ask for that.
   */
  readonly extendEveryMs?: number;
}

/**
 * The lock API. Create one per store client and reuse it (e.g. at module scope in a Lambda).
 *
 * @example
 * ```ts
 * const locker = createLocker({ store: dynamoDbStore({ client, tableName: 'leasehold-locks' }) });
 * const result = await locker.withLock('booking:e1/s12', async (lease) => book(lease.token));
 * ```
 */
export interface Locker {
  /**
   * Acquire `key`, waiting up to `waitMs` with capped full-jitter backoff (and the holder's known
   * expiry). Rejects with {@link LockTimeoutError} when still held after the wait (or when the Lambda
   * deadline is too close to try), {@link StoreError} when the store fails, the signal's reason on
   * abort, {@link InvalidArgumentError} on bad input.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Lease>;
  /**
   * One attempt: the lease, or `null` when someone else holds the lock. Store failures reject with
   * {@link StoreError}; a Lambda deadline too close for any lease rejects with {@link LockTimeoutError}
   * (nothing is sent), as `acquire` does.
   */
  tryAcquire(key: string, options?: Omit<AcquireOptions, 'waitMs'>): Promise<Lease | null>;
  /**
   * Acquire, run `fn` while auto-extending the lease, always release. Resolves with `fn`'s result;
   * rejects with `fn`'s own error if it threw (never hidden by a release error), or with
   * {@link LockLostError} if the lease was lost before `fn` settled. `fn` may release the lease itself
   * when its work is done: that counts as lost only if the store said it was no longer held.
   */
  withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, options?: WithLockOptions): Promise<T>;
  /** The key's current state in the store, for operators. */
  inspect(key: string): Promise<LockState>;
  /**
   * Frees the store's connections, if it holds any; a store failing to close rejects with {@link StoreError}.
   * Leases still out are not released by it (release them first, or they block their keys until their
   * TTL runs out), and calls still waiting are not cancelled (abort them with their `signal`).
   */
  close(): Promise<void>;
}

const DEFAULT_TTL_MS = 10_000;
/** Longest a waiter trusts a store's release notifications before trying again itself. */
const NOTIFIED_RECHECK_MS = 1_000;
/** How long a queued waiter stays eligible for a hand-over after its wait slice: its next attempt's trip. */
const QUEUE_SLACK_MS = 250;

// `throwIfAborted` too: a polyfilled signal without it (the `abort-controller` package) failed with a
// TypeError instead of an InvalidArgumentError; without `removeEventListener`, after the grant (a hung
// call, the key blocked in this locker).
const isSignal = (s: unknown) =>
  isObject(s) &&
  typeof s.aborted === 'boolean' &&
  [s.addEventListener, s.removeEventListener, s.throwIfAborted].every(isFunction);
const isContext = (c: unknown) => isObject(c) && isFunction(c.getRemainingTimeInMillis);
const CONTEXT = 'a Lambda context, whose getRemainingTimeInMillis() returns ms';
/** tryAcquire's "someone holds it" while queued behind another call of this locker. */
const HELD = {};

/** A duration option of one call: `fallback` when not given. */
const option = (
  opts: WithLockOptions | undefined,
  name: 'ttlMs' | 'waitMs' | 'extendEveryMs',
  fallback: number,
  min: number,
): number => (opts?.[name] === undefined ? fallback : validateMs(name, opts[name], min));

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
  check('options', options, 'an object', isObject, true);
  const store = options.store;
  // All four operations, and the optional ones if present, checked now: a bad one would fail later, as
  // a store error, on first use.
  if (
    ![store?.acquire, store?.extend, store?.release, store?.inspect].every(isFunction) ||
    ![store.withdraw, store.waitForRelease, store.close].every((f) => f === undefined || isFunction(f))
  ) {
    // Naming them: "got object" alone does not say what a custom store lacks.
    invalid(
      'store',
      'a LockStore (acquire, extend, release and inspect functions; withdraw, waitForRelease and close functions if given), e.g. dynamoDbStore(...)',
      store,
    );
  }
  /**
   * A duration option of the locker: `fallback` when not given. `null` is refused, as by the per-call
   * options: a config value that failed to parse must not quietly become the default.
   */
  const duration = (
    name: 'ttlMs' | 'waitMs' | 'retryBaseMs' | 'retryMaxMs' | 'clockSkewMs',
    fallback: number,
    least: number,
    leastName?: string,
  ) => validateMs(name, options[name] === undefined ? fallback : options[name], least, leastName);
  const ttlMs = duration('ttlMs', DEFAULT_TTL_MS, MIN_TTL_MS);
  const waitMs = duration('waitMs', ttlMs, 0);
  const retryBaseMs = duration('retryBaseMs', 20, 1);
  const retryMaxMs = duration('retryMaxMs', max(250, retryBaseMs), retryBaseMs, 'retryBaseMs');
  const clockSkewMs = duration('clockSkewMs', 0, 0);
  const listener = check<LockEventListener | undefined>('onEvent', options.onEvent, 'a function', isFunction);

  const driftMs = (ttl: number) => floor(ttl * 0.01) + 2 + clockSkewMs;
  // Here, not at the first acquire: a default TTL that the allowance eats whole would fail every call.
  validTtl(ttlMs, driftMs);
  // Undefined without a listener: `emit?.({...})` then builds no event object (no garbage per lock).
  const emit: Emit =
    listener &&
    ((event) => {
      try {
        // An async listener's rejection is swallowed too: unhandled, it would end a Node process.
        (listener(event) as unknown as Promise<void> | undefined)?.catch?.(noop);
      } catch {
        // Observers must not break locking.
      }
    });
  // One FIFO per key: of this locker's waiters only the head calls the store, and only while no lease
  // of this locker holds the key; a local release passes the lease to the head or lets it go at once.
  const queues: Gates<Want, LeaseImpl> = new Map();
  const newLease = leaseMaker(store, driftMs, emit, queues, expiries());

  /**
   * acquire (`allowWait`) and tryAcquire: validate, queue behind this locker's other callers for the key
   * (or take over a lease passed on locally), then, as the head of the queue, one store request per
   * attempt, sleeping on what the store said in between.
   */
  const attempt = async (
    key: string,
    opts: AcquireOptions | undefined,
    allowWait: boolean,
  ): Promise<LeaseImpl | null> => {
    validateKey(key);
    check('options', opts, 'an object', isObject);
    const ttl = validTtl(opts?.ttlMs === undefined ? ttlMs : opts.ttlMs, driftMs);
    const wait = allowWait ? option(opts, 'waitMs', waitMs, 0) : 0;
    const signal = check<AbortSignal | undefined>('signal', opts?.signal, 'an AbortSignal', isSignal);
    const context = check<InvocationContext | undefined>('context', opts?.context, CONTEXT, isContext);
    // A context whose clock reads NaN would make leases that never run out locally.
    const remainingMs = context ? context.getRemainingTimeInMillis() : Infinity;
    if (typeof remainingMs !== 'number' || Number.isNaN(remainingMs))
      invalid('context', CONTEXT, remainingMs);
    signal?.throwIfAborted();
    const start = now();
    const waited = (at = now()) => round(at - start);
    const deadline = start + remainingMs;
    const waitUntil = min(start + wait, deadline);
    // A key in the map is held or wanted by this locker already: queue behind. tryAcquire queues with no
    // wait: null as soon as the key is known held (no request needed), else, behind a request still in
    // flight or failing, one attempt of its own (a store outage never reads as "held").
    const busy = queues.has(key);
    // Nobody ahead: no await before the store request (whatever else is queued would run first).
    if (!busy) open(queues, key);
    let queued: LeaseImpl | undefined | false = false;
    if (busy) {
      try {
        queued = await enter(
          queues,
          key,
          waitUntil - start,
          signal,
          (holder, heldHere) =>
            allowWait
              ? new LockTimeoutError(key, waited(), 0, holder, heldHere ? 'held-here' : 'held')
              : HELD,
          [ttl, deadline],
        );
      } catch (err) {
        if (err === HELD) return null;
        throw err;
      }
    }
    /** Store requests sent so far: the current attempt's number (0 for a lease passed on locally). */
    let attempt = 0;
    /** The store answered "held" at least once (the lock may then come as a hand-over, with no new attempt). */
    let refused = false;
    /** Hands `lease` to the caller, with its `acquired` event: contended if it queued, was refused or asked again. */
    const granted = (lease: LeaseImpl) => {
      if (!emit) return lease;
      announced.add(lease);
      emit({
        type: 'acquired',
        key,
        token: lease.token,
        waitedMs: waited(),
        attempts: attempt,
        contended: busy || refused || attempt > 1,
      });
      return lease;
    };
    /**
     * The last hand-back of a grant the caller will not get: the key stays busy in this locker until it
     * has settled, or the next local waiter's request would be refused with that very grant.
     */
    let handBack: PromiseLike<unknown> | undefined;
    /**
     * The caller gave up while `lease` was on its way to it: hand the lock straight back. Leases the
     * caller will not get are handed back with their asyncDispose: released, a failure reported as a
     * `release-failed` event.
     */
    const handBackIfAborted = (lease: LeaseImpl) => {
      if (signal?.aborted) {
        handBack = lease[dispose]();
        throw signal.reason;
      }
    };
    if (queued) {
      // The previous local holder passed its store lease on: granted with no store request.
      handBackIfAborted(queued);
      return granted(queued);
    }

    let owner = newOwnerId();
    let holder: { remainingMs?: number; token?: number } = {};
    /** The attempt from which the backoff grows: it starts over whenever the store reports a new holder. */
    let backoffFrom = 1;
    let acquired = false;
    /**
     * The owner this call last asked the store to queue, or whose request failed with its outcome
     * unknown (it may hold the lock, answer lost), if any: withdrawn unless it got the lock.
     */
    let queuedAs: string | undefined;
    /** The hand-back of the last answer's grant, when that came after its lease had run out locally. */
    let late: PromiseLike<void> | undefined;
    /** When the current attempt's store request was sent, and the lease TTL it asked for. */
    let sentAt: number;
    let leaseTtl: number;
    /**
     * The lease of a grant to `owner` for the current attempt's request, or undefined when the grant is
     * worthless: it came after the lease had run out locally (then handed back).
     */
    const take = (token: number) => {
      if (!Number.isSafeInteger(token) || token < 1) {
        queuedAs = owner; // granted with a token nobody can use: withdrawn (see finally), not left for a TTL
        throw new StoreError(store.name, 'bad-response', 'invalid fencing token');
      }
      let handedOver = false;
      const lease = newLease(key, token, owner, token, leaseTtl, deadline, () => handedOver, sentAt);
      handBackIfAborted(lease); // the caller gave up while the grant was in flight
      if (lease.held) {
        handedOver = acquired = true;
        return granted(lease);
      }
      handBack = late = lease[dispose]();
      // Never ask again as the owner just handed back: the store would re-grant the same token, and
      // the hand-back, if it lands later, would free the new lease under its holder's feet.
      owner = newOwnerId();
      return undefined;
    };
    /** The last answer was a grant that came too late: nobody else holds the key, the store is slow. */
    const tooSlow = () =>
      new StoreError(
        store.name,
        'timeout',
        `"${key}" granted after its lease ran out: store too slow, or raise ttlMs`,
      );
    /**
     * The store request the caller stopped waiting for on abort: the key stays busy in this locker until
     * it settles (one request in flight per key) and a grant it brings has been handed back.
     */
    let abandoned: Promise<unknown> | undefined;
    const abortable = (request: Promise<StoreAcquireResult>, signal: AbortSignal, asked: string) =>
      new Promise<StoreAcquireResult>((resolve, reject) => {
        const aborted = () => {
          abandoned = request.then(
            (answer) => {
              // Handed back like a grant that came too late: a failure is a `release-failed` event.
              if (answer.acquired) {
                const { token } = answer;
                return store
                  .release({ key, owner: asked, token })
                  .catch((error: unknown) =>
                    emit?.({ type: 'release-failed', key, token, error: asLeaseholdError(store, error) }),
                  );
              }
            },
            () => {
              queuedAs = asked; // failed, outcome unknown: withdrawn like any failed request (see below)
            },
          );
          reject(signal.reason);
        };
        const settle = () => signal.removeEventListener('abort', aborted);
        signal.addEventListener('abort', aborted);
        request.then(
          (answer) => {
            settle();
            resolve(answer);
          },
          (err: unknown) => {
            settle();
            reject(err);
          },
        );
      });
    try {
      for (;;) {
        // Aborted as its turn came in the queue: nothing more is sent (a listener on an aborted signal
        // would never fire, and the caller would wait for the store's answer).
        signal?.throwIfAborted();
        if (late) {
          // Ask again once the late grant is handed back: before, the store would refuse this caller
          // with its own grant, and a wait that ended then would report the key "held by another owner".
          const handingBack = late;
          await new Promise<void>((resolve, reject) => {
            const done = () => {
              off();
              resolve();
            };
            const off = timeOrAbort(waitUntil - now(), signal, done, reject);
            handingBack.then(done);
          });
          if (now() >= waitUntil) throw tooSlow();
        }
        sentAt = now();
        leaseTtl = min(ttl, floor(deadline - sentAt));
        if (leaseTtl <= driftMs(leaseTtl)) {
          if (late) throw tooSlow();
          // Before any request, nobody is known to hold the key: the deadline alone stopped it.
          throw new LockTimeoutError(key, waited(sentAt), attempt, holder, attempt ? 'held' : 'deadline');
        }
        attempt++;
        // A caller that will wait asks to be queued for a hand-over until just after its next attempt, and
        // for at most half its lease's validity: the lease counts from this send, so a lock handed over
        // later would arrive run out (and be handed straight back, to the next in line).
        const quarter = floor((leaseTtl - driftMs(leaseTtl)) / 4);
        const queueMs =
          allowWait && store.waitForRelease ? min(ceil(waitUntil - sentAt), NOTIFIED_RECHECK_MS, quarter) : 0;
        let result!: StoreAcquireResult;
        try {
          if (queueMs > 0) queuedAs = owner;
          const request = store.acquire({
            key,
            owner,
            ttlMs: leaseTtl,
            ...(queueMs > 0 && { queueMs: queueMs + min(QUEUE_SLACK_MS, quarter) }),
          });
          result = await (signal ? abortable(request, signal, owner) : request);
          if (!isObject(result)) throw new StoreError(store.name, 'bad-response', 'invalid acquire answer');
        } catch (err) {
          if (abandoned) throw err; // the signal's reason
          // Maybe applied: a store that can withdraw frees the lock now if this owner got it, instead
          // of leaving everyone to wait out a grant nobody will use.
          queuedAs = owner;
          storeFailed(store, err);
        }
        if (result.acquired) {
          const lease = take(result.token);
          if (lease) return lease;
          // Came after the lease had already run out locally: handed back, ask again (see above).
          continue;
        }
        refused = true;
        late = undefined;
        let claim: StoreClaim | undefined;
        const { holderRemainingMs, holderToken } = result;
        const previousToken = holder.token;
        // A new object every time: the one before may be in the queue or a LockTimeoutError already.
        holder = {};
        // Not a number of ms (a custom store's bug): unknown, or a waiter would ask again every ms.
        if (holderRemainingMs! >= 0 && holderRemainingMs! < Infinity)
          holder.remainingMs = round(holderRemainingMs!);
        if (holderToken !== undefined) {
          holder.token = holderToken;
          // A new holder since the last answer: the key is changing hands, so it is worth asking again soon.
          if (previousToken !== undefined && holderToken !== previousToken) backoffFrom = attempt;
        }
        // Queued: the store may hand the lock over with a token above the holder's (see waitForRelease).
        if (queueMs > 0 && holderToken) claim = { owner, above: holderToken };
        // Known held until the reported expiry, counted from the send time (never later than the truth);
        // with no expiry reported, until the next answer is due (this waiter asks again within
        // retryMaxMs): queued waiters time out on time, and a store failure after it lapses on its own.
        contended(queues, key, holder, sentAt + (holder.remainingMs ?? retryMaxMs));
        emit?.({
          type: 'contended',
          key,
          attempt,
          ...(holder.remainingMs !== undefined && { holderRemainingMs: holder.remainingMs }),
        });
        signal?.throwIfAborted();
        const left = waitUntil - now();
        if (!allowWait) return null;
        if (left <= 0) throw new LockTimeoutError(key, waited(), attempt, holder);
        const remaining = holder.remainingMs;
        // Never past the holder's known expiry, nor past the end of the wait.
        const wake = min((remaining ?? Infinity) + 1, ceil(left));
        if (store.waitForRelease) {
          // Notifications can be lost silently (a dropped stream), so re-check at least every second, and
          // as often as the backoff cap while the holder's expiry is unknown; a queued waiter asks again
          // before its place lapses.
          let handed: Awaited<ReturnType<typeof store.waitForRelease>>;
          try {
            handed = await store.waitForRelease(
              key,
              max(
                1,
                min(
                  wake,
                  remaining === undefined ? retryMaxMs : NOTIFIED_RECHECK_MS,
                  queueMs || NOTIFIED_RECHECK_MS,
                ),
              ),
              signal,
              claim,
            );
          } catch (err) {
            // Aborted: the caller's reason, also from a store that rejects on abort (the web convention).
            signal?.throwIfAborted();
            storeFailed(store, err);
          }
          signal?.throwIfAborted(); // stores may also resolve on abort
          // Handed over on release: granted after this attempt was sent, so its lease counts from then.
          if (claim && typeof handed === 'number' && handed > claim.above) {
            const lease = take(handed);
            if (lease) return lease;
          }
        } else {
          // Sleep until the holder's known expiry or a capped full-jitter exponential backoff (AWS
          // Architecture Blog: uniform in [1, min(cap, base * 2^n)]), whichever comes first.
          const ceiling = min(retryMaxMs, retryBaseMs * 2 ** min(attempt - backoffFrom + 1, 30));
          await sleep(min(max(1, floor(Math.random() * ceiling)), wake), signal);
        }
      }
    } finally {
      const done = () => {
        const leave = () => exit(queues, key, acquired, holder);
        // Gave up (timeout, abort, store failure): leave the store's queue, and free the lock if it was
        // handed over meanwhile or granted by a request whose answer was lost. Best effort: a queue entry
        // also runs out on its own within a second, a grant at its TTL. The next local waiter goes once
        // it has been answered (one request in flight per key; before, that grant would refuse it).
        let withdrawing: PromiseLike<unknown> | undefined;
        if (!acquired && queuedAs) {
          try {
            // A plain-JS store's withdraw may throw or return no promise: that must neither replace the
            // caller's error nor, after an abandoned request, be an unhandled rejection.
            withdrawing = store.withdraw?.(key, queuedAs);
          } catch {
            // Best effort, as above.
          }
        }
        if (typeof withdrawing?.then === 'function') withdrawing.then(leave, leave);
        else leave();
      };
      const settling = abandoned ?? handBack;
      if (settling) void settling.then(done, done);
      else done();
    }
  };

  return {
    acquire: (key, opts) => attempt(key, opts, true) as Promise<Lease>,
    tryAcquire: (key, opts) => attempt(key, opts, false),
    async withLock<T>(key: string, fn: (lease: Lease) => Promise<T> | T, opts?: WithLockOptions): Promise<T> {
      check('fn', fn, 'a function', isFunction, true);
      // Validated with the other arguments, before any store request; 0 (never valid): not given.
      const every = option(opts, 'extendEveryMs', 0, 1);
      const lease = (await attempt(key, opts, true)) as LeaseImpl;
      const everyMs = every || max(1, floor(lease.ttlMs / 3));

      // Auto-extension: every `everyMs` while the lease is held (released once `fn` settles); a failed
      // extension is retried sooner, never thrown.
      let timer: ReturnType<typeof setTimeout>;
      const tick = async () => {
        let next = everyMs;
        try {
          await lease.extend(); // a lease lost meanwhile rejects at once, with no store request
        } catch (error) {
          // Lost (before or while the request was out): the lease's signal and its `lost` event say so.
          if (!(error instanceof StoreError) || !lease.held) return;
          emit?.({ type: 'extend-failed', key, token: lease.token, error });
          next = max(1, floor(everyMs / 3));
        }
        if (lease.held) timer = unrefTimeout(tick, next);
      };
      // A lease passed on locally may start with as little as half its TTL left: the first extension
      // comes as much sooner as the lease is shorter than its TTL (a fresh lease: after about everyMs).
      timer = unrefTimeout(tick, max(1, floor(everyMs * min(1, lease.remainingMs / lease.ttlMs))));

      let value: T;
      let lost: LostReason | undefined;
      try {
        value = await fn(lease);
      } finally {
        clearTimeout(timer);
        // Lost before the callback settled (read without creating the lease's signal).
        lost = lease.lostReason;
        // Released, at once (so no extension starts after this); a failure is only reported
        // (`release-failed`), never thrown: `fn`'s own error, if any, goes on unchanged.
        await lease[dispose]();
      }
      // A callback may release the lease itself when its work is done: lost only if the store said the
      // lease no longer held the lock (a release the store could not answer is a release-failed event).
      if (lost && !(lost === 'released' && !refusedRelease.has(lease))) {
        throw new LockLostError(key, lease.token, lost);
      }
      return value;
    },
    async inspect(key) {
      validateKey(key);
      try {
        return await store.inspect(key);
      } catch (err) {
        storeFailed(store, err);
      }
    },
    async close() {
      try {
        await store.close?.();
      } catch (err) {
        storeFailed(store, err);
      }
    },
  };
}

/**
 * A random UUID (122 random bits): unguessable, so no other client can extend or release this lease.
 * `randomUUID` is on every runtime's Web Crypto and, on Node, draws from a buffered pool: ~40 µs
 * cheaper per acquire under I/O load than a fresh `getRandomValues`.
 */
const newOwnerId = (): string => crypto.randomUUID();
