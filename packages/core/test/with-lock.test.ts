import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocker, type LockEvent, LockLostError, LockTimeoutError } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withLock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('with an extendEveryMs above what an extension earns (the TTL less the allowance), the TTL is a hard bound', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    // Each extension is valid for 988 ms (1 s less 1% and 2 ms): one every 995 ms comes too late.
    const out = locker
      .withLock('k', () => new Promise((r) => setTimeout(() => r('done'), 5_000)), {
        ttlMs: 1_000,
        extendEveryMs: 995,
      })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await out).toMatchObject({ code: 'LOCK_LOST', reason: 'expired' });
    expect(events.filter((e) => e.type === 'lost')).toHaveLength(1);
    // Below it (here 980 ms), the lease is kept.
    const kept = locker.withLock('k', () => new Promise((r) => setTimeout(() => r('done'), 5_000)), {
      ttlMs: 1_000,
      extendEveryMs: 980,
    });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await kept).toBe('done');
  });

  it("returns the callback's result and releases", async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const out = await locker.withLock('k', async (lease) => {
      expect(lease.held).toBe(true);
      return lease.token * 2;
    });
    expect(out).toBe(store.rows.get('k')!.fence * 2);
    expect(store.calls.release).toBe(1);
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('runs callers one at a time on the same key', async () => {
    const locker = createLocker({ store: memoryStore() });
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        locker.withLock('k', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(5);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
  });

  it("rethrows the callback's error, not the release error", async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    const mine = new Error('payment declined');
    const error = await locker
      .withLock('k', async () => {
        store.failNext(); // the release will fail too
        throw mine;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(mine);
    expect(events.map((e) => e.type)).toContain('release-failed');
  });

  it('rejects with LockLostError when the lease was taken before the callback released it', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const result = locker.withLock('k', async (lease) => {
      store.steal('k'); // another client takes the key over; not noticed yet
      const freed = await lease.release(); // the store says: not yours
      expect(freed).toBe(false);
      return 'paid';
    });
    await expect(result).rejects.toBeInstanceOf(LockLostError);
  });

  it('resolves with the result when the callback released the lease itself and that freed the lock', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const out = await locker.withLock('k', async (lease) => {
      expect(await lease.release()).toBe(true);
      return 'paid';
    });
    expect(out).toBe('paid');
    expect(store.calls.release).toBe(1); // not released twice
    // Not awaited by the callback: withLock waits for it, and judges by its answer.
    const unawaited = await locker.withLock('k', (lease) => {
      void lease.release();
      return 'booked';
    });
    expect(unawaited).toBe('booked');
    expect((await locker.inspect('k')).held).toBe(false);
  });

  it('resolves when the callback released the lease by passing it to a waiter of the same locker', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    let firstToken: number | undefined;
    let passedTo: number | undefined;
    const first = locker.withLock('k', async (lease) => {
      firstToken = lease.token;
      await sleep(5); // the waiter queues meanwhile
      expect(await lease.release()).toBe(true);
      return 'first';
    });
    await sleep(1);
    const waiter = locker.withLock('k', (lease) => {
      passedTo = lease.token;
      return 'second';
    });
    expect(await first).toBe('first');
    expect(await waiter).toBe('second');
    // Passed on, not released and acquired again: the next token, one store acquire in all.
    expect(passedTo).toBe(firstToken! + 1);
    expect(store.calls.acquire).toBe(1);
  });

  it('releases even when the callback throws', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await expect(
      locker.withLock('k', () => {
        throw new Error('sync throw');
      }),
    ).rejects.toThrow('sync throw');
    expect(store.calls.release).toBe(1);
  });

  it('resolves with the result when only the release fails afterwards', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const out = await locker.withLock('k', async () => {
      store.failNext();
      return 'done';
    });
    expect(out).toBe('done');
  });

  it('auto-extends at about a third of the TTL so a long callback keeps the lease', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const out = await locker.withLock(
      'k',
      async (lease) => {
        await sleep(450);
        return lease.signal.aborted;
      },
      { ttlMs: 150 },
    );
    expect(out).toBe(false);
    expect(store.calls.extend).toBeGreaterThanOrEqual(4);
  });

  it('retries a failed auto-extension sooner instead of giving up', async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    await locker.withLock(
      'k',
      async (lease) => {
        store.failNext();
        await sleep(400);
        expect(lease.held).toBe(true);
      },
      { ttlMs: 300 },
    );
    expect(events.map((e) => e.type)).toContain('extend-failed');
  });

  it('aborts lease.signal and rejects with LockLostError when the lease is lost mid-callback', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    let sawAbort = false;
    const error = await locker
      .withLock(
        'k',
        async (lease) => {
          store.steal('k');
          await new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve()));
          sawAbort = true;
          return 'finished anyway';
        },
        { ttlMs: 150 },
      )
      .catch((e: unknown) => e);
    expect(sawAbort).toBe(true);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ reason: 'taken' });
  });

  it('rejects with LockLostError when the callback ends after the lease ran out, even before its timer ran', async () => {
    // Regression found by the model-based tests: the loss was read from the timer-driven signal only.
    const locker = createLocker({ store: memoryStore() });
    const error = await locker
      .withLock(
        'k',
        () => {
          const until = performance.now() + 120; // a busy callback: no timer runs meanwhile
          while (performance.now() < until) {
            // spin
          }
          return 'done';
        },
        { ttlMs: 100, extendEveryMs: 10_000 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ reason: 'expired' });
  });

  it('times out with LockTimeoutError when the key stays held', async () => {
    const store = memoryStore();
    await createLocker({ store }).acquire('k');
    let ran = false;
    await expect(
      createLocker({ store }).withLock(
        'k',
        () => {
          ran = true;
        },
        { waitMs: 50 },
      ),
    ).rejects.toBeInstanceOf(LockTimeoutError);
    expect(ran).toBe(false);
  });

  it('validates extendEveryMs before any store call', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    await expect(locker.withLock('k', () => 1, { extendEveryMs: 0 })).rejects.toMatchObject({
      argument: 'extendEveryMs',
    });
    expect(store.calls.acquire).toBe(0);
  });

  it('names another owner, not this locker, when a caller queued here times out behind a holder elsewhere', async () => {
    const store = memoryStore();
    const elsewhere = await createLocker({ store }).acquire('k', { ttlMs: 5_000 });
    const locker = createLocker({ store });
    const first = locker.acquire('k', { waitMs: 300 }).catch((e: unknown) => e);
    const second = await locker.acquire('k', { waitMs: 50 }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(LockTimeoutError);
    expect((second as LockTimeoutError).reason).toBe('held');
    expect((second as LockTimeoutError).message).toMatch(/^"k" still held by another owner after/);
    expect(await first).toBeInstanceOf(LockTimeoutError);
    await elsewhere.release();
  });

  it('is not re-entrant: a nested withLock on the same key waits for itself and times out', async () => {
    const store = memoryStore();
    const locker = createLocker({ store });
    const inner = await locker
      .withLock('k', () => locker.withLock('k', () => 'inner', { waitMs: 50 }))
      .catch((e: unknown) => e);
    expect(inner).toBeInstanceOf(LockTimeoutError);
    // The reason and the message say who holds it: this locker, not another owner.
    expect((inner as LockTimeoutError).reason).toBe('held-here');
    expect((inner as LockTimeoutError).message).toMatch(
      /"k" still held by another caller of this locker \(locks are not re-entrant\) after \d+ ms, 0 attempt/,
    );
    // The nested call queued in memory: one store grant, released once by the outer call.
    expect(store.calls.acquire).toBe(1);
    expect(store.calls.release).toBe(1);
    expect((await locker.inspect('k')).held).toBe(false);
  });
});
