import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockStore, type StoreAcquireResult } from '../src/index.js';

/** A store that answers acquire from a script and records when each attempt was sent. */
function scriptedStore(answers: StoreAcquireResult[]): LockStore & { sentAt: number[] } {
  const sentAt: number[] = [];
  return {
    name: 'scripted',
    sentAt,
    async acquire() {
      sentAt.push(performance.now());
      const answer = answers.shift();
      if (!answer) throw new Error('script exhausted');
      return answer;
    },
    async extend() {
      return true;
    },
    async release() {
      return true;
    },
    async inspect(key) {
      return { key, held: false };
    },
  };
}

const held = (token: number): StoreAcquireResult => ({
  acquired: false,
  holderRemainingMs: 60_000,
  holderToken: token,
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('backoff between attempts on a store without release notifications', () => {
  it('grows while the same holder keeps the key, and starts over when the holder changes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.999); // the top of every jitter range
    const store = scriptedStore([
      held(7),
      held(7),
      held(7),
      held(7),
      held(8), // the key changed hands
      held(8),
      { acquired: true, token: 9 },
    ]);
    const locker = createLocker({ store, retryBaseMs: 20, retryMaxMs: 250, waitMs: 60_000 });
    const pending = locker.acquire('k');
    for (let i = 0; i < 100 && store.sentAt.length < 7; i++) await vi.advanceTimersByTimeAsync(10);
    const lease = await pending;
    const gaps = store.sentAt.slice(1).map((t, i) => Math.round(t - store.sentAt[i]!));
    // Full jitter below min(250, 20 * 2^n): 39, 79, 159, 249 for holder 7; then from 39 again for 8.
    expect(gaps).toEqual([39, 79, 159, 249, 39, 79]);
    await lease.release();
  });
});
