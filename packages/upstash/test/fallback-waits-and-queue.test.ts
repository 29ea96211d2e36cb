import { StoreError } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseChannel, type UpstashLockStore, upstashKeyNames, upstashStore } from '../src/index.js';
import { PLAIN_SCRIPT, PLAIN_SCRIPT_SHA1, SCRIPT, SCRIPT_SHA1 } from '../src/scripts.js';
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
const stores: UpstashLockStore[] = [];
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await services?.stop();
});

function newStore(): UpstashLockStore {
  const store = upstashStore({ url: services.url, token: services.token });
  stores.push(store);
  return store;
}

/** A store over a real client whose evalsha / eval calls are logged (and passed through unchanged). */
function loggedStore(): { store: UpstashLockStore; calls: string[] } {
  const redis = new Redis({
    url: services.url,
    token: services.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
  });
  const calls: string[] = [];
  const evalsha = redis.evalsha.bind(redis);
  const evalScript = redis.eval.bind(redis);
  Object.assign(redis, {
    evalsha: (sha: string, keys: string[], args: unknown[]) => {
      calls.push(sha === SCRIPT_SHA1 ? 'evalsha' : sha === PLAIN_SCRIPT_SHA1 ? 'evalsha plain' : 'evalsha ?');
      return evalsha(sha, keys, args);
    },
    eval: (script: string, keys: string[], args: unknown[]) => {
      calls.push(script === SCRIPT ? 'eval' : script === PLAIN_SCRIPT ? 'eval plain' : 'eval ?');
      return evalScript(script, keys, args);
    },
  });
  const store = upstashStore({ redis });
  stores.push(store);
  return { store, calls };
}

