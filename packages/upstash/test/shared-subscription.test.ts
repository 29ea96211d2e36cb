import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseChannel, type UpstashLockStore, upstashStore } from '../src/index.js';
import {
  countRequests,
  freshKey,
  freshOwner,
  hold,
  type Services,
  startServices,
  subscribers,
} from './support/services.js';

let services: Services;
let store: UpstashLockStore;
let other: UpstashLockStore;
beforeAll(async () => {
  services = await startServices();
  store = upstashStore({ url: services.url, token: services.token });
  other = upstashStore({ url: services.url, token: services.token });
});
afterAll(async () => {
  await store?.close();
  await other?.close();
  await services?.stop();
});

async function numsub(channel: string): Promise<number> {
  const reply = (await services.admin.exec(['PUBSUB', 'NUMSUB', channel])) as unknown[];
  return Number(reply[1]);
}

describe('release subscriptions shared between waits', () => {
  it('serves concurrent and back-to-back waits on one key with one stream, closed soon after the last', async () => {
    const key = freshKey();
    const channel = releaseChannel(key);
    const first = await hold(other, key);
    const seen = countRequests(services.url);
    try {
      const a = store.waitForRelease(key, 10_000);
      const b = store.waitForRelease(key, 10_000);
      expect(await subscribers(services, channel, 1)).toBe(1);
      expect(await other.release({ key, ...first })).toBe(true);
      await Promise.all([a, b]);
      // The next holder, and a new wait right away: the stream is still open, no new subscription.
      const second = await hold(other, key);
      expect((await store.acquire({ key, owner: freshOwner(), ttlMs: 10_000 })).acquired).toBe(false);
      const c = store.waitForRelease(key, 10_000);
      expect(await numsub(channel)).toBe(1);
      expect(await other.release({ key, ...second })).toBe(true);
      await c;
      expect(seen.seen.filter((r) => r.path.startsWith('/subscribe')).length).toBe(1);
    } finally {
      seen.restore();
    }
    // Nobody waits any more: the stream closes after the linger.
    expect(await subscribers(services, channel, 0)).toBe(0);
  });

  it('resolves at once when the holder it was told about has already announced its release', async () => {
    const key = freshKey();
    const holder = await hold(other, key);
    const opener = store.waitForRelease(key, 10_000); // opens the key's subscription
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    // This store is told "held by token N"; the release of N is announced before the wait begins.
    const answer = await store.acquire({ key, owner: freshOwner(), ttlMs: 10_000 });
    expect(answer.acquired).toBe(false);
    expect(await other.release({ key, ...holder })).toBe(true);
    await opener;
    const started = Date.now();
    await store.waitForRelease(key, 10_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('does not mistake an earlier release for the current holder’s: it still waits', async () => {
    const key = freshKey();
    const first = await hold(other, key);
    const opener = store.waitForRelease(key, 10_000);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    expect(await other.release({ key, ...first })).toBe(true);
    await opener;
    await hold(other, key); // a newer holder: token N + FENCE_STEP
    expect((await store.acquire({ key, owner: freshOwner(), ttlMs: 10_000 })).acquired).toBe(false);
    const started = Date.now();
    await store.waitForRelease(key, 400);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
  });
});
