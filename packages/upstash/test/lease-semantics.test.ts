import { Redis } from '@upstash/redis';
import { Redis as CloudflareRedis } from '@upstash/redis/cloudflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashStore } from '../src/index.js';
import { freshKey, freshOwner, type Services, sleep, startServices } from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

const modes: [string, () => UpstashLockStore][] = [
  ['created from { url, token }', () => upstashStore({ url: services.url, token: services.token })],
  [
    'given a user Redis instance (automatic deserialization and auto-pipelining on)',
    () => upstashStore({ redis: new Redis({ url: services.url, token: services.token }) }),
  ],
  [
    'given a Cloudflare Workers client (@upstash/redis/cloudflare)',
    () => upstashStore({ redis: new CloudflareRedis({ url: services.url, token: services.token }) }),
  ],
];

describe.each(modes)('upstash store %s', (_mode, makeStore) => {
  let store: UpstashLockStore;
  beforeAll(() => {
    store = makeStore();
  });

  it('is named upstash', () => {
    expect(store.name).toBe('upstash');
  });

  it('grants a free key and reports the holder, its remaining time and token to other owners', async () => {
    const key = freshKey();
    const first = await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
    expect(first.acquired).toBe(true);
    if (!first.acquired) return;
    expect(Number.isSafeInteger(first.token)).toBe(true);
    expect(first.token).toBeGreaterThan(0);

    const second = await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
    expect(second.acquired).toBe(false);
    if (second.acquired) return;
    expect(second.holderToken).toBe(first.token);
    expect(second.holderRemainingMs).toBeGreaterThan(4_000);
    expect(second.holderRemainingMs).toBeLessThanOrEqual(5_000);
  });

  it('resolves a retried acquire by the same owner as acquired with the same token, and refreshes its expiry', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const first = await store.acquire({ key, owner, ttlMs: 1_000 });
    const retry = await store.acquire({ key, owner, ttlMs: 30_000 });
    expect(first.acquired && retry.acquired).toBe(true);
    if (!first.acquired || !retry.acquired) return;
    expect(retry.token).toBe(first.token);
    const state = await store.inspect(key);
    expect(state.remainingMs).toBeGreaterThan(25_000);
  });

  it('never shortens the expiry on a late copy of an earlier acquire by the same owner', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const first = await store.acquire({ key, owner, ttlMs: 1_000 });
    if (!first.acquired) throw new Error('expected a grant');
    expect(await store.extend({ key, owner, token: first.token, ttlMs: 60_000 })).toBe(true);
    // The first request again (its copy held up on the way, applied after the extension).
    expect(await store.acquire({ key, owner, ttlMs: 1_000 })).toEqual(first);
    expect((await store.inspect(key)).remainingMs).toBeGreaterThan(55_000);
  });

  it('lets exactly one of many concurrent owners acquire a key', async () => {
    const key = freshKey();
    const results = await Promise.all(
      Array.from({ length: 12 }, () => store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 })),
    );
    const winners = results.filter((r) => r.acquired);
    expect(winners).toHaveLength(1);
    const token = winners[0]?.acquired ? winners[0].token : undefined;
    for (const r of results) if (!r.acquired) expect(r.holderToken).toBe(token);
  });

  it('extends only for the owner, in milliseconds', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const lease = await store.acquire({ key, owner, ttlMs: 2_000 });
    if (!lease.acquired) throw new Error('not acquired');

    expect(await store.extend({ key, owner: freshOwner(), token: lease.token, ttlMs: 60_000 })).toBe(false);
    expect((await store.inspect(key)).remainingMs).toBeLessThanOrEqual(2_000);

    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 45_500 })).toBe(true);
    const remaining = (await store.inspect(key)).remainingMs ?? 0;
    expect(remaining).toBeGreaterThan(45_000);
    expect(remaining).toBeLessThanOrEqual(45_500);
  });

  it('never moves the expiry back: a shorter extension leaves the later expiry and answers true', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const lease = await store.acquire({ key, owner, ttlMs: 2_000 });
    if (!lease.acquired) throw new Error('not acquired');
    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 60_000 })).toBe(true);
    // A delayed, shorter extension (its answer lost, overtaken by the one above) lands late.
    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 1_000 })).toBe(true);
    expect((await store.inspect(key)).remainingMs).toBeGreaterThan(55_000);
    expect(await store.extend({ key, owner: freshOwner(), token: lease.token, ttlMs: 1_000 })).toBe(false);
  });

  it('releases only for the owner and keeps the fence', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const lease = await store.acquire({ key, owner, ttlMs: 5_000 });
    if (!lease.acquired) throw new Error('not acquired');

    expect(await store.release({ key, owner: freshOwner(), token: lease.token })).toBe(false);
    expect((await store.inspect(key)).held).toBe(true);

    expect(await store.release({ key, owner, token: lease.token })).toBe(true);
    const state = await store.inspect(key);
    expect(state).toEqual({ key, held: false, token: lease.token });
    expect(await store.release({ key, owner, token: lease.token })).toBe(false);
    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 1_000 })).toBe(false);
  });

  it('expires a lease on the server after its millisecond TTL, after which extend and release report false', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const lease = await store.acquire({ key, owner, ttlMs: 60 });
    if (!lease.acquired) throw new Error('not acquired');
    expect(await store.acquire({ key, owner: freshOwner(), ttlMs: 1_000 })).toMatchObject({
      acquired: false,
    });
    await sleep(120);
    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 1_000 })).toBe(false);
    expect(await store.release({ key, owner, token: lease.token })).toBe(false);
    const next = await store.acquire({ key, owner: freshOwner(), ttlMs: 1_000 });
    expect(next.acquired).toBe(true);
  });

  it('inspects a held key without revealing the owner', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const before = Date.now();
    const lease = await store.acquire({ key, owner, ttlMs: 8_000 });
    if (!lease.acquired) throw new Error('not acquired');
    const state = await store.inspect(key);
    const after = Date.now();
    expect(state.key).toBe(key);
    expect(state.held).toBe(true);
    expect(state.token).toBe(lease.token);
    expect(state.remainingMs).toBeGreaterThan(7_000);
    expect(state.expiresAt).toBeGreaterThanOrEqual(before + 7_000);
    expect(state.expiresAt).toBeLessThanOrEqual(after + 8_000);
    expect(JSON.stringify(state)).not.toContain(owner);
  });

  it('inspects a never-used key as free with no token', async () => {
    const key = freshKey();
    expect(await store.inspect(key)).toEqual({ key, held: false });
  });
});
