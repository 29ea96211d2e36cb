import { LeaseholdError, LockLostError, type LostReason, StoreError } from './errors.js';
import type { LockEvent } from './events.js';
import { FENCE_STEP, type LockStore } from './store.js';
import { unrefTimeout } from './timers.js';
import { MIN_TTL_MS, validateMs } from './validate.js';

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
   * Push the expiry to now + `ttlMs` (default: the lease's TTL). One store request; concurrent calls are
   * sent one after the other, so the store applies them in the order their answers arrive.
   * Throws {@link LockLostError} when the lease is no longer held and {@link StoreError} when the store
   * could not answer (the lease stays valid until its current expiry, or until the expiry this request
   * asked for if that is sooner: it may have been applied).
   */
  extend(ttlMs?: number): Promise<void>;
  /**
   * Free the lock. Resolves `true` when this call freed it, `false` when it was no longer held by this
   * lease (expired and taken, or already released). Rejects only with {@link StoreError}. The lease stops
   * counting as held as soon as the request is sent, whatever the answer: the store may free it at once.
   */
  release(): Promise<boolean>;
}

/** What a lease needs from its locker; keeps the class free of locker internals. */
export interface LeaseContext {
  readonly store: LockStore;
  readonly now: () => number;
  readonly driftMs: (ttlMs: number) => number;
  readonly emit: (event: LockEvent) => void;
  /** Monotonic deadline after which the lease may not live (Lambda invocation end), or Infinity. */
  readonly deadline: number;
  /** Called exactly once, when the lease stops being held for any reason: the next local waiter goes. */
  readonly onEnd: (key: string) => void;
  /**
   * Called when the lease is released: passes it to the next local waiter (through
   * {@link LeaseImpl.successor}) and says whether it did, in which case no store request is made.
   */
  readonly pass: (lease: LeaseImpl) => boolean;
}

type State = { held: true } | { held: false; reason: LostReason };

export class LeaseImpl implements Lease {
  readonly key: string;
  readonly token: number;
  readonly #owner: string;
  /** The token the store granted to `#owner`; `token` is above it for leases passed on locally. */
  readonly #storeToken: number;
  readonly #ttlMs: number;
  readonly #ctx: LeaseContext;
  readonly #controller = new AbortController();
  #validUntil: number;
  /** True when the invocation deadline, not the TTL, bounds the current validity. */
  #deadlineBound: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state: State = { held: true };
  #releasing: Promise<boolean> | undefined;
  /** The extension in flight, if any (settled quietly): extensions go to the store one at a time. */
  #extending: Promise<void> | undefined;
  /** `onEnd` has run: the next local waiter was let through. */
  #ended = false;

  /** A lease granted by the store for a request sent at `sentAt`, or passed on by `from`. */
  constructor(
    key: string,
    token: number,
    owner: string,
    ttlMs: number,
    sentAt: number,
    ctx: LeaseContext,
    from?: LeaseImpl,
  ) {
    this.key = key;
    this.token = token;
    this.#owner = owner;
    this.#ttlMs = ttlMs;
    this.#ctx = ctx;
    this.#storeToken = from ? from.#storeToken : token;
    const until = from ? from.#validUntil : sentAt + ttlMs - ctx.driftMs(ttlMs);
    this.#validUntil = Math.min(until, ctx.deadline);
    this.#deadlineBound = from ? ctx.deadline <= until : sentAt + ttlMs >= ctx.deadline - 1;
    this.#schedule();
  }

