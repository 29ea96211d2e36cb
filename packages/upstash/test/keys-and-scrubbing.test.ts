import { createHash } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { describe, expect, it, vi } from 'vitest';
import { toStoreError } from '../src/errors.js';
import { DEFAULT_PREFIX, releaseChannel, upstashKeyNames, upstashStore } from '../src/index.js';
import { PLAIN_SCRIPT, PLAIN_SCRIPT_SHA1, SCRIPT, SCRIPT_SHA1 } from '../src/scripts.js';

describe('key names', () => {
  it('share the {key} hash tag under the default prefix', () => {
    expect(DEFAULT_PREFIX).toBe('leasehold:');
    expect(upstashKeyNames('payment:order-42')).toEqual({
      lock: 'leasehold:{payment:order-42}',
      fence: 'leasehold:{payment:order-42}:fence',
      channel: 'leasehold:{payment:order-42}:released',
      queue: 'leasehold:{payment:order-42}:queue',
      waiters: 'leasehold:{payment:order-42}:waiters',
    });
    expect(releaseChannel('a', 'p:')).toBe('p:{a}:released');
  });

  it('keep plain keys as they are and write every other character as ~XX per UTF-8 byte', () => {
    expect(upstashKeyNames('tenant-7:order_42.v2@eu=1').lock).toBe('leasehold:{tenant-7:order_42.v2@eu=1}');
    expect(upstashKeyNames('a/b,c?d#e%41\\f g~é{x}').lock).toBe(
      'leasehold:{a~2Fb~2Cc~3Fd~23e~2541~5Cf~20g~7E~C3~A9~7Bx~7D}',
    );
    // Nothing in a channel that a URL path would change or that splits a server-sent-events line.
    for (const key of ['a/b', 'a,b', 'a?b', 'a#b', 'a%b', 'a\\b', 'a b', '💳', 'a\nb']) {
      expect(releaseChannel(key)).toMatch(/^leasehold:\{[\w.:@=~-]+\}:released$/);
    }
  });

  it('list the names in the order of the script KEYS (each operation passes a prefix of them)', () => {
    expect(Object.keys(upstashKeyNames('k'))).toEqual(['lock', 'fence', 'queue', 'waiters', 'channel']);
  });

  it('never let one key collide with another key or with a fence', () => {
    const keys = [
      'a',
      'a}',
      'a:fence',
      'a}:fence',
      '{a}',
      'a}:released',
      'x{a',
      'a/b',
      'a~2Fb',
      'a~b',
      'a~7Eb',
    ];
    const names = keys.flatMap((k) => {
      const n = upstashKeyNames(k);
      return [n.lock, n.fence];
    });
    expect(new Set(names).size).toBe(names.length);
  });
});

/**
 * A store over a real `@upstash/redis` client whose `EVALSHA` and `EVAL` are stubbed: `evalsha`
 * answers or throws, each call is recorded.
 */
function stubbedStore(evalsha: (sha: string) => unknown) {
  const redis = new Redis({ url: 'http://127.0.0.1:1', token: 't', enableAutoPipelining: false });
  const calls: string[] = [];
  Object.assign(redis, {
    evalsha: async (sha: string) => {
      calls.push(`evalsha ${sha}`);
      return evalsha(sha);
    },
    eval: async (script: string) => {
      calls.push(script === SCRIPT ? 'eval' : 'eval of something else');
      return 1;
    },
  });
  return { store: upstashStore({ redis }), calls };
}

const OWNER = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const SHA = createHash('sha1').update(SCRIPT).digest('hex');

