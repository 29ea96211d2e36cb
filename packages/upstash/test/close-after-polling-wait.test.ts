/**
 * A wait on a key whose subscription failed (no `subscribe` on the client, or the stream refused) ends
 * by the 250 ms poll. The subscription it would keep for the next wait is gone already, so nothing may
 * linger: a timer that outlived close() would keep a Node process alive for up to 500 ms more.
 */
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashRedisClient, upstashStore } from '../src/index.js';
import { freshKey, hold, type Services, sleep, startServices } from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('close() after a wait that fell back to polling', () => {
  it('leaves no timer behind after close() once a polling wait ended', async () => {
    const key = freshKey();
    const real = new Redis({ url: services.url, token: services.token, automaticDeserialization: false });
    // A client without `subscribe`: every wait falls back to polling (README).
    const redis = {
      evalsha: real.evalsha.bind(real),
      eval: real.eval.bind(real),
      get: real.get.bind(real),
    } as unknown as UpstashRedisClient;
    const store = upstashStore({ redis });
    await hold(store, key);
    await sleep(50);
    const before = timers();
    await store.waitForRelease(key, 5_000); // ends by the 250 ms poll
    await store.close();
    expect(timers() - before).toBe(0);
  });
});
