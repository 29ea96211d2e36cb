import { describe, expect, it } from 'vitest';
import { createLocker, type Lease } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic PRNG (mulberry32). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

describe('acquire', () => {
  for (const seed of [1, 2, 3]) {
    it(`serves a crowd with mixed waits, aborts and tryAcquire on one key: one holder at a time, increasing tokens, nobody stuck (seed ${seed})`, async () => {
      const random = prng(seed);
      const store = memoryStore();
      store.jitterMs = 2;
      store.random = random;
      const locker = createLocker({ store, ttlMs: 1_000 });
      const holders = new Set<Lease>();
      const granted: number[] = [];
      let overlaps = 0;
      const runs = Array.from({ length: 40 }, async (_, i) => {
        await sleep(Math.floor(random() * 30));
        const controller = new AbortController();
        const abortAt = random() < 0.25 ? Math.floor(random() * 40) : undefined;
        if (abortAt !== undefined) setTimeout(() => controller.abort(new Error('gone')), abortAt);
        const kind = random();
        const wait = [0, 5, 60, 2_000][Math.floor(random() * 4)] as number;
        const enqueued = performance.now();
        let lease: Lease | null;
        try {
          lease =
            kind < 0.15
              ? await locker.tryAcquire('k', { signal: controller.signal })
              : await locker.acquire('k', { waitMs: wait, signal: controller.signal });
        } catch (error) {
          return { i, outcome: (error as Error).name, enqueued };
        }
        if (!lease) return { i, outcome: 'null', enqueued };
        for (const other of holders) if (other.held) overlaps++;
        expect(lease.held).toBe(true);
        holders.add(lease);
        granted.push(lease.token);
        await sleep(1 + Math.floor(random() * 4));
        holders.delete(lease);
        if (random() < 0.5) await lease.release();
        else await lease[Symbol.asyncDispose]();
        return { i, outcome: 'granted', enqueued };
      });
      const results = await Promise.race([
        Promise.all(runs),
        sleep(10_000).then(() => {
          throw new Error('a waiter is stuck');
        }),
      ]);
      expect(overlaps).toBe(0);
      for (let j = 1; j < granted.length; j++) expect(granted[j]).toBeGreaterThan(granted[j - 1] as number);
      expect(results.filter((r) => r.outcome === 'granted').length).toBeGreaterThan(5);
      for (const r of results) expect(['granted', 'null', 'LockTimeoutError', 'Error']).toContain(r.outcome);
      // Nothing leaked: the key is free in the store and in the locker.
      const last = await locker.tryAcquire('k');
      expect(last).not.toBeNull();
      expect(await last!.release()).toBe(true);
      expect((await locker.inspect('k')).held).toBe(false);
    });
  }
});