  /**
   * The lease of a local waiter that takes this one over as it is released, with no store request:
   * same store lease (owner, expiry), the next token. Declined (`undefined`) when the store lease has
   * less than half the waiter's TTL left, when this store grant's tokens are used up (which also bounds
   * how long one process keeps a hot key from the others), or while an extension is in flight (its
   * outcome could still move the store's expiry).
   */
  successor(ttlMs: number, ctx: LeaseContext): LeaseImpl | undefined {
    const left = Math.min(this.#validUntil, ctx.deadline) - this.#ctx.now();
    const wanted = Math.min(ttlMs, ctx.deadline - this.#ctx.now());
    if (this.token + 1 - this.#storeToken >= FENCE_STEP || this.#extending || left < wanted / 2) {
      return undefined;
    }
    if (left <= ctx.driftMs(ttlMs)) return undefined;
    return new LeaseImpl(this.key, this.token + 1, this.#owner, ttlMs, 0, ctx, this);
  }

  // Reads settle an expiry whose timer has not run yet (a busy event loop runs timers late), so that
  // `held === false` and `signal.aborted` always agree.
  get signal(): AbortSignal {
    this.#expireIfDue();
    return this.#controller.signal;
  }

  get held(): boolean {
    this.#expireIfDue();
    return this.#state.held;
  }

  get remainingMs(): number {
    this.#expireIfDue();
    return this.#state.held ? Math.max(0, Math.floor(this.#validUntil - this.#ctx.now())) : 0;
  }

  /** Lease TTL used by auto-extension. */
  get ttlMs(): number {
    return this.#ttlMs;
  }

  extend(ttlMs?: number): Promise<void> {
    // One at a time: concurrent extensions answered out of order would leave the lease counting on a
    // longer one that the store had already overwritten with a shorter one.
    const previous = this.#extending;
    const run = previous ? previous.then(() => this.#extend(ttlMs)) : this.#extend(ttlMs);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#extending = settled;
    void settled.then(() => {
      if (this.#extending === settled) this.#extending = undefined;
    });
    return run;
  }

  async #extend(ttlMs?: number): Promise<void> {
    let ttl = ttlMs === undefined ? this.#ttlMs : validateMs('ttlMs', ttlMs, MIN_TTL_MS);
    this.#assertHeld();
    const sentAt = this.#ctx.now();
    const untilDeadline = Math.floor(this.#ctx.deadline - sentAt);
    if (untilDeadline < ttl) {
      if (untilDeadline <= this.#ctx.driftMs(ttl)) {
        this.#lose('deadline');
        this.#assertHeld();
      }
      ttl = untilDeadline;
    }
    let ok: boolean;
    try {
      ok = await this.#ctx.store.extend({
        key: this.key,
        owner: this.#owner,
        token: this.#storeToken,
        ttlMs: ttl,
      });
    } catch (err) {
      this.#expireIfDue(); // run out before the answer came: that comes first
      // The outcome is unknown: the store may have applied it. A shorter TTL would then have moved the
      // store's expiry earlier, so never count on more than the shorter of the two.
      const bound = Math.min(sentAt + ttl - this.#ctx.driftMs(ttl), this.#ctx.deadline);
      if (this.#state.held && bound < this.#validUntil) {
        this.#validUntil = bound;
        this.#deadlineBound = sentAt + ttl >= this.#ctx.deadline - 1;
        if (this.#ctx.now() >= bound) this.#lose(this.#deadlineBound ? 'deadline' : 'expired');
        else this.#schedule();
      }
      throw asStoreError(this.#ctx.store, err);
    }
    // Lost, released or run out while the request was in flight: that verdict stands. A lease that has
    // reported itself not held must never come back to life.
    this.#assertHeld();
    if (!ok) {
      this.#lose('taken');
      this.#assertHeld();
    }
    this.#validUntil = Math.min(sentAt + ttl - this.#ctx.driftMs(ttl), this.#ctx.deadline);
    this.#deadlineBound = sentAt + ttl >= this.#ctx.deadline - 1;
    this.#assertHeld(); // an answer slower than the new validity is worthless
    this.#schedule();
    this.#ctx.emit({ type: 'extended', key: this.key, token: this.token, ttlMs: ttl });
  }

  release(): Promise<boolean> {
    // One request for concurrent calls; only the call that freed the lock resolves true.
    if (this.#releasing) return this.#releasing.then(() => false);
    const releasing = this.#release().catch((err: unknown) => {
      this.#releasing = undefined; // let the caller retry a release the store could not answer
      throw err;
    });
    this.#releasing = releasing;
    return releasing;
  }

  async #release(): Promise<boolean> {
    this.#expireIfDue(); // a lease that already ran out is "expired", not "released"
    const state = this.#state;
    if (!state.held && state.reason === 'taken') {
      return false; // taken by someone else: nothing of ours left in the store
    }
    if (state.held && this.#ctx.pass(this)) {
      // Passed to the next local waiter, which now holds the store lease: nothing to tell the store.
      this.#ended = true;
      this.#lose('released', false);
      this.#ctx.emit({ type: 'released', key: this.key, token: this.token, released: true });
      return true;
    }
    // From the moment the request is sent the store may free the lock and grant it to someone else:
    // stop claiming it now. The next local waiter goes once the store has answered.
    this.#lose('released', false);
    let released: boolean;
    try {
      released = await this.#ctx.store.release({
        key: this.key,
        owner: this.#owner,
        token: this.#storeToken,
      });
    } catch (err) {
      throw asStoreError(this.#ctx.store, err);
    } finally {
      this.#end();
    }
    this.#ctx.emit({ type: 'released', key: this.key, token: this.token, released });
    return released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.release();
    } catch (error) {
      // The lock frees itself at expiry; throwing here would turn finished work into a failure.
      this.#ctx.emit({ type: 'release-failed', key: this.key, token: this.token, error });
    }
  }

  #expireIfDue(): void {
    if (this.#state.held && this.#ctx.now() >= this.#validUntil) {
      this.#lose(this.#deadlineBound ? 'deadline' : 'expired');
    }
  }

  #assertHeld(): void {
    this.#expireIfDue();
    const state = this.#state;
    if (!state.held) throw new LockLostError(this.key, this.token, state.reason);
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const ms = this.#validUntil - this.#ctx.now();
    this.#timer = unrefTimeout(() => this.#lose(this.#deadlineBound ? 'deadline' : 'expired'), ms);
  }

  #lose(reason: LostReason, end = true): void {
    if (!this.#state.held) return;
    this.#state = { held: false, reason };
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller.abort(new LockLostError(this.key, this.token, reason));
    if (reason !== 'released') this.#ctx.emit({ type: 'lost', key: this.key, token: this.token, reason });
    if (end) this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#ctx.onEnd(this.key);
  }
}

/** Stores should throw StoreError already; anything else is wrapped so "store down" stays typed. */
export function asStoreError(store: LockStore, err: unknown): LeaseholdError {
  if (err instanceof LeaseholdError) return err;
  return new StoreError(store.name, 'unknown', 'the store call failed unexpectedly', { cause: err });
}
