import { describe, expect, it } from 'vitest';
import { createLocker, type LockEvent, type LockStore } from '../src/index.js';
import { memoryStore } from './support/memory-store.js';

describe('the next local caller after an acquire that failed', () => {
  // One store request in flight per key per locker: the withdraw of a grant whose answer was lost comes first.
  it("a withdraw after a failed acquire is never in flight together with the next local waiter's acquire", async () => {
    const base = memoryStore();
    let inFlight = 0;
    let maxInFlight = 0;
    const order: string[] = [];
    const track =
      <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R>, extraMs = 0) =>
      async (...a: A): Promise<R> => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        order.push(`${name}>`);
        try {
          if (extraMs) await new Promise((r) => setTimeout(r, extraMs));
          return await f(...a);
        } finally {
          inFlight--;
          order.push(`<${name}`);
        }
      };
    const withdraw = async (key: string, owner: string) => {
      const row = base.rows.get(key);
      if (row?.owner === owner) delete row.owner;
    };
    const store: LockStore = {
      name: 'audit',
      acquire: track('acquire', base.acquire.bind(base)),
      extend: track('extend', base.extend.bind(base)),
      release: track('release', base.release.bind(base)),
      inspect: base.inspect.bind(base),
      withdraw: track('withdraw', withdraw, 30),
    };
    const locker = createLocker({ store, ttlMs: 5_000 });
    base.failNext(1, 'after'); // applied (granted), answer lost
    const a = locker.acquire('k', { waitMs: 0 }).catch((e: unknown) => e);
    const b = locker.tryAcquire('k'); // queued behind A's unanswered request
    const [ea, lb] = await Promise.all([a, b]);
    expect(ea).toMatchObject({ code: 'STORE_ERROR' });
    expect(maxInFlight).toBe(1);
    expect(lb).not.toBeNull(); // nobody holds the key: the grant nobody uses was withdrawn "at once"
  });
});

describe('the next local caller after an abort with an unanswered request', () => {
  it('the next caller here is not refused with the grant of an abandoned request whose answer was lost', async () => {
    const base = memoryStore();
    base.latencyMs = 20;
    const withdrawn: string[] = [];
    const store = Object.assign(base, {
      withdraw: async (key: string, owner: string) => {
        await new Promise((r) => setTimeout(r, 30)); // 10 ms slower than the acquire sent right after it
        withdrawn.push(owner);
        const row = base.rows.get(key);
        if (row?.owner === owner) delete row.owner;
      },
    });
    const locker = createLocker({ store, ttlMs: 5_000 });
    const ac = new AbortController();
    base.failNext(1, 'after'); // A's request is applied (granted) and its answer lost
    const a = locker.acquire('k', { signal: ac.signal }).catch((e: unknown) => e);
    const b = locker.tryAcquire('k'); // queued behind A
    setTimeout(() => ac.abort(new Error('gave up')), 5);
    await a;
    const lb = await b;
    expect(lb).not.toBeNull();
  });
});

describe('withLock when fn releases itself and the store cannot answer', () => {
  it('two store failures (never applied) on the release: not reported as lost', async () => {
    const store = memoryStore();
    const events: LockEvent[] = [];
    const locker = createLocker({ store, onEvent: (e) => events.push(e) });
    const out = await locker
      .withLock('k', async (lease) => {
        store.failNext(2, 'before'); // fn's release and withLock's own retry both fail before reaching the store
        await lease.release().catch(() => undefined);
        return 'paid';
      })
      .catch((e: unknown) => e);
    expect(out).toBe('paid');
    // fn's own release rejected to fn; withLock's retry failing is the event.
    expect(events.map((e) => e.type)).toEqual(['acquired', 'release-failed']);
  });
});
