/**
 * The README's `upstashStore(options)` table, row by row, against redis-server behind the
 * Upstash-compatible REST endpoint: defaults seen in what the store writes and how it waits, both edges
 * of each documented range, and the InvalidArgumentError (thrown before anything is sent) for the rest.
 * The table is read at run time: a documented option without cases here, or a case for an option the
 * README does not list, fails the last test.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, StoreError } from '@leasehold/core';
import { type FaultProxy, startFaultProxy } from '@leasehold/testkit/faults';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashStoreOptions, upstashStore } from '../src/index.js';
import {
  countRequests,
  expectNoSecrets,
  freshKey,
  freshOwner,
  hold,
  rejection,
  type Services,
  startServices,
  subscribers,
} from './support/services.js';

/** `upstashStore`'s option rows in the README: option name → its default and meaning cells. */
const documented: ReadonlyMap<string, { fallback: string; meaning: string }> = (() => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('`upstashStore(options)` (`UpstashStoreOptions`)'));
  // The table is the first run of lines starting with "|"; its rows name the option in backticks.
  const table = /(?:^\|.*\n)+/m.exec(section)?.[0] ?? '';
  return new Map(
    [...table.matchAll(/^\|\s*`(\w+)`\s*\|[^|]*\|([^|]*)\|([^|]*)\|\s*$/gm)].map(
      ([, name, fallback, meaning]) => [name!, { fallback: fallback!.trim(), meaning: meaning!.trim() }],
    ),
  );
})();
const covered: string[] = [];

/** Registers `name` as covered and declares its cases, given its README cells. */
function documentedOption(name: string, body: (row: { fallback: string; meaning: string }) => void): void {
  covered.push(name);
  describe(name, () => body(documented.get(name) ?? { fallback: '', meaning: '' }));
}

const LARGEST_TIMER = 2 ** 31 - 1;

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

const viaUrl = (extra: Partial<UpstashStoreOptions> = {}) =>
  upstashStore({ url: services.url, token: services.token, ...extra } as UpstashStoreOptions);

/**
 * `options` are refused at construction with an InvalidArgumentError naming `argument` with `rule` in its
 * message, no request goes out (to any URL), and the token is never echoed.
 */
function expectRefused(options: unknown, argument: string, rule: string): void {
  const requests = countRequests('');
  try {
    const error = (() => {
      try {
        upstashStore(options as UpstashStoreOptions);
      } catch (err) {
        return err;
      }
      throw new Error(`${argument}: accepted`);
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ argument, code: 'INVALID_ARGUMENT' });
    expect((error as Error).message).toContain(`${argument}: ${rule}`);
    expectNoSecrets(error, [services.token]);
    expect(requests.seen).toEqual([]);
  } finally {
    requests.restore();
  }
}

/** The owner stored under `name`, and the fence stored under `name:fence`. */
const stored = async (name: string) => [
  await services.admin.get(name),
  await services.admin.get(`${name}:fence`),
];

