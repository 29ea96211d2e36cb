import { describe, expect, it } from 'vitest';
import { type HotKeyResult, summarize } from '../src/hot-key.js';
import type { ContenderResult } from '../src/main.js';
import { evaluateTargets } from '../src/report.js';
import { median, percentile, permutations, runOrder } from '../src/stats.js';
import type { HotKeyOutput, HotKeyTask } from '../src/worker.js';

describe('percentile (nearest rank)', () => {
  it('takes the value at rank ceil(p/100 * n)', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('does not sort its input in place', () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('runOrder', () => {
  it('goes through every permutation for a few contenders', () => {
    expect(permutations(3)).toHaveLength(6);
    const seen = new Set(Array.from({ length: 6 }, (_, round) => runOrder(3, round).join('')));
    expect(seen.size).toBe(6);
  });

  it('puts each contender at each position, and after each other one, equally often', () => {
    const n = 3;
    const rounds = 6 * 50;
    const atPosition = Array.from({ length: n }, () => new Array<number>(n).fill(0));
    const after = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const order = runOrder(n, round);
      order.forEach((c, position) => {
        atPosition[c]![position]!++;
      });
      for (let i = 1; i < n; i++) {
        const pair = `${order[i - 1]}>${order[i]}`;
        after.set(pair, (after.get(pair) ?? 0) + 1);
      }
    }
    for (const row of atPosition) expect(row).toEqual(new Array(n).fill(rounds / n));
    expect(after.size).toBe(n * (n - 1));
    expect(new Set(after.values()).size).toBe(1);
  });

  it('shuffles many contenders deterministically, each once per round', () => {
    const a = runOrder(9, 4);
    expect([...a].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(runOrder(9, 4)).toEqual(a);
    const firsts = new Set(Array.from({ length: 30 }, (_, round) => runOrder(9, round)[0]));
    expect(firsts.size).toBeGreaterThan(4);
  });
});

describe('summarize (hot key)', () => {
  const task: HotKeyTask = {
    task: 'hotkey',
    contender: 'x',
    endpoints: {} as HotKeyTask['endpoints'],
    key: 'k',
    waiters: 2,
    workMs: 1,
    durationMs: 100,
    ttlMs: 1000,
    graceMs: 2000,
  };

  it('counts sections, handoffs and requests within the run only', () => {
    // One process: sections every 10 ms (1 ms handoff), then one granted 500 ms after the end.
    const sections = Array.from({ length: 10 }, (_, i) => ({
      grant: i * 10,
      releaseStart: i * 10 + 9,
      releaseEnd: i * 10 + 9.5,
    }));
    sections.push({ grant: 600, releaseStart: 601, releaseEnd: 602 });
    const output: HotKeyOutput = { sections, errors: [], requests: 100, requestsInRun: 20 };
    const r = summarize([output], 0, task, 1, 2);
    expect(r.sections).toBe(10);
    expect(r.perSecond).toBe(100);
    expect(r.handoffP50).toBe(1);
    expect(r.handoffP99).toBe(1); // the late grant is not a handoff of the run
    expect(r.requestsPerSection).toBe(2);
    expect(r.overlaps).toBe(0);
  });

  it('flags overlapping sections across processes', () => {
    const a: HotKeyOutput = {
      sections: [{ grant: 0, releaseStart: 10, releaseEnd: 11 }],
      errors: [],
      requests: 2,
      requestsInRun: 2,
    };
    const b: HotKeyOutput = {
      sections: [{ grant: 5, releaseStart: 12, releaseEnd: 13 }],
      errors: [],
      requests: 2,
      requestsInRun: 2,
    };
    const r = summarize([a, b], 0, task, 2, 2);
    expect(r.overlaps).toBe(1);
    expect(r.crossShare).toBe(1);
  });
});

describe('evaluateTargets', () => {
  const hot = (perSecond: number, handoffP50: number) => ({ perSecond, handoffP50 }) as HotKeyResult;

  it('judges hot-key throughput against 1/(work + 2 RT), RT from the floor handoff', () => {
    const floor: ContenderResult = {
      id: 'floor-upstash',
      label: 'floor',
      store: 'upstash',
      role: 'floor',
      // 2 RT = 3 ms, so 1/(1 ms + 3 ms) = 250/s, whatever the floor's own rate (200/s here).
      hotOneProcess: hot(200, 3),
    };
    const ours = (perSecond: number): ContenderResult => ({
      id: 'leasehold-upstash',
      label: 'Leasehold',
      store: 'upstash',
      role: 'leasehold',
      hotOneProcess: hot(perSecond, 0.1),
    });
    const settings = { workMs: 1, processes: 4, waiters: 8 };
    const check = (perSecond: number) =>
      evaluateTargets([floor, ours(perSecond)], settings).find((c) => c.target.startsWith('hot key, 8'));
    expect(check(175)?.pass).toBe(true); // 70% of 250
    expect(check(170)?.pass).toBe(false); // above 70% of the floor's 200/s, below 70% of 250/s
  });

  it('judges request counts in the steady state and shows the first call', () => {
    const counts = { acquire: 1, extend: 1, release: 1, detail: {} };
    const ours: ContenderResult = {
      id: 'leasehold-upstash',
      label: 'Leasehold',
      store: 'upstash',
      role: 'leasehold',
      requests: { ...counts, first: { ...counts, acquire: 2 } },
    };
    const check = evaluateTargets([ours], { workMs: 1, processes: 4, waiters: 8 })[0]!;
    expect(check.pass).toBe(true);
    expect(check.measured).toBe('1 / 1 / 1 (first call: 2/1/1)');
  });
});
