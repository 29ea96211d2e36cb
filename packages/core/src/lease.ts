// `Lease` is `AsyncDisposable`: its declaration file names the lib that declares it, so that a consumer
// compiling without `esnext.disposable` (or Node's types) still type-checks.
/// <reference lib="esnext.disposable" preserve="true" />

import { LeaseholdError, LockLostError, type LostReason, StoreError } from './errors.js';
import type { LockEvent } from './events.js';
import type { Expiries } from './expiries.js';
import { type Gates, pass, released } from './key-queue.js';
import { FENCE_STEP, type LockStore } from './store.js';
import { floor, max, min, monotonicNow as now } from './timers.js';
import { invalid, MIN_TTL_MS, validateMs } from './validate.js';

/**
 * A held lock. Pass `token` to every write on the protected resource (fencing) and `signal` to the
 * work, so it stops when the lease is lost.
 *
 * @example
 * ```ts
 * await using lease = await locker.acquire('payment:order-42');
 * await chargeCard({ fence: lease.token, signal: lease.signal });
 * ```
 */
export interface Lease extends AsyncDisposable {
  /** The locked key. */
  readonly key: string;
  /** Fencing token: a safe integer, strictly increasing per key across every grant. */
  readonly token: number;
  /** Aborts (with a {@link LockLostError} as `reason`) when the lease is lost, runs out or is released. */
  readonly signal: AbortSignal;
  /** True until the lease is lost, runs out un-extended or is released. */
  readonly held: boolean;
  /** Milliseconds of guaranteed validity left on this holder's monotonic clock (0 once not held). */
  readonly remainingMs: number;
  /**
   * Push the expiry to now + `ttlMs` (default: the lease's TTL; the stores never move it back, and the
   * lease counts on no more than it asked for). One store request; concurrent calls are
   * sent one after the other, so the store applies them in the order their answers arrive.
   * Throws {@link LockLostError} when the lease is no longer held (also when it ran out while a failed
   * request was in flight: the store's error is its `cause`) and {@link StoreError} when the store could
   * not answer (the lease stays valid until its current expiry, or until the expiry this request asked
   * for if that is sooner: it may have been applied).
   */
  extend(ttlMs?: number): Promise<void>;
  /**
   * Free the lock. Resolves `true` when this call freed it, `false` when it was no longer held by this
   * lease (expired and taken, or already released). Rejects only with {@link StoreError}. The lease stops
   * counting as held as soon as the request is sent, whatever the answer: the store may free it at once.
   */
  release(): Promise<boolean>;
}

/** A lease as its locker sees it: also the TTL that `extend()` and auto-extension work from. */
export interface LeaseImpl extends Lease {
  readonly ttlMs: number;
  /** Why the lease stopped being held, undefined while held; reading it creates no signal. */
  readonly lostReason: LostReason | undefined;
}

/**
 * Leases whose own `release()` the store answered "not held by this lease": `withLock` reports a lease
 * its callback released as lost only then, not when the release freed the lock, was passed on or could
 * not be answered.
 */
export const refusedRelease = new WeakSet<Lease>();

/**
 * Leases whose `acquired` event was sent (only while there is a listener): only they send `released` and
 * `lost`, so that a listener pairing the events (a gauge of held locks) never counts a lease its caller
 * never got — a grant handed back because it came too late, or a lease passed on to a waiter that gave
 * up in the same turn.
 */
export const announced = new WeakSet<Lease>();

/** What a queued waiter asks for, should the holder pass its lease on: its TTL and invocation deadline. */
export type Want = readonly [ttl: number, deadline: number];

/** The fields of an event of type `T` about one lease, beyond `type`, `key` and `token`. */
type LeaseEventFields<T extends LockEvent['type']> = Omit<
  Extract<LockEvent, { type: T }>,
  'type' | 'key' | 'token'
>;

/** Tells the locker's `onEvent` listener; undefined when there is none, so that no event is built. */
export type Emit = ((event: LockEvent) => void) | undefined;

