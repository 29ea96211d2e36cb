/**
 * Small seeded randomness for fault schedules: the same seed gives the same sequence, so a failing
 * run can be replayed (print the seed).
 */

/** A random 32-bit seed (for a run that did not get one). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** mulberry32: a fast 32-bit PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** Helpers over a `() => number` in [0, 1). */
export interface Rng {
  (): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/** A seeded {@link Rng}. */
export function rng(seed: number): Rng {
  const next = seededRandom(seed);
  const r = (() => next()) as Rng;
  r.int = (min, max) => min + Math.floor(next() * (max - min + 1));
  r.chance = (p) => next() < p;
  r.pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[Math.floor(next() * items.length)] as T;
  };
  return r;
}

/**
 * Milliseconds on a timeline shared by every process on this machine: the system's monotonic clock
 * (`process.hrtime`, CLOCK_MONOTONIC on Linux), which every process reads alike. Exactly comparable
 * across processes, unaffected by clock offsets injected into a store or `Date.now` and by steps of the
 * wall clock. Not an epoch: only differences mean anything.
 *
 * Not `performance.timeOrigin + performance.now()`: a process's `timeOrigin` comes from two clock
 * reads at its start, and a process preempted between them carries a shifted timeline all its life
 * (0.23 ms in one of 150 starts at load 10 here; more at higher load), enough to make two leases
 * seem to overlap in a history check.
 *
 * @example
 * ```ts
 * const sentAt = sharedNow();
 * await store.acquire(request);
 * const tookMs = sharedNow() - sentAt;
 * ```
 */
export function sharedNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
