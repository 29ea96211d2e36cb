import { createHash } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashRedisClient, upstashKeyNames, upstashStore } from '../src/index.js';
import { PLAIN_SCRIPT, PLAIN_SCRIPT_SHA1, SCRIPT, SCRIPT_SHA1 } from '../src/scripts.js';
import {
  expectNoSecrets,
  freshKey,
  freshOwner,
  rejection,
  type Services,
  secretTexts,
  startServices,
} from './support/services.js';

/**
 * Upstash runs the store's script with `allow-key-locking`, and then "every key passed to redis.call
 * must appear in KEYS ... Otherwise the engine rejects the command: ERR Dynamic keys are not allowed in
 * Lua scripts when 'allow-key-locking' flag is set. Key was: <key>" (upstash/docs,
 * redis/features/key-locking.mdx). The local endpoint keeps that rule, so these tests hold for Upstash.
 */

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

/**
 * A real @upstash/redis client on the local endpoint that records the scripts the store sends
 * (`evalsha`, `eval`, with ` plain` for the plain script and ` other` for anything else), each
 * passed through `rewrite` first (`EVALSHA` then names the rewritten script).
 */
function recordingClient(rewrite: (script: string) => string = (script) => script): {
  redis: UpstashRedisClient;
  sent: string[];
} {
  const real = new Redis({
    url: services.url,
    token: services.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
  });
  const sent: string[] = [];
  const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
  const which = (name: string, isScript: boolean, isPlain: boolean) =>
    `${name}${isScript ? '' : isPlain ? ' plain' : ' other'}`;
  const redis = {
    evalsha: (sha: string, keys: string[], args: unknown[]) => {
      sent.push(which('evalsha', sha === SCRIPT_SHA1, sha === PLAIN_SCRIPT_SHA1));
      const script = sha === SCRIPT_SHA1 ? SCRIPT : sha === PLAIN_SCRIPT_SHA1 ? PLAIN_SCRIPT : undefined;
      return real.evalsha(script === undefined ? sha : sha1(rewrite(script)), keys, args);
    },
    eval: (script: string, keys: string[], args: unknown[]) => {
      sent.push(which('eval', script === SCRIPT, script === PLAIN_SCRIPT));
      return real.eval(rewrite(script), keys, args);
    },
    get: real.get,
    subscribe: real.subscribe,
  } as unknown as UpstashRedisClient;
  return { redis, sent };
}

describe("Upstash's allow-key-locking rules", () => {
  it('are kept by the endpoint these tests run on', async () => {
    const flagged = `#!lua flags=allow-key-locking\n--${Date.now()}\nreturn redis.call('GET', KEYS[1] .. ':x')`;
    await expect(services.admin.eval(flagged, [freshKey()], [])).rejects.toThrow(
      /Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set/,
    );
  });

  it('hold for every path of the script: acquire, queue, hand-over, extend, inspect, release, withdraw', async () => {
    await services.admin.scriptFlush(); // the first operation loads the script with EVAL
    const { redis, sent } = recordingClient();
    const store = upstashStore({ redis });
    const key = freshKey();
    const [holder, waiter] = [freshOwner(), freshOwner()];

    const first = await store.acquire({ key, owner: holder, ttlMs: 5_000 });
    if (!first.acquired) throw new Error('not acquired');
    expect(await store.acquire({ key, owner: holder, ttlMs: 5_000 })).toEqual(first); // a retried acquire
    expect(await store.acquire({ key, owner: waiter, ttlMs: 5_000, queueMs: 5_000 })).toMatchObject({
      acquired: false,
      holderToken: first.token,
    });
    expect(await store.acquire({ key, owner: freshOwner(), ttlMs: 5_000 })).toMatchObject({
      acquired: false,
    });
    expect(await store.extend({ key, owner: holder, token: first.token, ttlMs: 5_000 })).toBe(true);
    expect(await store.inspect(key)).toMatchObject({ held: true, token: first.token });
    // Released to the queued waiter: its acquire finds the lock its own, with a higher token.
    expect(await store.release({ key, owner: holder, token: first.token })).toBe(true);
    const handed = await store.acquire({ key, owner: waiter, ttlMs: 5_000 });
    if (!handed.acquired) throw new Error('not handed over');
    expect(handed.token).toBeGreaterThan(first.token);
    await store.withdraw(key, freshOwner());
    expect(await store.release({ key, owner: waiter, token: handed.token })).toBe(true);
    expect(await store.release({ key, owner: waiter, token: handed.token })).toBe(false);
    expect(await store.inspect(key)).toMatchObject({ held: false, token: handed.token });

    // One EVAL (after the flush), of the script with the flag; every other request an EVALSHA.
    expect(sent.filter((s) => s !== 'evalsha')).toEqual(['eval']);
  });

  it('stop a script that breaks them with an error, never answered by running the plain script again', async () => {
    // A script that names a key it did not declare (as a careless edit of the script would): Upstash
    // stops it, having run it up to there. The server knows the flag, so nothing justifies sending the
    // plain script, which would run the operation a second time, without key locking from then on.
    await services.admin.scriptFlush(); // the first operation loads the script with EVAL
    const { redis, sent } = recordingClient((script) =>
      script.replace('\n', "\nredis.call('GET', KEYS[1] .. ':undeclared')\n"),
    );
    const store = upstashStore({ redis });
    const key = freshKey();
    const owner = freshOwner();

    const err = await rejection(store.acquire({ key, owner, ttlMs: 5_000 }));
    expect(err).toMatchObject({ kind: 'unknown', store: 'upstash' });
    expect((err as Error).message).toMatch(
      /Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set\. Key was: .*:undeclared/,
    );
    expectNoSecrets(err, secretTexts(owner, services.token));
    expect(sent).toEqual(['evalsha', 'eval']);
    expect(await services.admin.get(upstashKeyNames(key).lock)).toBeNull();
    // And the store keeps sending the script with the flag, now cached.
    expect(await rejection(store.acquire({ key, owner, ttlMs: 5_000 }))).toMatchObject({ kind: 'unknown' });
    expect(sent).toEqual(['evalsha', 'eval', 'evalsha']);
  });
});