/** A function that makes leases: see {@link leaseMaker}. */
export type NewLease = (
  key: string,
  token: number,
  owner: string,
  storeToken: number,
  ttl: number,
  deadline: number,
  handedOver: () => boolean,
  sentAt: number,
  passedUntil?: number,
) => LeaseImpl;

export const noop = (): void => {};

/** `Symbol.asyncDispose`, read once (a global property read is never shortened in the bundle). */
export const dispose: typeof Symbol.asyncDispose = Symbol.asyncDispose;

/** Stores should throw StoreError already; anything else is wrapped so "store down" stays typed. */
/**
 * A lease TTL given to `acquire`, `withLock` or `extend`: a whole number of ms in range, and above the
 * drift and clock skew allowance it would lose (a lease of that length would be over on arrival).
 */
export const validTtl = (ms: unknown, driftMs: (ttlMs: number) => number): number => {
  const ttl = validateMs('ttlMs', ms, MIN_TTL_MS);
  if (ttl <= driftMs(ttl))
    invalid('ttlMs', `above the drift and clock skew allowance (${driftMs(ttl)} ms)`, ttl);
  return ttl;
};

/** A store call's failure as Leasehold reports it: the store's own error, or an `unknown` {@link StoreError}. */
export const asLeaseholdError = (store: LockStore, err: unknown): LeaseholdError =>
  err instanceof LeaseholdError
    ? err
    : new StoreError(store.name, 'unknown', 'unexpected error', { cause: err });

export function storeFailed(store: LockStore, err: unknown): never {
  throw asLeaseholdError(store, err);
}

/**
 * The lease maker of one locker: its store, drift allowance, event listener, queues and expiry timer.
 *
 * A lease is a closure, not a class instance: its state and helpers minify to one-letter names where
 * `this.#validUntil` would not, and this code is in every Lambda bundle.
 */
