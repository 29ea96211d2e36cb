import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashKeyNames, upstashStore } from '../src/index.js';
import { freshKey, freshOwner, type Services, startServices } from './support/services.js';

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

/**
 * The fence counter can vanish while its lock is held: eviction on a database with an eviction policy,
 * or an operator deleting the `p{k}:fence` keys (the README's advice after a stale restore). A late
 * copy of the holder's acquire (the client's retry, a duplicated request) must then still never cut
 * short the expiry the holder was told it has: another owner would be granted the lock while the
 * holder counts on it.
 */
describe('a late copy of the holder acquire after its fence counter vanished', () => {
  it('never shortens the expiry an extension gave the holder', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const first = await store.acquire({ key, owner, ttlMs: 1_000 });
    if (!first.acquired) throw new Error('expected a grant');
    expect(await store.extend({ key, owner, token: first.token, ttlMs: 60_000 })).toBe(true);
    expect(await services.admin.del(upstashKeyNames(key).fence)).toBe(1);
    // The first request again, applied after the extension (held up on the way, or retried).
    const late = await store.acquire({ key, owner, ttlMs: 1_000 });
    expect(late.acquired).toBe(true);
    expect((await store.inspect(key)).remainingMs).toBeGreaterThan(55_000);
    // And no other owner gets the lock while the holder counts on its extension.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await store.acquire({ key, owner: freshOwner(), ttlMs: 1_000 })).acquired).toBe(false);
  });

  it('answers with a token above every token issued before, and the next grant is above it', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const first = await store.acquire({ key, owner, ttlMs: 5_000 });
    if (!first.acquired) throw new Error('expected a grant');
    expect(await services.admin.del(upstashKeyNames(key).fence)).toBe(1);
    const late = await store.acquire({ key, owner, ttlMs: 5_000 });
    if (!late.acquired) throw new Error('expected the same owner to hold it');
    expect(late.token).toBeGreaterThanOrEqual(first.token);
    expect(await store.release({ key, owner, token: late.token })).toBe(true);
    const next = await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
    if (!next.acquired) throw new Error('expected a grant');
    expect(next.token).toBeGreaterThan(late.token);
  });
});
