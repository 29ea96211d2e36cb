import { StoreError } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstashStore } from '../src/index.js';
import {
  expectNoSecrets,
  freshKey,
  freshOwner,
  rejection,
  type Services,
  startServices,
} from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

/**
 * A REST URL with credentials in it (`https://default:<password>@…`, as copied from a database's
 * `rediss://` connection string): fetch refuses it and quotes the whole URL in its error.
 */
describe('a REST URL that carries a password', () => {
  const password = `pw${freshOwner()}`;
  const withPassword = () => services.url.replace('://', `://default:${password}@`);

  it('never puts the password in an error of a store created from { url, token }', async () => {
    // Refused as an option (a throw, turned into a rejection here) or by the acquire: either is fine as
    // long as it does not echo the URL. An acquire that succeeds fails the test ('expected a rejection').
    const err = await rejection(
      (async () =>
        upstashStore({ url: withPassword(), token: services.token }).acquire({
          key: freshKey(),
          owner: freshOwner(),
          ttlMs: 1_000,
        }))(),
    );
    expectNoSecrets(err, [password, services.token]);
  });

  it('is refused at construction, saying why, without echoing it', () => {
    let err: unknown;
    try {
      upstashStore({ url: withPassword(), token: services.token });
    } catch (thrown) {
      err = thrown;
    }
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'url' });
    expect((err as Error).message).toMatch(/must not carry credentials/);
    expectNoSecrets(err, [password, services.token]);
  });

  it('never puts the password in an error of a store given a client with that URL', async () => {
    const store = upstashStore({
      redis: new Redis({ url: withPassword(), token: services.token, retry: { retries: 0 } }),
    });
    const owner = freshOwner();
    const err = await rejection(store.acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toBeInstanceOf(StoreError);
    expectNoSecrets(err, [password, services.token, owner]);
  });
});
