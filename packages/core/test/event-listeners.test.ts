import { describe, expect, it } from 'vitest';
import { createLocker, type LockEvent, type LockEventListener } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('onEvent', () => {
  for (const mode of ['throws', 'rejects', 'returns an object whose catch is no function'] as const) {
    it(`a listener that ${mode} never breaks locking`, async () => {
      const store = memoryStore();
      const seen: string[] = [];
      const listener = (e: LockEvent): unknown => {
        seen.push(e.type);
        if (mode === 'throws') throw new Error('listener');
        if (mode === 'rejects') return Promise.reject(new Error('async listener'));
        return { catch: 5 };
      };
      const onEvent = listener as LockEventListener;
      const locker = createLocker({ store, ttlMs: 200, onEvent });
      const a = await locker.acquire('k');
      const waiting = locker.acquire('k', { waitMs: 1_000 });
      await a.extend();
      expect(await a.release()).toBe(true); // passed on to the waiter
      const b = await waiting;
      expect(b.held).toBe(true);
      store.failNext(1);
      await expect(b.extend()).rejects.toMatchObject({ code: 'STORE_ERROR' });
      store.steal('k', 100);
      await expect(b.extend()).rejects.toMatchObject({ code: 'LOCK_LOST', reason: 'taken' });
      await b[Symbol.asyncDispose]();
      await sleep(120);
      const d = await locker.acquire('k');
      store.failNext(1);
      await d[Symbol.asyncDispose](); // release-failed, never thrown
      await sleep(250);
      expect(await locker.withLock('k', async (l) => l.token, { waitMs: 1_000 })).toBeGreaterThan(0);
      for (const t of ['acquired', 'extended', 'released', 'lost', 'release-failed'])
        expect(seen).toContain(t);
    });
  }

  it('reports no lease as lost that no caller ever got (a grant that came too late is handed back)', async () => {
    const store = memoryStore();
    store.latencyMs = 150; // slower than the 100 ms lease
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    await expect(locker.acquire('k', { ttlMs: 100, waitMs: 0 })).rejects.toMatchObject({ kind: 'timeout' });
    await sleep(200);
    expect(store.calls.release).toBe(1); // handed back
    // `lost` means "a holder lost its lease": a metric or alert on it must not fire for a slow store.
    expect(events.filter((e) => e.type === 'lost')).toEqual([]);
    expect(events.filter((e) => e.type === 'acquired')).toEqual([]);
  });
});
