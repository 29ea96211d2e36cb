/**
 * A grant whose every answer was lost (the request and the client's retries applied, the answers cut
 * on the way back): the caller sees a StoreError, and core withdraws the owner it asked as, which frees
 * the lock at once instead of leaving every other caller to wait out a TTL nobody will use.
 */
import { createLocker, StoreError } from '@leasehold/core';
import { type FaultProxy, startFaultProxy } from '@leasehold/testkit/faults';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstashStore } from '../src/index.js';
import { freshKey, type Services, sleep, startServices } from './support/services.js';

let services: Services;
let proxy: FaultProxy;
beforeAll(async () => {
  services = await startServices();
  proxy = await startFaultProxy({ upstream: services.url });
});
afterAll(async () => {
  await proxy?.close();
  await services?.stop();
});

describe('an acquire whose answers were all lost', () => {
  it('is withdrawn by its caller, so the key is free for the next one at once', async () => {
    const key = freshKey();
    const store = upstashStore({ url: proxy.url, token: services.token });
    await store.inspect(freshKey()); // the script cached (EVALSHA answers NOSCRIPT until then)
    // The acquire and the client's two retries: each applied, each answer lost.
    proxy.next({ kind: 'drop' }, { kind: 'drop' }, { kind: 'drop' });
    await expect(createLocker({ store, ttlMs: 10_000 }).tryAcquire(key)).rejects.toBeInstanceOf(StoreError);
    expect(proxy.counters.drop).toBe(3);
    expect(proxy.records.every((r) => r.status === 200)).toBe(true); // applied: answered, then cut
    // The withdrawal goes out in the background, through the proxy (no fault left).
    let held = true;
    for (let i = 0; i < 100 && held; i++) {
      held = (await store.inspect(key)).held;
      if (held) await sleep(20);
    }
    expect(held).toBe(false);
    const other = createLocker({ store: upstashStore({ url: services.url, token: services.token }) });
    const lease = await other.tryAcquire(key);
    expect(lease).not.toBeNull();
    await lease!.release();
    await store.close();
  });
});