describe('script', () => {
  it('runs with EVALSHA and the SHA-1 of its text', async () => {
    const { store, calls } = stubbedStore(() => 1);
    expect(await store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).toBe(true);
    expect(await store.release({ key: 'k', owner: OWNER, token: 1 })).toBe(true);
    expect(calls).toEqual([`evalsha ${SHA}`, `evalsha ${SHA}`]);
  });

  it('computes no SHA-1 to run it: WebCrypto, slow to load, stays out of a cold start', async () => {
    const digest = vi.spyOn(crypto.subtle, 'digest');
    try {
      const { store } = stubbedStore(() => 1);
      await store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 });
      await store.release({ key: 'k', owner: OWNER, token: 1 });
      expect(digest).not.toHaveBeenCalled();
    } finally {
      digest.mockRestore();
    }
  });

  it('falls back to EVAL only on NOSCRIPT', async () => {
    const noscript = stubbedStore(() => {
      throw new Error('NOSCRIPT No matching script. Please use EVAL.');
    });
    expect(await noscript.store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).toBe(true);
    expect(noscript.calls).toEqual([`evalsha ${SHA}`, 'eval']);
    const other = stubbedStore(() => {
      throw new Error('ERR other');
    });
    await expect(other.store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).rejects.toThrow(
      'ERR other',
    );
    expect(other.calls).toEqual([`evalsha ${SHA}`]);
  });

  it('runs without the flag, for good, on a server that refuses it (a plain Redis behind a REST proxy)', async () => {
    const redis = new Redis({ url: 'http://127.0.0.1:1', token: 't', enableAutoPipelining: false });
    const calls: string[] = [];
    const cached = new Set<string>();
    Object.assign(redis, {
      evalsha: async (sha: string) => {
        calls.push(sha === SCRIPT_SHA1 ? 'evalsha' : sha === PLAIN_SCRIPT_SHA1 ? 'evalsha plain' : sha);
        if (!cached.has(sha)) throw new Error('NOSCRIPT No matching script. Please use EVAL.');
        return 1;
      },
      eval: async (script: string) => {
        calls.push(
          script === SCRIPT ? 'eval' : script === PLAIN_SCRIPT ? 'eval plain' : 'eval of something else',
        );
        if (script.startsWith('#!lua flags=allow-key-locking')) {
          throw new Error('ERR Unexpected flag in script shebang: allow-key-locking');
        }
        cached.add(PLAIN_SCRIPT_SHA1);
        return 1;
      },
    });
    const store = upstashStore({ redis });
    expect(await store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).toBe(true);
    expect(await store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).toBe(true);
    expect(calls).toEqual(['evalsha', 'eval', 'eval plain', 'evalsha plain']);
  });

  it('sends the plain script only when the flagged one was refused before it ran, not after any EVAL error', async () => {
    const redis = new Redis({ url: 'http://127.0.0.1:1', token: 't', enableAutoPipelining: false });
    const calls: string[] = [];
    Object.assign(redis, {
      evalsha: async () => {
        calls.push('evalsha');
        throw new Error('NOSCRIPT No matching script. Please use EVAL.');
      },
      eval: async (script: string) => {
        calls.push(script === SCRIPT ? 'eval' : 'eval plain');
        throw new Error('ERR user_script:9: a runtime error after some writes, flags and all');
      },
    });
    const store = upstashStore({ redis });
    await expect(store.extend({ key: 'k', owner: OWNER, token: 1, ttlMs: 1_000 })).rejects.toMatchObject({
      kind: 'unknown',
    });
    expect(calls).toEqual(['evalsha', 'eval']);
  });

  it("start with Upstash's allow-key-locking flag, then a --lh tag (it names the script, and marks quoted script text for scrubbing)", () => {
    expect(SCRIPT).toMatch(/^#!lua flags=allow-key-locking\n--lh store v\d+\n/);
    expect(PLAIN_SCRIPT).toBe(SCRIPT.slice(SCRIPT.indexOf('--lh')));
  });

  it('ship with their SHA-1s written out', () => {
    expect(SCRIPT_SHA1).toBe(createHash('sha1').update(SCRIPT).digest('hex'));
    expect(PLAIN_SCRIPT_SHA1).toBe(createHash('sha1').update(PLAIN_SCRIPT).digest('hex'));
  });

  it('ship without comments or needless whitespace', () => {
    const lines = PLAIN_SCRIPT.split('\n').slice(1);
    for (const line of lines) expect(line).toMatch(/^\S(.*\S)?$/);
    expect(lines.join('\n')).not.toMatch(/--|\s{2}/);
  });
});

/** The error text a store error carries (its message holds the same text, with advice). */
function errorDetail(err: unknown, secrets: string[]): string {
  const error = toStoreError(err, 'acquire', 'k', secrets);
  const detail = (error.cause as Error).message;
  expect(error.message).toContain(`(${detail})`);
  return detail;
}

describe('scrubbing', () => {
  it('removes every secret and drops the serialized command', () => {
    const owner = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    const message = `ERR boom ${owner}, command was: ${JSON.stringify(['eval', SCRIPT, 2, 'k', 'f', owner])}`;
    expect(errorDetail(new Error(message), [owner])).toBe('ERR boom [redacted]');
    expect(errorDetail(new Error('a tok-1 b tok-1'), ['tok-1', owner])).toBe('a [redacted] b [redacted]');
  });

  it('cuts script text quoted anywhere, with the arguments after it', () => {
    const quoted = `proxy said: ${JSON.stringify(['eval', SCRIPT, 1, 'k', 'owner-id'])}`;
    expect(errorDetail(new Error(quoted), [])).toBe('proxy said: ["eval","');
    expect(errorDetail(new Error(`bad ${SCRIPT}`), [])).toBe('bad');
  });

  it('strips the prefixes of @upstash/redis pipelines and keeps the cause and code of a fetch failure', () => {
    expect(errorDetail(new Error('Command failed: ERR x'), [])).toBe('ERR x');
    expect(errorDetail(new Error('Command 2 [ evalsha ] failed: ERR y'), [])).toBe('ERR y');
    const aggregate = Object.assign(new Error(''), { code: 'ECONNREFUSED' });
    expect(errorDetail(new TypeError('fetch failed', { cause: aggregate }), [])).toBe(
      'fetch failed (ECONNREFUSED)',
    );
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(errorDetail(new TypeError('fetch failed', { cause }), [])).toBe(
      'fetch failed: connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(errorDetail(42, [])).toBe('no error text');
  });

  it('caps the detail length', () => {
    expect(errorDetail(new Error('E'.repeat(1_000)), []).length).toBeLessThanOrEqual(201);
  });

  it('redacts a secret before cutting, so no part of one is left at the cut', () => {
    const token = 'AX1234567890secretRESTtoken';
    const cause = new Error(`${'x'.repeat(110)} Bearer ${token}`);
    const detail = errorDetail(new TypeError('fetch failed', { cause }), [token]);
    expect(detail).toContain('[redacted]');
    expect(detail).not.toContain(token.slice(0, 4));
  });
});
