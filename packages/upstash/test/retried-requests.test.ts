/**
 * The store's own client retries a request whose connection broke (`retries: 2`): a request applied
 * whose answer was lost then runs twice. Each of these pins one operation run twice by that retry
 * (the fault proxy forwards the first copy, lets the store apply it, and cuts the answer).
 */
import { FENCE_STEP } from '@leasehold/core';
import {
  describeUpstashRequest,
  type FaultProxy,
  startFaultProxy,
  upstashGrantedToken,
} from '@leasehold/testkit/faults';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashKeyNames, upstashStore } from '../src/index.js';
import { freshKey, freshOwner, type Services, startServices } from './support/services.js';

let services: Services;
let proxy: FaultProxy;
let store: UpstashLockStore;
let direct: UpstashLockStore;
beforeAll(async () => {
  services = await startServices();
  proxy = await startFaultProxy({ upstream: services.url, describe: describeUpstashRequest });
  store = upstashStore({ url: proxy.url, token: services.token });
  direct = upstashStore({ url: services.url, token: services.token });
  await store.inspect(freshKey()); // the script cached: every later operation is one EVALSHA
});
afterAll(async () => {
  await store?.close();
  await direct?.close();
  await proxy?.close();
  await services?.stop();
});

const lockHolder = (key: string) => services.admin.get(upstashKeyNames(key).lock);
const fence = async (key: string) => Number(await services.admin.get(upstashKeyNames(key).fence));
const dropNext = (op: string, owner: string) =>
  proxy.nextMatching((info) => info.op === op && info.owner === owner, { kind: 'drop' });

describe('an operation applied twice by the client retry', () => {
  it('acquire: the retry answers the grant the first copy made, with its token, and grants nothing more', async () => {
    const key = freshKey();
    const owner = freshOwner();
    dropNext('acquire', owner);
    const drops = proxy.counters.drop;
    const result = await store.acquire({ key, owner, ttlMs: 5_000 });
    expect(proxy.counters.drop).toBe(drops + 1);
    // The answer the first copy got (cut on its way back) granted the same token.
    const lost = upstashGrantedToken(proxy.records.at(-1)?.responseBody, proxy.records.at(-1)?.status);
    expect(lost).toBeGreaterThan(0);
    expect(result).toEqual({ acquired: true, token: lost });
    expect(await fence(key)).toBe(lost);
    // One grant only: the next owner's token is one step above.
    expect(await direct.release({ key, owner, token: (result as { token: number }).token })).toBe(true);
    const next = await direct.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
    expect(next).toEqual({ acquired: true, token: (result as { token: number }).token + FENCE_STEP });
  });

  it('release that handed the lock over: the retry answers false and leaves the waiter its grant', async () => {
    const key = freshKey();
    const holder = freshOwner();
    const waiter = freshOwner();
    const granted = await direct.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    expect((await direct.acquire({ key, owner: waiter, ttlMs: 5_000, queueMs: 5_000 })).acquired).toBe(false);
    dropNext('release', holder);
    const drops = proxy.counters.drop;
    expect(await store.release({ key, owner: holder, token: granted.token })).toBe(false);
    expect(proxy.counters.drop).toBe(drops + 1); // applied once, then retried
    expect(await lockHolder(key)).toBe(waiter);
    expect(await fence(key)).toBe(granted.token + FENCE_STEP);
    expect((await direct.inspect(key)).remainingMs).toBeGreaterThan(4_000);
  });

  it('withdraw of a waiter handed the lock: the retry leaves the next waiter its grant', async () => {
    const key = freshKey();
    const holder = freshOwner();
    const first = freshOwner();
    const second = freshOwner();
    const granted = await direct.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    await direct.acquire({ key, owner: first, ttlMs: 5_000, queueMs: 5_000 });
    await direct.acquire({ key, owner: second, ttlMs: 5_000, queueMs: 5_000 });
    expect(await direct.release({ key, owner: holder, token: granted.token })).toBe(true);
    expect(await lockHolder(key)).toBe(first);
    dropNext('release', first);
    const drops = proxy.counters.drop;
    await store.withdraw(key, first); // frees the grant to `first`: handed to `second`
    expect(proxy.counters.drop).toBe(drops + 1); // applied once, then retried
    expect(await lockHolder(key)).toBe(second);
    expect(await fence(key)).toBe(granted.token + 2 * FENCE_STEP);
  });
});
