import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashKeyNames, upstashStore } from '../src/index.js';
import { freshKey, freshOwner, hold, type Services, startServices } from './support/services.js';

let services: Services;
let store: UpstashLockStore;
beforeAll(async () => {
  services = await startServices();
  store = upstashStore({ url: services.url, token: services.token });
});
afterAll(async () => {
  await store?.close();
  await services?.stop();
});

describe('hand-over on release after the fence counter was lost while the lock was held', () => {
  // Only the counter vanishes (evicted by an allkeys-* policy, deleted by an operator): the lock and
  // the queue are still there. A counter re-made by the hand-over could not be proven above the
  // holder's token (within FLOOR_LAG_MS of its creation it is not), so the release must not hand over.
  it('frees the lock instead of handing it to the queued waiter, whose next grant is above the holder token', async () => {
    const key = freshKey();
    const holder = await hold(store, key);
    const waiter = freshOwner();
    const queued = await store.acquire({ key, owner: waiter, ttlMs: 5_000, queueMs: 5_000 });
    expect(queued.acquired).toBe(false);
    expect(await services.admin.del(upstashKeyNames(key).fence)).toBe(1);

    expect(await store.release({ key, ...holder })).toBe(true);
    expect(await services.admin.get(upstashKeyNames(key).lock)).toBeNull();

    const next = await store.acquire({ key, owner: waiter, ttlMs: 5_000 });
    expect(next.acquired).toBe(true);
    expect(next.acquired && next.token).toBeGreaterThan(holder.token);
  });
});
