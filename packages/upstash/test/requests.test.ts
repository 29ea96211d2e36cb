import { Redis } from '@upstash/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashStore } from '../src/index.js';
import { countRequests, freshKey, freshOwner, type Services, startServices } from './support/services.js';

let services: Services;
let counter: ReturnType<typeof countRequests> | undefined;
beforeAll(async () => {
  services = await startServices();
});
afterEach(() => {
  counter?.restore();
  counter = undefined;
});
afterAll(async () => {
  await services?.stop();
});

/** Run every operation once so that all four scripts are in the server's cache. */
async function warmUp(store: UpstashLockStore): Promise<void> {
  const key = freshKey('warm');
  const owner = freshOwner();
  const lease = await store.acquire({ key, owner, ttlMs: 1_000 });
  if (!lease.acquired) throw new Error('warm-up failed');
  await store.extend({ key, owner, token: lease.token, ttlMs: 1_000 });
  await store.release({ key, owner, token: lease.token });
  await store.inspect(key);
}

const modes: [string, () => UpstashLockStore][] = [
  ['created from { url, token }', () => upstashStore({ url: services.url, token: services.token })],
  [
    'given a user Redis instance',
    () => upstashStore({ redis: new Redis({ url: services.url, token: services.token }) }),
  ],
];

describe.each(modes)('requests per operation, store %s', (_mode, makeStore) => {
  it('sends exactly one EVALSHA request per acquire, conflict, extend, release and inspect once scripts are loaded', async () => {
    const store = makeStore();
    await warmUp(store);
    const key = freshKey();
    const owner = freshOwner();
    counter = countRequests(services.url);
    const seen = counter.seen;

    const lease = await store.acquire({ key, owner, ttlMs: 5_000 });
    if (!lease.acquired) throw new Error('not acquired');
    expect(seen).toHaveLength(1);
    await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
    expect(seen).toHaveLength(2);
    await store.extend({ key, owner, token: lease.token, ttlMs: 5_000 });
    expect(seen).toHaveLength(3);
    await store.inspect(key);
    expect(seen).toHaveLength(4);
    await store.release({ key, owner, token: lease.token });
    expect(seen).toHaveLength(5);
    expect(seen.map((r) => r.command)).toEqual(['evalsha', 'evalsha', 'evalsha', 'evalsha', 'evalsha']);
  });

  it('falls back to EVAL once after SCRIPT FLUSH, then uses EVALSHA again', async () => {
    const store = makeStore();
    await warmUp(store);
    expect(await services.admin.scriptFlush()).toBe('OK');
    const key = freshKey();
    const owner = freshOwner();
    counter = countRequests(services.url);
    const seen = counter.seen;

    const lease = await store.acquire({ key, owner, ttlMs: 5_000 });
    expect(lease.acquired).toBe(true);
    expect(seen.map((r) => r.command)).toEqual(['evalsha', 'eval']);

    const again = await store.acquire({ key, owner, ttlMs: 5_000 });
    expect(again).toEqual(lease);
    expect(seen.map((r) => r.command)).toEqual(['evalsha', 'eval', 'evalsha']);
  });
});

describe('request bodies', () => {
  it('sends every argument of every operation as a string, so no REST server can reformat a number', async () => {
    const store = upstashStore({ url: services.url, token: services.token });
    await warmUp(store);
    const key = freshKey();
    const owner = freshOwner();
    counter = countRequests(services.url);
    const lease = await store.acquire({ key, owner, ttlMs: 5_000 });
    if (!lease.acquired) throw new Error('not acquired');
    await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000, queueMs: 1_000 });
    await store.extend({ key, owner, token: lease.token, ttlMs: 5_000 });
    await store.release({ key, owner, token: lease.token });
    await store.withdraw(key, freshOwner());
    await store.inspect(key);
    const bodies = counter.seen.map((r) => r.body);
    expect(bodies).toHaveLength(6);
    for (const body of bodies) {
      expect(Array.isArray(body)).toBe(true);
      // [command, sha, number of keys, ...keys, ...args]: the key count is the only number allowed.
      const [, , keyCount, ...rest] = body as unknown[];
      expect(typeof keyCount).toBe('number');
      for (const value of rest) expect(typeof value).toBe('string');
    }
    await store.close();
  });
});
