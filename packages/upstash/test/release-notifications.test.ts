import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  releaseChannel,
  type UpstashLockStore,
  type UpstashRedisClient,
  upstashStore,
} from '../src/index.js';
import { SUBSCRIPTION_SILENCE_MS } from '../src/store.js';
import {
  freshKey,
  freshOwner,
  hold,
  type Services,
  sleep,
  startServices,
  subscribers,
} from './support/services.js';

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

describe('release notifications', () => {
  it('publishes the released token on the key channel, seen by a real subscriber', async () => {
    const key = freshKey();
    const lease = await hold(store, key);
    const client = new Redis({ url: services.url, token: services.token });
    const subscriber = client.subscribe<unknown>(releaseChannel(key));
    const messages: unknown[] = [];
    subscriber.on('message', ({ message }) => messages.push(message));
    try {
      expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
      // A failed release (wrong owner) publishes nothing.
      expect(await store.release({ key, owner: freshOwner(), token: lease.token })).toBe(false);
      expect(await store.release({ key, ...lease })).toBe(true);
      for (let i = 0; i < 40 && messages.length === 0; i++) await sleep(25);
      expect(messages.map(Number)).toEqual([lease.token]);
    } finally {
      await subscriber.unsubscribe();
    }
  });

  it('wakes a waiter as soon as another store releases the key, then closes the stream', async () => {
    const key = freshKey();
    const lease = await hold(store, key);
    const other = upstashStore({ url: services.url, token: services.token });
    const started = Date.now();
    const waiting = store.waitForRelease(key, 10_000);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    expect(await other.release({ key, ...lease })).toBe(true);
    await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await subscribers(services, releaseChannel(key), 0)).toBe(0);
  });

  it('resolves after the timeout when nothing is released, and closes the stream', async () => {
    const key = freshKey();
    await hold(store, key);
    const started = Date.now();
    await store.waitForRelease(key, 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await subscribers(services, releaseChannel(key), 0)).toBe(0);
  });

  it('resolves promptly when its signal aborts, and closes the stream', async () => {
    const key = freshKey();
    await hold(store, key);
    const controller = new AbortController();
    const started = Date.now();
    const waiting = store.waitForRelease(key, 10_000, controller.signal);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    controller.abort();
    await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await subscribers(services, releaseChannel(key), 0)).toBe(0);
  });

  it('waits on for a timeout beyond the timer limit (2^31 - 1 ms) instead of resolving at once', async () => {
    const key = freshKey();
    await hold(store, key);
    const controller = new AbortController();
    let settled = false;
    const waiting = store.waitForRelease(key, 2 ** 40, controller.signal).then(() => {
      settled = true;
    });
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    await sleep(100);
    expect(settled).toBe(false);
    controller.abort();
    await waiting;
    expect(settled).toBe(true);
  });

  it('resolves at once for an already-aborted signal or a non-positive timeout', async () => {
    const key = freshKey();
    const started = Date.now();
    await store.waitForRelease(key, 10_000, AbortSignal.abort());
    await store.waitForRelease(key, 0);
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('does not miss a release that happened before the subscription: a free key resolves quickly', async () => {
    const key = freshKey();
    const started = Date.now();
    await store.waitForRelease(key, 10_000);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('renews a subscription that carried nothing for a while: a stream that ended unannounced', async () => {
    const key = freshKey();
    const lease = await hold(store, key);
    const own = upstashStore({ url: services.url, token: services.token });
    const first = own.waitForRelease(key, 20_000);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    // The stream ends from the server's side (its Redis subscription is killed, the endpoint ends the
    // response): @upstash/redis tells no listener, and the store's channel looks alive.
    await services.admin.exec(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    expect(await subscribers(services, releaseChannel(key), 0)).toBe(0);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + SUBSCRIPTION_SILENCE_MS + 1 });
    try {
      const second = own.waitForRelease(key, 20_000);
      // The silent channel ended its waits and a new subscription took over.
      await first;
      expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
      const released = performance.now();
      expect(await store.release({ key, ...lease })).toBe(true);
      await second;
      expect(performance.now() - released).toBeLessThan(5_000);
    } finally {
      vi.useRealTimers();
      await own.close();
    }
  });

  it('ends on close() a pending wait whose subscription was refused (polling meanwhile)', async () => {
    const key = freshKey();
    await hold(store, key);
    const real = new Redis({ url: services.url, token: services.token, automaticDeserialization: false });
    const refusing = new Redis({
      url: services.url,
      token: 'not-the-token',
      automaticDeserialization: false,
    });
    let refused!: Promise<void>;
    const redis = {
      evalsha: real.evalsha.bind(real),
      eval: real.eval.bind(real),
      get: real.get.bind(real),
      subscribe: (channel: string) => {
        const subscriber = refusing.subscribe(channel);
        refused = new Promise((resolve) => subscriber.on('error', () => resolve()));
        return subscriber;
      },
    } as unknown as UpstashRedisClient;
    const own = upstashStore({ redis });
    let settled = false;
    const waiting = own.waitForRelease(key, 10_000).then(() => {
      settled = true;
    });
    await refused; // the store fell back to polling: its next wake-up is a timer away
    await own.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(true);
    await waiting;
  });

  it('ends pending waits on close()', async () => {
    const key = freshKey();
    await hold(store, key);
    const own = upstashStore({ url: services.url, token: services.token });
    const started = Date.now();
    const waiting = own.waitForRelease(key, 10_000);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    await own.close();
    await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await subscribers(services, releaseChannel(key), 0)).toBe(0);
  });
});
