import { describe, expect, it } from 'vitest';
import {
  createLocker,
  type LockEvent,
  type LockStore,
  type StoreAcquireRequest,
  type StoreClaim,
} from '../src/index.js';

/**
 * A store that always answers "held by token 100" and, in waitForRelease, hands the lock over with
 * `handTo` (or nothing): what a queueing store does, without one.
 */
function queueingStore(handTo: number | undefined) {
  const requests: StoreAcquireRequest[] = [];
  const claims: StoreClaim[] = [];
  const withdrawn: string[] = [];
  const store: LockStore = {
    name: 'queueing',
    async acquire(request) {
      requests.push(request);
      return { acquired: false, holderRemainingMs: 5_000, holderToken: 100 };
    },
    extend: async () => true,
    release: async () => true,
    inspect: async (key) => ({ key, held: true }),
    async waitForRelease(_key, timeoutMs, _signal, claim) {
      if (claim) claims.push(claim);
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 20)));
      return handTo;
    },
    async withdraw(_key, owner) {
      withdrawn.push(owner);
    },
  };
  return { store, requests, claims, withdrawn };
}

describe('hand-over by a queueing store', () => {
  it('asks to be queued and takes a handed-over token above the holder’s as its grant', async () => {
    const { store, requests, claims, withdrawn } = queueingStore(116);
    const locker = createLocker({ store, ttlMs: 2_000 });
    const lease = await locker.acquire('k', { waitMs: 1_000 });
    expect(lease.token).toBe(116);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.queueMs).toBeGreaterThan(0);
    expect(claims[0]).toEqual({ owner: requests[0]?.owner, above: 100 });
    // Counted from the queued request's send time, not from the hand-over's arrival.
    expect(lease.remainingMs).toBeLessThanOrEqual(2_000 - 20);
    expect(withdrawn).toEqual([]);
  });

  it('reports an acquisition handed over after one refused attempt as contended', async () => {
    const { store } = queueingStore(116);
    const events: LockEvent[] = [];
    const locker = createLocker({ store, ttlMs: 2_000, onEvent: (e) => events.push(e) });
    await locker.acquire('k', { waitMs: 1_000 });
    expect(events.find((e) => e.type === 'acquired')).toMatchObject({ attempts: 1, contended: true });
  });

  it('never takes a token that is not above the holder token it saw', async () => {
    const { store, requests, withdrawn } = queueingStore(100);
    const locker = createLocker({ store, ttlMs: 2_000 });
    await expect(locker.acquire('k', { waitMs: 150 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(requests.length).toBeGreaterThan(1);
    // It gave up: it leaves the queue (and frees a lock handed to it meanwhile).
    expect(withdrawn).toEqual([requests.at(-1)?.owner]);
  });

  it('does not queue tryAcquire', async () => {
    const { store, requests, withdrawn } = queueingStore(116);
    expect(await createLocker({ store }).tryAcquire('k')).toBeNull();
    expect(requests[0]?.queueMs).toBeUndefined();
    expect(withdrawn).toEqual([]);
  });
});
