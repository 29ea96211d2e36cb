import { StoreError } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstashStore } from '../src/index.js';
import { freshKey, freshOwner, rejection, type Services, startServices } from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

/**
 * A client given an `AbortSignal` of the caller's (not the function form) answers every request after
 * the signal aborted with a made-up reply: `{ result: signal.reason }`, without sending anything. A
 * reason that reads like a reply (an abort with reason 1) must never be taken for the store's answer.
 */
describe('a user client whose own signal aborted', () => {
  it.each([
    ['1', 1],
    ["'1'", '1'],
    ['[1, 7]', [1, 7]],
  ])(
    'never reports an extend, release or acquire as done (held, acquired) from a made-up reply: reason %s',
    async (_name, reason) => {
      const controller = new AbortController();
      const redis = new Redis({
        url: services.url,
        token: services.token,
        signal: controller.signal,
        retry: { retries: 0 },
        enableAutoPipelining: false,
      });
      const store = upstashStore({ redis });
      const key = freshKey();
      const owner = freshOwner();
      const other = upstashStore({ url: services.url, token: services.token });
      const held = await other.acquire({ key, owner: freshOwner(), ttlMs: 5_000 });
      expect(held.acquired).toBe(true);
      controller.abort(reason);
      // Nothing reaches the store: the lock is someone else's, so none of these may report success.
      for (const call of [
        () => store.extend({ key, owner, token: 7, ttlMs: 1_000 }),
        () => store.release({ key, owner, token: 7 }),
        () => store.acquire({ key, owner, ttlMs: 1_000 }),
      ]) {
        const err = await rejection(call());
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ kind: 'timeout' });
      }
    },
  );
});
