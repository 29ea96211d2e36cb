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

const permutationCache = new Map<number, number[][]>();

/** Every ordering of 0 … n-1 (n! of them), in lexicographic order. */
export function permutations(n: number): number[][] {
  let all = permutationCache.get(n);
  if (!all) {
    all = [[]];
    for (let k = 0; k < n; k++) {
      all = all.flatMap((p) =>
        Array.from({ length: p.length + 1 }, (_, at) => [...p.slice(0, at), k, ...p.slice(at)]),
      );
    }
    all.sort((a, b) => {
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return 0;
    });
    permutationCache.set(n, all);
  }
  return all;
}

/**
 * The order in which `n` contenders run in round `round`. Up to 5 contenders: round by round through
 * every permutation, so that over n! rounds each contender runs at each position, and right after each
 * other contender, equally often (a plain rotation keeps who-follows-whom fixed: with [A, B, C] rotated,
 * B always runs right after A, and so always in whatever state A leaves caches, sockets and the
 * services). More than 5: a shuffle seeded by the round (deterministic, every position alike on average).
 */
export function runOrder(n: number, round: number): number[] {
  if (n <= 5) {
    const all = permutations(n);
    return all[round % all.length]!;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  // mulberry32, seeded by the round
  let seed = (round + 1) * 0x9e3779b9;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Busy-waits `ms`: the "work" inside a critical section, on the CPU like real work. */
export function busyWork(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
