import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('extend', () => {
  it('caps an extension with a TTL longer than the time left before the Lambda deadline, instead of losing the lease', async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, ttlMs: 10_000, onEvent: (e) => events.push(e) });
    // 10 minutes left in the invocation; the caller asks for a day (the longest TTL accepted): the
    // extension is capped at the deadline, as documented, and the lease stays held.
    const context = { getRemainingTimeInMillis: () => 600_000 };
    const lease = await locker.acquire('k', { context });
    await expect(lease.extend(86_400_000)).resolves.toBeUndefined();
    expect(lease.held).toBe(true);
    expect(lease.remainingMs).toBeGreaterThan(500_000);
    expect(events.filter((e) => e.type === 'lost')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'extended' });
    // The store lease is capped at the deadline too.
    expect(store.rows.get('k')!.expiresAt - Date.now()).toBeLessThanOrEqual(600_000);
    expect(await lease.release()).toBe(true);
  });
});

describe('withLock', () => {
  it('keeps auto-extending up to the Lambda deadline: a callback that ends before it is not reported lost', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    const locker = createLocker({ store, ttlMs: 60_000 });
    const context = { getRemainingTimeInMillis: () => 100_000 };
    // Extensions at ~33.0 s, ~66.3 s and ~99.6 s: the last one finds 400 ms left before the deadline,
    // less than the 602 ms drift allowance of the 60 s TTL but plenty for a lease capped at 400 ms.
    const done = locker
      .withLock(
        'k',
        async () => {
          await new Promise((r) => setTimeout(r, 99_900));
          return 'paid';
        },
        { context, extendEveryMs: 33_311 },
      )
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(await done).toBe('paid');
    expect(store.calls.extend).toBe(3);
  });
});
