import type { HolderInfo } from './errors.js';
import { monotonicNow } from './timers.js';

interface Waiter<W, P> {
  /** What the caller asked for, for {@link KeyQueues.pass}. */
  readonly want: W;
  /** Its turn came (`true`), or it was handed a lease (`P`) that the previous holder passed on. */
  readonly resolve: (passed?: P) => void;
  readonly reject: (reason: unknown) => void;
  /** Rejects with the caller's timeout error. */
  readonly expire: () => void;
  /**
   * Its wait ran out while nobody was known to hold the key (the request ahead was in flight or
   * failing): it keeps its place and gets one attempt, so a store outage never reads as "held".
   */
  overdue: boolean;
}

interface Gate<W, P> {
  /** A waiter of this locker is making store calls for the key (at most one at a time). */
  active: boolean;
  /** A lease of this locker holds the key. */
  held: boolean;
  readonly waiters: Waiter<W, P>[];
  /** What the active waiter last learned of a holder elsewhere, for queued waiters' timeouts. */
  holder: HolderInfo;
  /** Monotonic time until which, by the active waiter's last answer, someone else holds the key. */
  heldUntil: number;
}

/**
 * In-process FIFO per key: of one locker's waiters for a key, only the head talks to the store, and
 * only while no lease of this locker holds the key. When that lease is released the holder may pass
 * it straight to the head ({@link KeyQueues.pass}: no store request); otherwise, when it ends, the
 * head goes to the store at once. No polling, and N local waiters never stampede the store.
 *
 * `W` is what a waiter asks for, `P` what a passing holder hands it.
 */
export class KeyQueues<W, P> {
  readonly #gates = new Map<string, Gate<W, P>>();
  readonly #now: () => number;

  constructor(now: () => number = monotonicNow) {
    this.#now = now;
  }

  /** True when the key is busy in this process: held, being acquired, or queued for. */
  busy(key: string): boolean {
    return this.#gates.has(key);
  }

  holder(key: string): HolderInfo {
    return this.#gates.get(key)?.holder ?? {};
  }

  /**
   * Waits for this caller's turn (resolving `true` if it had to queue, `false` if not) or for a lease
   * passed to it (resolving with it); rejects with the signal's reason, or with `onTimeout()` once
   * `timeoutMs` ran out and the key is known to be held.
   */
  enter(
    key: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    onTimeout: () => unknown,
    want: W,
  ): Promise<boolean | P> {
    const gate = this.#gate(key);
    if (!gate.active && !gate.held && gate.waiters.length === 0) {
      gate.active = true;
      return Promise.resolve(false);
    }
    return new Promise<boolean | P>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const leave = (reason: unknown) => {
        cleanup();
        const i = gate.waiters.indexOf(waiter);
        if (i >= 0) gate.waiters.splice(i, 1);
        this.#tidy(key, gate);
        reject(reason);
      };
      const onAbort = () => leave(signal?.reason);
      const waiter: Waiter<W, P> = {
        want,
        resolve: (passed) => {
          cleanup();
          resolve(passed ?? true);
        },
        reject: leave,
        expire: () => leave(onTimeout()),
        overdue: false,
      };
      const timer = setTimeout(
        () => {
          if (this.#knownHeld(gate)) waiter.expire();
          else waiter.overdue = true;
        },
        Math.max(0, timeoutMs),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      gate.waiters.push(waiter);
    });
  }

  /** The active waiter is done: it got the lease (`acquired`) or gave up. */
  exit(key: string, acquired: boolean, holder?: HolderInfo): void {
    const gate = this.#gate(key);
    gate.active = false;
    if (holder) gate.holder = holder;
    if (acquired) {
      gate.held = true;
      this.#expireOverdue(gate);
    }
    this.#dispatch(key, gate);
  }

  /** Records what the active waiter learned about the holder, who holds the key until `until` (monotonic). */
  contended(key: string, holder: HolderInfo, until: number): void {
    const gate = this.#gate(key);
    gate.holder = holder;
    gate.heldUntil = until;
    if (this.#knownHeld(gate)) this.#expireOverdue(gate);
  }

  /**
   * The lease holding the key is being released: offer it to the head waiter. `make` builds the
   * head's lease from what it asked for, or declines (`undefined`). On success the head leaves the
   * queue with that lease and the key stays held.
   */
  pass(key: string, make: (want: W) => P | undefined): boolean {
    const gate = this.#gates.get(key);
    const head = gate?.held ? gate.waiters[0] : undefined;
    const passed = head && make(head.want);
    if (!gate || !head || passed === undefined) return false;
    gate.waiters.shift();
    head.resolve(passed);
    return true;
  }

  /** This locker's lease on the key ended (released, lost or expired): the next waiter goes. */
  released(key: string): void {
    const gate = this.#gates.get(key);
    if (!gate) return;
    gate.held = false;
    gate.holder = {};
    gate.heldUntil = Number.NEGATIVE_INFINITY;
    this.#dispatch(key, gate);
  }

  #knownHeld(gate: Gate<W, P>): boolean {
    return gate.held || gate.heldUntil > this.#now();
  }

  #expireOverdue(gate: Gate<W, P>): void {
    for (const waiter of gate.waiters.filter((w) => w.overdue)) waiter.expire();
  }

  #dispatch(key: string, gate: Gate<W, P>): void {
    if (!gate.active && !gate.held) {
      const next = gate.waiters.shift();
      if (next) {
        gate.active = true;
        next.resolve();
      }
    }
    this.#tidy(key, gate);
  }

  #tidy(key: string, gate: Gate<W, P>): void {
    if (!gate.active && !gate.held && gate.waiters.length === 0) this.#gates.delete(key);
  }

  #gate(key: string): Gate<W, P> {
    let gate = this.#gates.get(key);
    if (!gate) {
      gate = { active: false, held: false, waiters: [], holder: {}, heldUntil: Number.NEGATIVE_INFINITY };
      this.#gates.set(key, gate);
    }
    return gate;
  }
}
