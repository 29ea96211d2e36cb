import { Redis } from '@upstash/redis';
import { expect } from 'vitest';
import { type UpstashLockStore, upstashStore } from '../../src/index.js';
import { sleep } from './services.js';

/**
 * A store of its own (as another process would have), counting its acquire requests. `subscribed()`
 * resolves once its release subscription is active and has made its check of the lock (the `GET` on
 * the subscription's confirmation): a release before that check answers could wake the waiter
 * without its token (the grant message and the `GET` answer race), and it would ask again. Every store
 * made is pushed onto `stores`, for the caller to close.
 */
export function countingClient(
  url: string,
  token: string,
  stores: UpstashLockStore[],
): { store: UpstashLockStore; acquires: () => number; subscribed: () => Promise<void> } {
  const redis = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
  let checks = 0;
  const get = redis.get.bind(redis);
  redis.get = ((key: string) => get(key).finally(() => void checks++)) as typeof redis.get;
  const store = upstashStore({ redis });
  stores.push(store);
  let count = 0;
  const acquire = store.acquire.bind(store);
  store.acquire = (request) => {
    count++;
    return acquire(request);
  };
  const subscribed = async () => {
    for (let i = 0; i < 500 && checks === 0; i++) await sleep(10);
    expect(checks).toBeGreaterThan(0);
  };
  return { store, acquires: () => count, subscribed };
}
