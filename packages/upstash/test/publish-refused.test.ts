/**
 * The release script publishes after it has freed the lock or handed it over, and a script is not rolled
 * back: a publish the server refuses (Upstash does not document `PUBLISH` under `allow-key-locking`) must
 * not turn an applied release into an error. Here redis-server refuses it through an ACL rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashLockStore, upstashStore } from '../src/index.js';
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

const refusePublish = (refused: boolean) =>
  services.admin.exec(['ACL', 'SETUSER', 'default', refused ? '-publish' : '+publish']);

describe('release when the server refuses PUBLISH', () => {
  it('frees the lock and answers true', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const granted = await store.acquire({ key, owner, ttlMs: 30_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    await refusePublish(true);
    try {
      expect(await store.release({ key, owner, token: granted.token })).toBe(true);
    } finally {
      await refusePublish(false);
    }
    expect((await store.inspect(key)).held).toBe(false);
  });

  it('hands the lock over to the queued waiter and answers true', async () => {
    const key = freshKey();
    const owner = freshOwner();
    const granted = await store.acquire({ key, owner, ttlMs: 30_000 });
    if (!granted.acquired) throw new Error('expected a grant');
    const waiter = freshOwner();
    const refused = await store.acquire({ key, owner: waiter, ttlMs: 30_000, queueMs: 5_000 });
    expect(refused.acquired).toBe(false);
    await refusePublish(true);
    try {
      expect(await store.release({ key, owner, token: granted.token })).toBe(true);
    } finally {
      await refusePublish(false);
    }
    // The waiter holds it: its next attempt finds the lock its own, with the handed-over token.
    const again = await store.acquire({ key, owner: waiter, ttlMs: 30_000 });
    expect(again).toMatchObject({ acquired: true, token: granted.token + 16 });
  });
});