export const leaseMaker = (
  store: LockStore,
  driftMs: (ttlMs: number) => number,
  emit: Emit,
  queues: Gates<Want, LeaseImpl>,
  expiries: Expiries,
): NewLease => {
  /**
   * A lease on `key` with fencing `token`, riding on the store lease (`owner`, `storeToken`). Granted by
   * the store for a request sent at `sentAt`, or passed on by a lease valid until `passedUntil`.
   * `deadline`: monotonic time after which the lease may not live (Lambda invocation end), or Infinity.
   * `handedOver()`: the lease reached its caller. Only such a lease holds the key in the queue: one
   * handed back must neither pass itself on nor free the queue when it ends (another local caller may
   * hold the key by then).
   */
  const newLease: NewLease = (
    key,
    token,
    owner,
    storeToken,
    ttl,
    deadline,
    handedOver,
    sentAt,
    passedUntil,
  ) => {
    /**
     * Created on the first read of `signal` (already aborted if the lease is lost by then): most
     * callers never read it, and an abort with its error object costs tens of µs on every release.
     */
    let controller: AbortController | undefined;
    /** Names the store lease in extend and release requests. */
    const request = { key, owner, token: storeToken };
    /** Why the lease stopped being held; undefined while held. */
    let lost: LostReason | undefined;
    let validUntil: number;
    /** True when the invocation deadline, not the TTL, bounds the current validity. */
    let deadlineBound: boolean;
    /** The release under way; null while it is still deciding, before its first await. */
    let releasing: Promise<boolean> | null | undefined;
    /** Extensions queued or in flight: they go to the store one at a time, each after the one before. */
    let extensions = 0;
    /** The last extension, settled quietly: the next one starts after it. */
    let lastExtension: Promise<void> | undefined;
    /** The queue was told the lease ended: the next local waiter was let through. */
    let ended = false;

    // Undefined without a listener: `tell?.(…)` then builds nothing. Callers are type-checked through
    // LeaseEventFields; TypeScript cannot follow the generic spread.
    const tell =
      emit &&
      (<T extends LockEvent['type']>(type: T, fields: LeaseEventFields<T>) =>
        emit({ type, key, token, ...fields } as unknown as LockEvent));

    /** The validity earned by a grant or extension of `ms` sent at `at`. */
    const validFor = (at: number, ms: number) => {
      validUntil = min(at + ms - driftMs(ms), deadline);
      deadlineBound = at + ms >= deadline - 1;
    };

    const end = () => {
      if (!ended) {
        ended = true;
        if (handedOver()) released(queues, key);
      }
    };

    /**
     * Stop holding. A release ends the lease in the queue itself: once the store has answered, or never
     * when the lease was passed on.
     */
    const lose = (reason: LostReason) => {
      if (lost) return;
      lost = reason;
      expiries.delete(expire);
      controller?.abort(new LockLostError(key, token, reason));
      if (reason !== 'released') {
        // A grant its caller never got (handed back: it came too late) was no one's lease to lose.
        if (tell && announced.has(self)) tell('lost', { reason });
        end();
      }
    };

    const expire = () => lose(deadlineBound ? 'deadline' : 'expired');

    // Reads settle an expiry whose timer has not run yet (a busy event loop runs timers late), so that
    // `held === false` and `signal.aborted` always agree.
    const expireIfDue = () => {
      if (!lost && now() >= validUntil) expire();
    };

    const assertHeld = () => {
      expireIfDue();
      if (lost) throw new LockLostError(key, token, lost);
    };

    /** Expires the lease when its validity ends, even if nothing reads it (its signal, local waiters). */
    const schedule = () => expiries.set(expire, validUntil);

    /**
     * The lease of a local waiter that takes this one over as it is released, with no store request:
     * same store lease (owner, expiry), the next token. Declined (`undefined`) when the store lease has
     * less than half the waiter's TTL left, when this store grant's tokens are used up (which also bounds
     * how long one process keeps a hot key from the others), or while an extension is in flight (its
     * outcome could still move the store's expiry).
     */
    const successor = ([wantTtl, wantDeadline]: Want): LeaseImpl | undefined => {
      const t = now();
      const left = min(validUntil, wantDeadline) - t;
      if (
        token + 1 - storeToken >= FENCE_STEP ||
        extensions ||
        left < min(wantTtl, wantDeadline - t) / 2 ||
        left <= driftMs(wantTtl)
      ) {
        return undefined;
      }
      return newLease(key, token + 1, owner, storeToken, wantTtl, wantDeadline, () => true, 0, validUntil);
    };

    /** One extension, its TTL `ms` already validated. */
    const doExtend = async (ms = ttl): Promise<void> => {
      assertHeld();
      const sentAt = now();
      const untilDeadline = floor(deadline - sentAt);
      if (untilDeadline < ms) {
        // Capped at the deadline: too little is left when the allowance of the capped TTL eats it (that
        // of the TTL asked for, up to 1% of a day, would give up a lease minutes before the deadline).
        if (untilDeadline <= driftMs(untilDeadline)) {
          lose('deadline');
          assertHeld();
        }
        ms = untilDeadline;
      }
      let ok: boolean;
      try {
        ok = await store.extend({ ...request, ttlMs: ms });
      } catch (err) {
        expireIfDue(); // run out before the answer came: that comes first
        // The outcome is unknown: the store may have applied it. A shorter TTL would then have moved the
        // store's expiry earlier, so never count on more than the shorter of the two.
        if (!lost && min(sentAt + ms - driftMs(ms), deadline) < validUntil) {
          validFor(sentAt, ms);
          expireIfDue();
          if (!lost) schedule();
        }
        // Not held any more, whatever the store did: say so (a caller told "store failed" would retry a
        // lease that is gone), with the failure as the cause.
        if (lost) throw new LockLostError(key, token, lost, { cause: asLeaseholdError(store, err) });
        storeFailed(store, err);
      }
      // Lost, released or run out while the request was in flight: that verdict stands (`lose` keeps the
      // first reason). A lease that has reported itself not held must never come back to life.
      expireIfDue();
      if (!ok) lose('taken');
      assertHeld();
      validFor(sentAt, ms);
      assertHeld(); // an answer slower than the new validity is worthless
      schedule();
      tell?.('extended', { ttlMs: ms });
    };

    const doRelease = async (): Promise<boolean> => {
      expireIfDue(); // a lease that already ran out is "expired", not "released"
      if (lost === 'taken') return false; // taken by someone else: nothing of ours left in the store
      // Passed to the next local waiter, which now holds the store lease (and the queue): nothing to
      // tell the store, and this lease never ends in the queue.
      let freed = !lost && handedOver() && pass(queues, key, successor);
      // Otherwise, from the moment the request is sent the store may free the lock and grant it to
      // someone else: stop claiming it now. The next local waiter goes once the store has answered.
      lose('released');
      if (!freed) {
        try {
          freed = await store.release(request);
          if (!freed) refusedRelease.add(self);
        } catch (err) {
          storeFailed(store, err);
        } finally {
          end();
        }
      }
      if (tell && announced.has(self)) tell('released', { released: freed });
      return freed;
    };

    const release = (): Promise<boolean> => {
      // A call from the signal's abort listeners, which run while a release is deciding (in `lose`), is
      // one more concurrent call: run at once, it would release in the store a lease just passed on to a
      // local waiter, freeing the key under that waiter's feet.
      if (releasing === null) return Promise.resolve().then(release);
      // One request for concurrent calls; only the call that freed the lock resolves true.
      if (releasing) return releasing.then(() => false);
      releasing = null;
      releasing = doRelease().catch((err: unknown) => {
        releasing = undefined; // let the caller retry a release the store could not answer
        throw err;
      });
      return releasing;
    };

    if (passedUntil === undefined) validFor(sentAt, ttl);
    else {
      validUntil = min(passedUntil, deadline);
      deadlineBound = deadline <= passedUntil;
    }
    schedule();

    const self: LeaseImpl = {
      key,
      token,
      ttlMs: ttl,
      get signal() {
        expireIfDue();
        if (!controller) {
          controller = new AbortController();
          if (lost) controller.abort(new LockLostError(key, token, lost));
        }
        return controller.signal;
      },
      get held() {
        expireIfDue();
        return !lost;
      },
      get lostReason() {
        expireIfDue();
        return lost;
      },
      get remainingMs() {
        expireIfDue();
        return lost ? 0 : max(0, floor(validUntil - now()));
      },
      extend(ttlMs) {
        // Bad input is refused before anything is sent or counted as in flight (which would stop a release
        // from passing the lease on), and the lease stays as it was.
        try {
          if (ttlMs !== undefined) validTtl(ttlMs, driftMs);
        } catch (error) {
          return Promise.reject(error);
        }
        // One at a time: concurrent extensions answered out of order would leave the lease counting on a
        // longer one that the store had already overwritten with a shorter one.
        // No last extension yet while the first one is starting: one called meanwhile (by the signal's
        // abort listeners, as the first finds the lease lost) has nothing to wait for.
        const run =
          extensions++ && lastExtension ? lastExtension.then(() => doExtend(ttlMs)) : doExtend(ttlMs);
        // Counted down in the first reaction to `run`, registered before the caller's own: a caller that
        // awaited the extension and then releases finds none in flight (and can pass the lease on).
        const settled = () => void extensions--;
        lastExtension = run.then(settled, settled);
        // `run` itself, not an async function's copy of it: `lastExtension` handles its rejection, so an
        // extension the caller checks only later (or never) is no unhandled rejection.
        return run;
      },
      release,
      // The lock frees itself at expiry: a failed release is reported as an event, never thrown, or
      // finished work would turn into a failure. The locker hands back unwanted grants this way too.
      [dispose]: () => release().then(noop, (error: unknown) => tell?.('release-failed', { error })),
    };
    return self;
  };
  return newLease;
};