describe('EVALSHA, EVAL and the plain script', () => {
  // @upstash/redis ends its error messages with `, command was: [...]`: the EVAL command echoes the
  // script (whose first line is `#!lua flags=allow-key-locking`), the EVALSHA command the key names.
  // Only the server's own error text may decide a fallback.
  it('does not re-send the plain script after an EVAL that failed for another reason (a Redis error)', async () => {
    const { store, calls } = loggedStore();
    const key = freshKey();
    // The lock key written by something else: WRONGTYPE on the script's first GET.
    await services.admin.hset(upstashKeyNames(key).lock, { x: '1' });
    expect(await services.admin.scriptFlush()).toBe('OK');
    const err = await store.acquire({ key, owner: freshOwner(), ttlMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    // EVALSHA (NOSCRIPT), EVAL (WRONGTYPE) and nothing more; the flagged script stays in use.
    expect(calls).toEqual(['evalsha', 'eval']);
    calls.length = 0;
    await store.inspect(freshKey());
    expect(calls).toEqual(['evalsha']); // not 'evalsha plain': the store must not drop the flag for good
  });

  it('does not run a script that failed mid-way a second time: release reports the failure, not "lost"', async () => {
    const { store } = loggedStore();
    const key = freshKey();
    const names = upstashKeyNames(key);
    const lease = await hold(store, key);
    // A queue whose terms hash was overwritten by something else: RELEASE fails at HGET, after its DEL.
    await services.admin.zadd(names.queue, { score: 1, member: 'someone' });
    await services.admin.set(names.waiters, 'not-a-hash');
    expect(await services.admin.scriptFlush()).toBe('OK');
    const outcome = await store.release({ key, ...lease }).then(
      (released) => ({ released }),
      (err: unknown) => ({ err }),
    );
    // A StoreError (the script failed), not a second run on the state the failed one left (the lock
    // already deleted), which would answer false: "it had already been lost".
    expect(outcome).toHaveProperty('err');
  });

  it('falls back to EVAL only on a NOSCRIPT answer, not on any error of a key whose name holds "noscript"', async () => {
    const { store, calls } = loggedStore();
    const key = freshKey('noscript');
    await store.inspect(freshKey()); // script cached
    calls.length = 0;
    await services.admin.hset(upstashKeyNames(key).lock, { x: '1' });
    await expect(store.acquire({ key, owner: freshOwner(), ttlMs: 1_000 })).rejects.toBeInstanceOf(
      StoreError,
    );
    expect(calls).toEqual(['evalsha']);
  });
});

describe('waitForRelease', () => {
  it('resolves promptly when its signal aborts right after the call (while the claim SHA-1 is computed)', async () => {
    const holderStore = newStore();
    const store = newStore();
    const key = freshKey();
    await hold(holderStore, key);
    const controller = new AbortController();
    const started = Date.now();
    const waiting = store.waitForRelease(key, 3_000, controller.signal, { owner: freshOwner(), above: 1 });
    controller.abort();
    await waiting;
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('ends a claimed wait that was still starting when close() was called, and leaves no stream open', async () => {
    const holderStore = newStore();
    const store = newStore();
    const key = freshKey();
    await hold(holderStore, key);
    const started = Date.now();
    const waiting = store.waitForRelease(key, 3_000, undefined, { owner: freshOwner(), above: 1 });
    await store.close(); // "Ends every pending waitForRelease (they resolve) and closes their streams"
    await waiting;
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('wakes a waiter when a withdrawing waiter frees the lock that was handed to it', async () => {
    const holderStore = newStore();
    const w1 = newStore();
    const w2 = newStore();
    const key = freshKey();
    const holder = await hold(holderStore, key);
    // W1 waits, queued for a hand-over; the holder's release hands the lock to it.
    const o1 = freshOwner();
    expect((await w1.acquire({ key, owner: o1, ttlMs: 10_000, queueMs: 5_000 })).acquired).toBe(false);
    expect(await holderStore.release({ key, ...holder })).toBe(true);
    expect(await services.admin.get(upstashKeyNames(key).lock)).toBe(o1);
    // W2 (not queued, e.g. its eligibility lapsed) has the key's subscription open and is told "held".
    const opener = w2.waitForRelease(key, 400);
    expect(await subscribers(services, releaseChannel(key), 1)).toBe(1);
    const answer = await w2.acquire({ key, owner: freshOwner(), ttlMs: 10_000 });
    expect(answer.acquired).toBe(false);
    const started = Date.now();
    const waiting = w2.waitForRelease(key, 3_000);
    // W1 gives up (timeout / abort): withdrawing frees the lock handed to it, nobody else is queued.
    await w1.withdraw(key, o1);
    expect((await w2.inspect(key)).held).toBe(false);
    await waiting;
    await opener;
    // The release is announced with the fence counter (not the withdrawing waiter's token 0, which W2
    // would take for an older holder's release), so W2 wakes at once rather than at its timeout.
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('the hand-over queue', () => {
  it('keeps an earlier waiter queued for its whole queueMs when a later one registers a shorter one', async () => {
    const holderStore = newStore();
    const a = newStore();
    const b = newStore();
    const key = freshKey();
    const holder = await hold(holderStore, key);
    const ownerA = freshOwner();
    expect((await a.acquire({ key, owner: ownerA, ttlMs: 10_000, queueMs: 5_000 })).acquired).toBe(false);
    expect((await b.acquire({ key, owner: freshOwner(), ttlMs: 10_000, queueMs: 1 })).acquired).toBe(false);
    await sleep(1_200);
    // A is still eligible (until +5 s): the release must hand it the lock.
    expect(await holderStore.release({ key, ...holder })).toBe(true);
    expect(await services.admin.get(upstashKeyNames(key).lock)).toBe(ownerA);
  });
});

describe('errors', () => {
  it('reports a request aborted by the signal given to the client as timeout, not bad-response', async () => {
    const redis = new Redis({
      url: services.url,
      token: services.token,
      automaticDeserialization: false,
      enableAutoPipelining: false,
      signal: AbortSignal.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    });
    const store = upstashStore({ redis });
    const err = await store
      .extend({ key: freshKey(), owner: freshOwner(), token: 1, ttlMs: 1_000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind: 'timeout', retryable: true });
  });
});
