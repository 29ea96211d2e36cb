/**
 * Milliseconds on the system's monotonic clock: sub-millisecond, and exactly comparable across the
 * processes of one machine (a cross-process handoff is a difference of two processes' readings). Not
 * `performance.timeOrigin + performance.now()`, which is shifted in a process preempted between the two
 * clock reads that make its `timeOrigin`.
 */
export const sharedNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Nearest-rank percentile of `values` (0 < p <= 100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Busy-waits `ms`: the "work" inside a critical section, on the CPU like real work. */
export function busyWork(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