describe('upstashStore options', () => {
  documentedOption('redis', ({ fallback, meaning }) => {
    it('redis: none by default (the store makes its own client from url and token); a client given is used as configured', async () => {
      expect(fallback).toBe('—');
      expect(meaning).toContain('used as configured');
      const key = freshKey();
      expect((await hold(viaUrl(), key)).token).toBeGreaterThan(0);
      // A client with automatic deserialization on (the @upstash/redis default) sends every call.
      const requests = countRequests(services.url);
      try {
        const store = upstashStore({ redis: new Redis({ url: services.url, token: services.token }) });
        const other = freshKey();
        const { owner, token } = await hold(store, other);
        expect(await store.release({ key: other, owner, token })).toBe(true);
        expect(requests.seen.map((r) => r.command)).toEqual(['evalsha', 'evalsha']);
      } finally {
        requests.restore();
      }
    });

    it.each<[string, unknown]>([
      ['an object without evalsha', { get: () => 1 }],
      ['a string', 'redis://localhost'],
      ['null', null],
    ])('redis refuses %s', (_label, redis) => {
      expectRefused({ redis }, 'redis', 'must be an @upstash/redis client');
    });

    it('redis refuses to be given with url and token', () => {
      const redis = new Redis({ url: services.url, token: services.token });
      expectRefused(
        { redis, url: services.url, token: services.token },
        'options',
        'expected { redis } or { url, token }',
      );
    });
  });

  documentedOption('url', ({ fallback, meaning }) => {
    it('url: required without redis; the REST URL of the database serves every call', async () => {
      expect(fallback).toBe('—');
      expectRefused({}, 'url', 'must be the https:// REST URL');
      expectRefused({ token: services.token }, 'url', 'must be the https:// REST URL');
      const key = freshKey();
      const { owner } = await hold(viaUrl(), key);
      expect(await services.admin.get(`leasehold:{${key}}`)).toBe(owner);
      expect(meaning).toContain('without credentials in it');
    });

    it.each<[string, unknown]>([
      ['empty', ''],
      ['a redis:// URL', 'redis://default:secret@x.upstash.io:6379'],
      ['not a URL', 'x.upstash.io'],
      ['a number', 443],
      ['null', null],
    ])('url refuses %s', (_label, url) => {
      expectRefused({ url, token: services.token }, 'url', 'must be the https:// REST URL');
    });

    it('url refuses credentials in it', () => {
      expectRefused(
        { url: 'https://default:secret@x.upstash.io', token: services.token },
        'url',
        'must not carry credentials',
      );
    });
  });

  documentedOption('token', ({ fallback, meaning }) => {
    // That a token the database rejects is "bad-credentials", never echoed: errors.test.ts ('reports a
    // rejected token as bad-credentials without leaking the token, owner or script').
    it('token: required with url, the REST token the store authenticates with', async () => {
      expect(fallback).toBe('—');
      expect(meaning).toContain('the read-write one');
      expectRefused({ url: services.url }, 'token', 'must be the REST token');
      expect((await viaUrl().inspect(freshKey())).held).toBe(false);
    });

    it.each<[string, unknown]>([
      ['empty', ''],
      ['with a space', 'abc def'],
      ['a number', 12345],
      ['null', null],
    ])('token refuses %s', (_label, token) => {
      expectRefused({ url: services.url, token }, 'token', 'must be the REST token');
    });
  });

  documentedOption('prefix', ({ fallback, meaning }) => {
    it("prefix defaults to 'leasehold:': the lock, its fence and its release channel are named with it", async () => {
      expect(fallback).toBe("`'leasehold:'`");
      const store = viaUrl();
      expect(store.prefix).toBe('leasehold:');
      const key = freshKey();
      const { owner, token } = await hold(store, key);
      expect(await stored(`leasehold:{${key}}`)).toEqual([owner, String(token)]);
      const waiting = store.waitForRelease(key, 5_000);
      expect(await subscribers(services, `leasehold:{${key}}:released`)).toBe(1);
      await store.release({ key, owner, token });
      await waiting;
      await store.close();
    });

    it('prefix accepts every allowed character, and the empty prefix', async () => {
      expect(meaning).toContain('`A-Z a-z 0-9 _ . : @ = -` only');
      for (const prefix of ['AZaz09_.:@=-', '']) {
        const store = viaUrl({ prefix });
        const key = freshKey();
        const { owner, token } = await hold(store, key);
        expect(await stored(`${prefix}{${key}}`)).toEqual([owner, String(token)]);
        const waiting = store.waitForRelease(key, 5_000);
        expect(await subscribers(services, `${prefix}{${key}}:released`)).toBe(1);
        await store.release({ key, owner, token });
        await waiting;
        await store.close();
      }
    });

    it.each<[string, unknown]>([
      ['a slash', 'tenant/a:'],
      ['a comma', 'a,b:'],
      ['a space', 'my app:'],
      ['a brace (the hash tag)', '{app}:'],
      ['a tilde (the key escape)', 'app~:'],
      ['a hash', 'app#:'],
      ['a non-ASCII letter', 'äpp:'],
      ['a number', 1],
      ['null', null],
    ])('prefix refuses %s', (_label, prefix) => {
      expectRefused(
        { url: services.url, token: services.token, prefix },
        'prefix',
        'must be a string of A-Z a-z 0-9 _ . : @ = -',
      );
    });
  });

  documentedOption('requestTimeoutMs', ({ fallback, meaning }) => {
    /** A store through the proxy whose script is cached, and the next request's answer held `ms`. */
    const slowNext = async (ms: number, requestTimeoutMs?: number) => {
      const store = upstashStore({
        url: proxy.url,
        token: services.token,
        ...(requestTimeoutMs !== undefined && { requestTimeoutMs }),
      });
      await store.inspect(freshKey()); // EVALSHA answers NOSCRIPT until the script is cached
      proxy.next({ kind: 'delay', ms, phase: 'response' });
      return store;
    };

    it('requestTimeoutMs: none by default, so a slow answer is waited for', async () => {
      expect(fallback).toBe('none');
      const store = await slowNext(700);
      const started = performance.now();
      expect((await hold(store, freshKey())).token).toBeGreaterThan(0);
      expect(performance.now() - started).toBeGreaterThanOrEqual(650);
    });

    it("requestTimeoutMs bounds a slow call: StoreError kind 'timeout', retryable", async () => {
      // A call the network swallows, for every operation: errors.test.ts ('bounds a call the network
      // swallows: a retryable StoreError of kind timeout, for every operation').
      expect(meaning).toContain('then `StoreError` kind `timeout`');
      const store = await slowNext(700, 300);
      const started = performance.now();
      const error = await rejection(store.acquire({ key: freshKey(), owner: freshOwner(), ttlMs: 5_000 }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(280);
      expect(performance.now() - started).toBeLessThan(650);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ kind: 'timeout', retryable: true });
    });

    it(`requestTimeoutMs accepts 1 and ${LARGEST_TIMER}: the largest never fires early`, async () => {
      expect(meaning).toContain(`1 to ${LARGEST_TIMER}`);
      expect(viaUrl({ requestTimeoutMs: 1 }).name).toBe('upstash');
      const store = viaUrl({ requestTimeoutMs: LARGEST_TIMER });
      const key = freshKey();
      const { owner, token } = await hold(store, key);
      expect(await store.release({ key, owner, token })).toBe(true);
    });

    it.each<[string, unknown]>([
      ['0 (one below)', 0],
      [`${LARGEST_TIMER + 1} (one above)`, LARGEST_TIMER + 1],
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['infinite', Number.POSITIVE_INFINITY],
      ['a string', '300'],
      ['null', null],
    ])('requestTimeoutMs refuses %s', (_label, requestTimeoutMs) => {
      expectRefused(
        { url: services.url, token: services.token, requestTimeoutMs },
        'requestTimeoutMs',
        `must be an integer from 1 to ${LARGEST_TIMER} (ms)`,
      );
    });
  });
});

describe('the README option table', () => {
  it('upstashStore: each documented option has cases, and each case is documented', () => {
    expect(documented.size).toBeGreaterThan(0);
    expect([...covered].sort()).toEqual([...documented.keys()].sort());
  });
});
