import { createLocker, FENCE_STEP, type LockStore } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseChannel, type UpstashLockStore, upstashKeyNames } from '../src/index.js';
import { sha1hex } from '../src/scripts.js';
import { countingClient } from './support/counting-client.js';
import {
  freshKey,
  freshOwner,
  type Services,
  sleep,
  startServices,
  subscribers,
} from './support/services.js';

let services: Services;
const stores: UpstashLockStore[] = [];
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await services?.stop();
});

const client = () => countingClient(services.url, services.token, stores);

const queueLength = async (key: string) => Number(await services.admin.zcard(upstashKeyNames(key).queue));

describe('hand-over on release', () => {
  it('hands the lock to a waiter of another process with no request after its first attempt', async () => {
    const key = freshKey();
    const a = createLocker({ store: client().store });
    const b = client();
    const held = await a.acquire(key, { ttlMs: 5_000 });
    const waiting = createLocker({ store: b.store }).acquire(key, { ttlMs: 5_000, waitMs: 5_000 });
    await b.subscribed();
    expect(await queueLength(key)).toBe(1);
    await held.release();
    const lease = await waiting;
    expect(lease.token).toBe(held.token + FENCE_STEP);
    expect(b.acquires()).toBe(1); // queued by its only attempt, granted by the release
    expect((await b.store.inspect(key)).held).toBe(true);
    expect(await queueLength(key)).toBe(0);
    expect(lease.remainingMs).toBeGreaterThan(4_000);
    await lease.release();
    expect((await b.store.inspect(key)).held).toBe(false);
  });

  // The channel travels in the `/subscribe/<channel>` URL path, which @upstash/redis does not encode,
  // and comes back in `message,<channel>,<payload>` lines that it splits at commas. Each of these once
  // sent the subscription elsewhere or garbled the hand-over message: the waiter slept until its
  // next check and asked again.
  it.each(['a/b', 'a,b', 'a,gx', 'a?b', 'a#b', 'a%41b', 'a\\b', 'a b', 'é{x}~'])(
    'hands over on a key with %j in it, the waiter learning it from the channel',
    async (tricky) => {
      const key = `${freshKey()}:${tricky}`;
      const a = createLocker({ store: client().store });
      const b = client();
      const held = await a.acquire(key, { ttlMs: 5_000 });
      const waiting = createLocker({ store: b.store }).acquire(key, { ttlMs: 5_000, waitMs: 5_000 });
      expect(await subscribers(services, releaseChannel(key))).toBe(1);
      await b.subscribed();
      await held.release();
      const lease = await waiting;
      expect(lease.token).toBe(held.token + FENCE_STEP);
      expect(b.acquires()).toBe(1);
      await lease.release();
    },
  );

  it('hands over in order of arrival and wakes nobody else', async () => {
    const key = freshKey();
    const a = createLocker({ store: client().store });
    const b = client();
    const c = client();
    const held = await a.acquire(key, { ttlMs: 5_000 });
    const order: string[] = [];
    const first = createLocker({ store: b.store })
      .acquire(key, { waitMs: 5_000 })
      .then((l) => {
        order.push('b');
        return l;
      });
    await b.subscribed(); // queued first

    const second = createLocker({ store: c.store })
      .acquire(key, { waitMs: 5_000 })
      .then((l) => {
        order.push('c');
        return l;
      });
    await c.subscribed();
    await held.release();
    const leaseB = await first;
    await sleep(50);
    expect(order).toEqual(['b']);
    expect(c.acquires()).toBe(1); // the hand-over to b did not wake c
    await leaseB.release();
    const leaseC = await second;
    expect(order).toEqual(['b', 'c']);
    expect(leaseC.token).toBe(leaseB.token + FENCE_STEP);
    expect(c.acquires()).toBe(1);
    await leaseC.release();
  });

  it('withdraws a waiter that gives up: the next release leaves the lock free', async () => {
    const key = freshKey();
    const a = createLocker({ store: client().store });
    const b = client();
    const held = await a.acquire(key, { ttlMs: 5_000 });
    await expect(createLocker({ store: b.store }).acquire(key, { waitMs: 100 })).rejects.toMatchObject({
      code: 'LOCK_TIMEOUT',
    });
    await sleep(50); // the withdrawal is sent in the background
    expect(await queueLength(key)).toBe(0);
    await held.release();
    expect((await b.store.inspect(key)).held).toBe(false);
  });

  it('frees a lock handed to a waiter that withdrew at the same moment', async () => {
    const key = freshKey();
    const { store } = client();
    const holder = freshOwner();
    const waiter = freshOwner();
    const granted = await store.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    expect(await store.acquire({ key, owner: waiter, ttlMs: 5_000, queueMs: 5_000 })).toMatchObject({
      acquired: false,
    });
    expect(await store.release({ key, owner: holder, token: granted.token })).toBe(true);
    expect((await store.inspect(key)).held).toBe(true); // handed to the waiter
    await store.withdraw(key, waiter);
    expect((await store.inspect(key)).held).toBe(false);
  });

  it('does not hand over to a queued waiter whose eligibility ran out (one that vanished)', async () => {
    const key = freshKey();
    const { store } = client();
    const holder = freshOwner();
    const granted = await store.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000, queueMs: 40 });
    await sleep(80);
    expect(await store.release({ key, owner: holder, token: granted.token })).toBe(true);
    expect((await store.inspect(key)).held).toBe(false);
    expect(await queueLength(key)).toBe(0);
  });

  it('does not miss a hand-over published before the waiter subscribed', async () => {
    const key = freshKey();
    const holderStore = client().store;
    const { store } = client();
    const holder = freshOwner();
    const owner = freshOwner();
    const granted = await holderStore.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    const queued = await store.acquire({ key, owner, ttlMs: 5_000, queueMs: 5_000 });
    expect(queued).toMatchObject({ acquired: false, holderToken: granted.token });
    // Handed over while nobody listens on the channel yet.
    await holderStore.release({ key, owner: holder, token: granted.token });
    const started = performance.now();
    await store.waitForRelease(key, 3_000, undefined, { owner, above: granted.token });
    // Woken by the check that follows the subscription (not by the 3 s timeout): asking again, the
    // waiter finds the lock its own.
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(await store.acquire({ key, owner, ttlMs: 5_000 })).toEqual({
      acquired: true,
      token: granted.token + FENCE_STEP,
    });
  });

  it('never queues tryAcquire', async () => {
    const key = freshKey();
    const a = createLocker({ store: client().store });
    const held = await a.acquire(key);
    expect(await createLocker({ store: client().store }).tryAcquire(key)).toBeNull();
    expect(await queueLength(key)).toBe(0);
    await held.release();
  });

  it('ignores a hand-over message whose token is not above the holder token the waiter saw', async () => {
    const key = freshKey();
    const { store } = client();
    const holder = freshOwner();
    const owner = freshOwner();
    const granted = await store.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    const waiting = (store as LockStore).waitForRelease?.(key, 300, undefined, {
      owner,
      above: granted.token,
    });
    await sleep(50);
    // A stale (or forged) message naming this owner with an old token must not be taken as a grant.
    await services.admin.publish(upstashKeyNames(key).channel, `g${await sha1hex(owner)}:${granted.token}`);
    expect(await waiting).toBeUndefined();
    await store.release({ key, owner: holder, token: granted.token });
  });
});
