/**
 * What a locker leaves behind in a long-lived process: timers that outlive their use, and listeners
 * whose failures escape.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, LockLostError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('a long-lived locker', () => {
  it('keeps no timer per short lease while a long lease is held', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    const locker = createLocker({ store: memoryStore(), ttlMs: 1_000 });
    const job = await locker.acquire('job', { ttlMs: 3_600_000 }); // a long job's lease
    let most = 0;
    for (let i = 0; i < 200; i++) {
      const lease = await locker.acquire('order'); // a short lock, once a second
      await lease.release();
      await vi.advanceTimersByTimeAsync(1_000);
      most = Math.max(most, vi.getTimerCount());
    }
    expect(job.held).toBe(true);
    // Was one more pending timer per short lease, each waiting out the hour (~400 B of heap apiece).
    expect(most).toBeLessThanOrEqual(2);
    await job.release();
  });

  it('swallows the rejections of an async onEvent listener (unhandled, they end a Node process)', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const locker = createLocker({
        store: memoryStore(),
        onEvent: async () => {
          throw new Error('metrics endpoint down');
        },
      });
      const lease = await locker.acquire('k');
      expect(await lease.release()).toBe(true);
      await new Promise((r) => setTimeout(r, 20)); // unhandled rejections are reported after a tick
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(unhandled).toEqual([]);
  });

  it('raises no unhandled rejection for an extension whose failure the caller checks only later', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const store = memoryStore();
      store.latencyMs = 5;
      const lease = await createLocker({ store }).acquire('k');
      const extending = lease.extend(); // answered after the release below: it fails as released
      expect(await lease.release()).toBe(true);
      await new Promise((r) => setTimeout(r, 20)); // unhandled rejections are reported after a tick
      await expect(extending).rejects.toThrow(LockLostError);
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(unhandled).toEqual([]);
  });
});
