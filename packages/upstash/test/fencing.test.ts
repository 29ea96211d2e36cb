import { FENCE_STEP } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type UpstashLockStore, upstashKeyNames, upstashStore } from '../src/index.js';
import { FLOOR_LAG_MS } from '../src/scripts.js';
import { freshKey, freshOwner, hold, type Services, sleep, startServices } from './support/services.js';

let services: Services;
let store: UpstashLockStore;
beforeAll(async () => {
  services = await startServices();
  store = upstashStore({ url: services.url, token: services.token });
});
afterAll(async () => {
  await services?.stop();
});

const acquireToken = (key: string, ttlMs = 5_000) => hold(store, key, ttlMs);

describe('fencing tokens', () => {
  it('start from the clock floor (epoch ms x 1000) and stay safe integers', async () => {
    const before = Date.now() * 1000;
    const { token } = await acquireToken(freshKey());
    expect(token).toBeGreaterThanOrEqual(before);
    expect(token).toBeLessThanOrEqual(Date.now() * 1000);
    expect(Number.isSafeInteger(token)).toBe(true);
  });

  it('strictly increase across releases', async () => {
    const key = freshKey();
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await acquireToken(key);
      tokens.push(lease.token);
      expect(await store.release({ key, ...lease })).toBe(true);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it('come from the counter (+FENCE_STEP) when the clock floor is behind it', async () => {
    const key = freshKey();
    // A counter far ahead of the clock (e.g. written by a client whose clock ran fast).
    const ahead = (Date.now() + 3_600_000) * 1000;
    await services.admin.set(upstashKeyNames(key).fence, String(ahead));
    const first = await acquireToken(key);
    expect(first.token).toBe(ahead + FENCE_STEP);
    await store.release({ key, ...first });
    expect((await acquireToken(key)).token).toBe(ahead + 2 * FENCE_STEP);
  });

  it('strictly increase across expiry', async () => {
    const key = freshKey();
    const first = await acquireToken(key, 40);
    await sleep(90);
    const second = await acquireToken(key, 40);
    expect(second.token).toBeGreaterThan(first.token);
  });

  it('keep increasing after FLUSHALL loses the counter', async () => {
    const key = freshKey();
    let last = 0;
    for (let i = 0; i < 20; i++) {
      const lease = await acquireToken(key);
      await store.release({ key, ...lease });
      last = lease.token;
    }
    await sleep(2);
    expect(await services.admin.flushall()).toBe('OK');
    expect(await store.inspect(key)).toEqual({ key, held: false });
    const after = await acquireToken(key);
    expect(after.token).toBeGreaterThan(last);
  });

  // Found by the fault soak (test/faults): with clients' clocks ±50 ms apart, a FLUSHALL right after
  // a grant by the fast-clock client let a slow-clock client re-create the counter below it. The
  // floor used to be applied at full height on every grant.
  it('keep increasing after FLUSHALL when the last grant came from a client whose clock runs ahead', async () => {
    const key = freshKey();
    const first = await acquireToken(key); // the counter is created
    await store.release({ key, ...first });
    await sleep(5);
    const realNow = Date.now;
    const fast = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 2_000);
    let last: number;
    try {
      const lease = await acquireToken(key); // a client 2 s fast takes the lock
      await store.release({ key, ...lease });
      last = lease.token;
    } finally {
      fast.mockRestore();
    }
    expect(last).toBe(first.token + FENCE_STEP);
    expect(await services.admin.flushall()).toBe('OK');
    const after = await acquireToken(key); // a client with the right clock, right after the loss
    expect(after.token).toBeGreaterThan(last);
  });

  it('raise a counter left far behind the clock (a stale copy after a failover) to the floor minus the lag', async () => {
    const key = freshKey();
    await services.admin.set(upstashKeyNames(key).fence, String((Date.now() - 3_600_000) * 1000));
    const before = (Date.now() - FLOOR_LAG_MS) * 1000;
    const lease = await acquireToken(key);
    expect(lease.token).toBeGreaterThanOrEqual(before);
    expect(lease.token).toBeLessThanOrEqual((Date.now() - FLOOR_LAG_MS) * 1000);
    expect(Number(await services.admin.get(upstashKeyNames(key).fence))).toBe(lease.token);
    await store.release({ key, ...lease });
    expect((await acquireToken(key)).token).toBeGreaterThan(lease.token);
  });

  it('raise a counter left far behind the clock in a hand-over on release too', async () => {
    const key = freshKey();
    const holder = await acquireToken(key);
    const waiter = freshOwner();
    const queued = await store.acquire({ key, owner: waiter, ttlMs: 5_000, queueMs: 5_000 });
    expect(queued.acquired).toBe(false);
    // The counter goes stale while the lock is held (a failover to a lagging replica).
    await services.admin.set(upstashKeyNames(key).fence, String((Date.now() - 3_600_000) * 1000));
    const before = (Date.now() - FLOOR_LAG_MS) * 1000;
    expect(await store.release({ key, ...holder })).toBe(true);
    // Handed to the queued waiter with a token at the lagged floor, above the holder's.
    expect(await services.admin.get(upstashKeyNames(key).lock)).toBe(waiter);
    const token = Number(await services.admin.get(upstashKeyNames(key).fence));
    expect(token).toBeGreaterThanOrEqual(before);
    expect(token).toBeGreaterThan(holder.token - FLOOR_LAG_MS * 1000);
    expect(token).toBeLessThanOrEqual((Date.now() - FLOOR_LAG_MS) * 1000);
  });

  it('count on (+FENCE_STEP) from a counter less than the lag behind the clock', async () => {
    const key = freshKey();
    const recent = (Date.now() - FLOOR_LAG_MS / 2) * 1000;
    await services.admin.set(upstashKeyNames(key).fence, String(recent));
    expect((await acquireToken(key)).token).toBe(recent + FENCE_STEP);
  });

  it('keep increasing when only the fence counter is deleted while the lock is free', async () => {
    const key = freshKey();
    const first = await acquireToken(key);
    await store.release({ key, ...first });
    await sleep(2);
    expect(await services.admin.del(upstashKeyNames(key).fence)).toBe(1);
    const second = await acquireToken(key);
    expect(second.token).toBeGreaterThan(first.token);
  });

  it('keep increasing after redis-server restarts with no persistence (data and script cache lost)', async () => {
    const key = freshKey();
    const first = await acquireToken(key);
    await services.restartRedis();
    const second = await acquireToken(key);
    expect(second.token).toBeGreaterThan(first.token);
  });
});

describe('key layout', () => {
  it('stores the owner under prefix{key} with a ms expiry and a never-expiring fence under prefix{key}:fence', async () => {
    const key = freshKey();
    const { owner, token } = await acquireToken(key, 9_000);
    const names = upstashKeyNames(key);
    expect(names).toEqual({
      lock: `leasehold:{${key}}`,
      fence: `leasehold:{${key}}:fence`,
      channel: `leasehold:{${key}}:released`,
      queue: `leasehold:{${key}}:queue`,
      waiters: `leasehold:{${key}}:waiters`,
    });
    expect(await services.admin.get(names.lock)).toBe(owner);
    expect(await services.admin.pttl(names.lock)).toBeGreaterThan(8_000);
    expect(Number(await services.admin.get(names.fence))).toBe(token);
    expect(await services.admin.pttl(names.fence)).toBe(-1);
  });

  it('uses a custom prefix for every key and channel', async () => {
    const prefixed = upstashStore({ url: services.url, token: services.token, prefix: 'app1:locks:' });
    expect(prefixed.prefix).toBe('app1:locks:');
    const key = freshKey();
    const owner = freshOwner();
    const lease = await prefixed.acquire({ key, owner, ttlMs: 5_000 });
    expect(lease.acquired).toBe(true);
    expect(await services.admin.get(`app1:locks:{${key}}`)).toBe(owner);
    expect(await services.admin.exists(`leasehold:{${key}}`)).toBe(0);
    expect(prefixed.keyNames(key).channel).toBe(`app1:locks:{${key}}:released`);
    // Two prefixes are two independent lock spaces.
    expect((await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 })).acquired).toBe(true);
  });
});
