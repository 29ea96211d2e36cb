/**
 * A queued waiter counts a lease handed over to it from the send time of its queued attempt, so it must
 * not stay eligible for longer than its lease's validity: a lock handed over later would arrive run out,
 * be handed straight back to the next in line, and the waiter would ask again at the back of the queue.
 * Core queues a waiter for at most half its validity, asking again before that lapses.
 */
import { createLocker, type Lease, LockTimeoutError } from '@leasehold/core';
import { type FaultProxy, startFaultProxy } from '@leasehold/testkit/faults';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashKeyNames } from '../src/index.js';
import { countingClient } from './support/counting-client.js';
import { freshKey, freshOwner, type Services, sleep, startServices } from './support/services.js';

let services: Services;
let proxy: FaultProxy;
const stores: UpstashLockStore[] = [];
beforeAll(async () => {
  services = await startServices();
  proxy = await startFaultProxy({ upstream: services.url });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await proxy?.close();
  await services?.stop();
});

const client = (url = services.url) => countingClient(url, services.token, stores);

const queueLength = async (key: string) => Number(await services.admin.zcard(upstashKeyNames(key).queue));

describe('hand-over to a waiter with a short lease TTL', () => {
  it('gives the lock to the first queued waiter, which keeps it (no hand-back to the next in line)', async () => {
    const key = freshKey();
    const holderStore = client().store;
    const holder = freshOwner();
    const granted = await holderStore.acquire({ key, owner: holder, ttlMs: 10_000 });
    if (!granted.acquired) throw new Error('expected a grant');

    const order: string[] = [];
    const b = client();
    const c = client();
    // First in line: a short critical section, ttlMs 300 ms (valid: >= 100 ms).
    const first = createLocker({ store: b.store })
      .acquire(key, { ttlMs: 300, waitMs: 5_000 })
      .then((l: Lease) => {
        order.push('first');
        return l;
      });
    await b.subscribed();
    expect(await queueLength(key)).toBe(1);
    const second = createLocker({ store: c.store })
      .acquire(key, { ttlMs: 5_000, waitMs: 5_000 })
      .then((l: Lease) => {
        order.push('second');
        return l;
      });
    await c.subscribed();
    expect(await queueLength(key)).toBe(2);

    // The holder releases 600 ms in, past the first waiter's validity (295 ms) but within what a 1 s
    // wait slice would have kept it eligible for: the script hands the lock to the first waiter.
    await sleep(600);
    expect(await holderStore.release({ key, owner: holder, token: granted.token })).toBe(true);

    const winner = await Promise.race([first, second]);
    await sleep(100);
    // Clean up whichever got it, then the other.
    await winner.release();
    const other = await (order[0] === 'first' ? second : first);
    await other.release();

    expect(order[0]).toBe('first');
    // Straight from the release's hand-over (counter + 16): not handed back to the second and re-won.
    expect(winner.token).toBe(granted.token + 16);
    expect(b.acquires()).toBeGreaterThan(1); // it asked again before its place lapsed
  });

  it('a waiter handed the lock near the end of its wait reports a timeout or gets the lock, not "store too slow"', async () => {
    const key = freshKey();
    const holderStore = client().store;
    const holder = freshOwner();
    const granted = await holderStore.acquire({ key, owner: holder, ttlMs: 10_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    // The waiter's store goes through a proxy that will slow down its next request by 300 ms (a slow
    // network for the hand-back): nothing else is wrong with the store.
    const w = client(proxy.url);
    const waiting = createLocker({ store: w.store })
      .acquire(key, { ttlMs: 300, waitMs: 800 })
      .then(
        (lease) => ({ lease }),
        (error: unknown) => ({ error }),
      );
    await w.subscribed();
    proxy.next({ kind: 'delay', ms: 300, phase: 'request' });
    await sleep(650);
    expect(await holderStore.release({ key, owner: holder, token: granted.token })).toBe(true);
    const outcome = (await waiting) as { lease?: Lease; error?: Error & { kind?: string } };
    await outcome.lease?.release();
    // The store handed the lock to this waiter 650 ms into an 800 ms wait, on a healthy store.
    expect(outcome.error === undefined || outcome.error instanceof LockTimeoutError).toBe(true);
  });
});
