import { describe, expect, it } from 'vitest';
import { toStoreError } from '../src/errors.js';
import { DEFAULT_PREFIX, releaseChannel, upstashKeyNames } from '../src/index.js';
import { runScript, SCRIPTS } from '../src/scripts.js';

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

  it('never let one key collide with another key or with a fence', () => {
    const keys = ['a', 'a}', 'a:fence', 'a}:fence', '{a}', 'a}:released', 'x{a'];
    const names = keys.flatMap((k) => {
      const n = upstashKeyNames(k);
      return [n.lock, n.fence];
    });
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('scripts', () => {
  it('run with EVALSHA and the SHA-1 of their text, computed with WebCrypto', async () => {
    const { createHash } = await import('node:crypto');
    const shas: string[] = [];
    const runner = {
      evalsha: async (sha: string) => shas.push(sha),
      eval: async () => Promise.reject(new Error('not expected')),
    };
    for (const script of Object.values(SCRIPTS)) {
      await runScript(runner, script, [], []);
      await runScript(runner, script, [], []);
      const sha = createHash('sha1').update(script).digest('hex');
      expect(shas.splice(0)).toEqual([sha, sha]);
    }
  });

  it('fall back to EVAL only on NOSCRIPT', async () => {
    const calls: string[] = [];
    const runner = (error: string) => ({
      evalsha: async () => {
        calls.push('evalsha');
        throw new Error(error);
      },
      eval: async () => calls.push('eval'),
    });
    await runScript(runner('NOSCRIPT No matching script. Please use EVAL.'), SCRIPTS.extend, [], []);
    expect(calls.splice(0)).toEqual(['evalsha', 'eval']);
    await expect(runScript(runner('ERR other'), SCRIPTS.extend, [], [])).rejects.toThrow('ERR other');
    expect(calls.splice(0)).toEqual(['evalsha']);
  });

  it('each start with a --lh tag (it names them, and marks quoted script text for scrubbing)', () => {
    for (const [name, script] of Object.entries(SCRIPTS))
      expect(script).toMatch(new RegExp(`^--lh ${name} v\\d+\n`));
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
    const message = `ERR boom ${owner}, command was: ${JSON.stringify(['eval', SCRIPTS.acquire, 2, 'k', 'f', owner])}`;
    expect(errorDetail(new Error(message), [owner])).toBe('ERR boom [redacted]');
    expect(errorDetail(new Error('a tok-1 b tok-1'), ['tok-1', owner])).toBe('a [redacted] b [redacted]');
  });

  it('cuts script text quoted anywhere, with the arguments after it', () => {
    for (const script of Object.values(SCRIPTS)) {
      const quoted = `proxy said: ${JSON.stringify(['eval', script, 1, 'k', 'owner-id'])}`;
      expect(errorDetail(new Error(quoted), [])).toBe('proxy said: ["eval","');
      expect(errorDetail(new Error(`bad ${script}`), [])).toBe('bad');
    }
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
});
