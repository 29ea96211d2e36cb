/**
 * In-process FIFO per key: of one locker's waiters for a key, only the head talks to the store, and
 * only while no lease of this locker holds the key. When that lease is released the holder may pass
 * it straight to the head ({@link pass}: no store request); otherwise, when it ends, the head goes to
 * the store at once. No polling, and N local waiters never stampede the store.
 *
 * A locker's queues are a {@link Gates} map and the functions below, not an object with methods: in
 * every Lambda bundle a function name minifies to a letter, a method name stays whole.
 */
import type { HolderInfo } from './errors.js';
import { monotonicNow as now, timeOrAbort } from './timers.js';

interface Waiter<W, P> {
  /** What the caller asked for, for {@link pass}. */
  readonly want: W;
  /** Its turn came (no argument), or it was handed a lease (`P`) that the previous holder passed on. */
  readonly resolve: (passed?: P) => void;
  /** Rejects with the caller's timeout error. */
  readonly expire: () => void;
  /**
   * Its wait ran out while nobody was known to hold the key (the request ahead was in flight or
   * failing): it keeps its place and gets one attempt, so a store outage never reads as "held".
   */
  overdue?: boolean;
}

/** A key's queue: this locker's waiters for it, in order, and the key's state in this locker. */
interface Gate<W, P> extends Array<Waiter<W, P>> {
  /** A waiter of this locker is making store calls for the key (at most one at a time). */
  active?: boolean;
  /** A lease of this locker holds the key (never at the same time as `active`). */
  held?: boolean;
  /** What the active waiter last learned of a holder elsewhere, for queued waiters' timeouts. */
  holder: HolderInfo;
  /** Monotonic time until which, by the active waiter's last answer, someone else holds the key. */
  heldUntil: number;
}

/**
 * The queues of one locker, by key; a key is in the map exactly while it is busy in this locker: held,
 * being acquired, or queued for. `W` is what a waiter asks for, `P` what a passing holder hands it.
 */
export type Gates<W, P> = Map<string, Gate<W, P>>;

const idle = <W, P>(g: Gate<W, P>) => !g.active && !g.held;
const knownHeld = <W, P>(g: Gate<W, P>) => g.held || g.heldUntil > now();
const expireOverdue = <W, P>(g: Gate<W, P>) => {
  for (const waiter of g.filter((w) => w.overdue)) waiter.expire();
};
const tidy = <W, P>(gates: Gates<W, P>, key: string, g: Gate<W, P>) => {
  if (idle(g) && !g.length) gates.delete(key);
};
/** If nobody holds or is acquiring the key, the next waiter goes. */
const dispatch = <W, P>(gates: Gates<W, P>, key: string, g: Gate<W, P>) => {
  const next = idle(g) && g.shift();
  if (next) {
    g.active = true;
    next.resolve();
  }
  tidy(gates, key, g);
};

/**
 * The turn of a caller with nobody ahead of it (the key is not in `gates`): it goes at once, and the
 * key is busy until it exits.
 */
export const open = <W, P>(gates: Gates<W, P>, key: string): void => {
  gates.set(key, Object.assign([], { active: true, holder: {}, heldUntil: -Infinity }));
};

/**
 * The turn of a caller behind others (the key is in `gates`): a promise that resolves when its turn
 * comes (with nothing) or with a lease passed to it, and rejects with the signal's reason, or with
 * `onTimeout(holder, heldHere)` once `timeoutMs` ran out and the key is known to be held (`heldHere`:
 * by a lease of this locker).
 */
export const enter = <W, P>(
  gates: Gates<W, P>,
  key: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onTimeout: (holder: HolderInfo, heldHere: boolean) => unknown,
  want: W,
): Promise<P | undefined> => {
  const g = gates.get(key)!;
  return new Promise<P | undefined>((resolve, reject) => {
    const leave = (reason: unknown) => {
      off();
      const i = g.indexOf(waiter);
      if (i >= 0) g.splice(i, 1);
      tidy(gates, key, g);
      reject(reason);
    };
    const waiter: Waiter<W, P> = {
      want,
      resolve: (passed) => {
        off();
        resolve(passed);
      },
      // While it waits, `g` is the key's gate (a gate with waiters is never tidied away).
      expire: () => leave(onTimeout(g.holder, !!g.held)),
    };
    const due = () => {
      if (knownHeld(g)) waiter.expire();
      else waiter.overdue = true;
    };
    // An overdue waiter keeps listening for its abort. No wait at all (tryAcquire): decided now, so a
    // lease released meanwhile is never passed to a caller that asked for one attempt.
    const off = timeOrAbort(timeoutMs, signal, due, leave);
    g.push(waiter);
    if (!(timeoutMs > 0)) due();
  });
};

/** The active waiter is done: it got the lease (`acquired`) or gave up; `holder` is what it last learned. */
export const exit = <W, P>(gates: Gates<W, P>, key: string, acquired: boolean, holder: HolderInfo): void => {
  // The active waiter keeps the key busy: its gate is in the map.
  const g = gates.get(key)!;
  g.active = false;
  // Held here now: what was learned of a holder elsewhere is history (nothing is known of this one's
  // remaining time, which passes on locally).
  g.holder = acquired ? {} : holder;
  if (acquired) {
    g.held = true;
    expireOverdue(g);
  }
  dispatch(gates, key, g);
};

/** Records what the active waiter learned about the holder, who holds the key until `until` (monotonic). */
export const contended = <W, P>(gates: Gates<W, P>, key: string, holder: HolderInfo, until: number): void => {
  const g = gates.get(key)!;
  g.holder = holder;
  g.heldUntil = until;
  if (knownHeld(g)) expireOverdue(g);
};

/**
 * The lease holding the key is being released: offer it to the head waiter. `make` builds the head's
 * lease from what it asked for, or declines (`undefined`). On success the head leaves the queue with
 * that lease and the key stays held.
 */
export const pass = <W, P extends object>(
  gates: Gates<W, P>,
  key: string,
  make: (want: W) => P | undefined,
): boolean => {
  const g = gates.get(key);
  const head = g?.held && g[0];
  const passed = head && make(head.want);
  if (passed) {
    g.shift();
    head.resolve(passed);
  }
  return !!passed;
};

/** This locker's lease on the key ended (released, lost or expired): the next waiter goes. */
export const released = <W, P>(gates: Gates<W, P>, key: string): void => {
  const g = gates.get(key);
  if (g) {
    g.held = false;
    g.holder = {};
    g.heldUntil = -Infinity;
    dispatch(gates, key, g);
  }
};
