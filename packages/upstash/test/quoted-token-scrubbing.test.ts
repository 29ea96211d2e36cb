/**
 * A REST token that fetch refuses as a header value is quoted whole in its TypeError
 * (`Headers.append: "Bearer <token>" is an invalid header value.`). The scrubbing cut the quoted
 * value at its first `"`: a token with a `"` in it (one pasted with its quotes, from a secrets file)
 * left everything after that quote in the error message.
 */
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstashStore } from '../src/index.js';
import {
  expectNoSecrets,
  freshKey,
  freshOwner,
  rejection,
  type Services,
  secretTexts,
  startServices,
} from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

/** A token with a quote and a control character in it: fetch refuses it before sending anything. */
const quotedToken = () => `tok${freshOwner()}"${freshOwner()}\u0000${freshOwner()}`;
/** The parts of the token long enough to identify it: none may appear in an error. */
const parts = (token: string) =>
  token
    .split('"')
    .flatMap((part) => part.split('\u0000'))
    .filter((part) => part.length > 3);

describe('acquire', () => {
  it('never echoes any part of a user client token with a quote in it that fetch refuses', async () => {
    const token = quotedToken();
    const owner = freshOwner();
    const redis = new Redis({ url: services.url, token, retry: false, enableAutoPipelining: false });
    const err = await rejection(upstashStore({ redis }).acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toMatchObject({ kind: 'bad-credentials', retryable: false });
    expectNoSecrets(err, secretTexts(...parts(token), owner));
  });

  it('never echoes any part of a { url, token } token with a quote in it that fetch refuses', async () => {
    const token = quotedToken();
    const owner = freshOwner();
    const store = upstashStore({ url: services.url, token });
    const err = await rejection(store.acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toMatchObject({ kind: 'bad-credentials', retryable: false });
    expectNoSecrets(err, secretTexts(token, ...parts(token), owner));
  });
});
