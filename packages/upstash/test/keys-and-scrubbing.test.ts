import { describe, expect, it } from 'vitest';
import { errorDetail, scrub } from '../src/errors.js';
import { DEFAULT_PREFIX, releaseChannel, upstashKeyNames } from '../src/index.js';
import { ACQUIRE_LUA, SCRIPTS } from '../src/scripts.js';

describe('key names', () => {
  it('share the {key} hash tag under the default prefix', () => {
    expect(DEFAULT_PREFIX).toBe('leasehold:');
    expect(upstashKeyNames('payment:order-42')).toEqual({
      lock: 'leasehold:{payment:order-42}',
      fence: 'leasehold:{payment:order-42}:fence',
      channel: 'leasehold:{payment:order-42}:released',
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
  it('have stable SHA-1 digests computed with WebCrypto', async () => {
    const sha = await SCRIPTS.acquire.sha1();
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await SCRIPTS.acquire.sha1()).toBe(sha);
    const { createHash } = await import('node:crypto');
    expect(sha).toBe(createHash('sha1').update(ACQUIRE_LUA).digest('hex'));
  });
});

describe('scrubbing', () => {
  it('removes secrets verbatim and JSON-escaped, and drops the serialized command', () => {
    const owner = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    const message = `ERR boom ${owner}, command was: ${JSON.stringify(['eval', ACQUIRE_LUA, 2, 'k', 'f', owner])}`;
    const detail = errorDetail(new Error(message), [owner, ACQUIRE_LUA]);
    expect(detail).toBe('ERR boom [redacted]');
    expect(scrub(`x ${JSON.stringify(ACQUIRE_LUA)} y`, [ACQUIRE_LUA])).not.toContain('redis.call(');
  });

  it('caps the detail length', () => {
    expect(errorDetail(new Error('E'.repeat(1_000)), []).length).toBeLessThanOrEqual(201);
  });
});
