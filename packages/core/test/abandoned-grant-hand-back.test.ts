import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent, StoreError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('acquire aborted while its request was in flight, then granted', () => {
  it('a failed hand-back is a release-failed event (README: "a failed hand-back is still a release-failed")', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    store.latencyMs = 40; // the grant lands after the caller gave up
    let releases = 0;
    // The hand-back (a release) fails: the store cannot be reached.
    store.release = async () => {
      releases++;
      throw new StoreError('memory', 'unreachable', 'injected failure');
    };
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    const controller = new AbortController();
    const pending = locker.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('caller went away'));
    expect(await pending).toMatchObject({ message: 'caller went away' });
    await vi.advanceTimersByTimeAsync(200); // granted at 40 ms, handed back, the hand-back fails
    expect(releases).toBe(1);
    expect(store.rows.get('k')?.owner).toBeTruthy(); // the grant still blocks the key for its TTL
    // A grant handed back because it came too late reports exactly this (documented-events.test.ts);
    // one handed back because the caller gave up reports nothing.
    expect(events).toEqual([
      { type: 'release-failed', key: 'k', token: expect.any(Number), error: expect.any(StoreError) },
    ]);
  });
});
