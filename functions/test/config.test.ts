import { describe, expect, it } from 'vitest';
import { ConfigError, readLockSettings, readLockStoreConfig } from '../shared/lock-store.js';

const token = 'AX_secret_token_value_123';

describe('readLockStoreConfig', () => {
  it('uses the DynamoDB lock store by default', () => {
    expect(readLockStoreConfig({ LOCK_TABLE_NAME: 'locks' })).toEqual({
      kind: 'dynamodb',
      tableName: 'locks',
    });
  });

  it('uses Upstash when its URL and token are configured', () => {
    expect(
      readLockStoreConfig({
        LOCK_TABLE_NAME: 'locks',
        UPSTASH_REDIS_REST_URL: 'https://x.upstash.io',
        UPSTASH_REDIS_REST_TOKEN: token,
      }),
    ).toEqual({ kind: 'upstash', url: 'https://x.upstash.io', token });
  });

  it.each([
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:upstash-AbCdEf',
    'leasehold/upstash-tokens',
  ])('reads the Upstash token from Secrets Manager when only the secret (%s) is configured', (id) => {
    expect(
      readLockStoreConfig({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_TOKEN_SECRET_ID: id }),
    ).toEqual({
      kind: 'upstash',
      url: 'https://x.upstash.io',
      tokenSecretId: id,
    });
  });

  it('lets LOCK_STORE force DynamoDB even when Upstash is configured', () => {
    const config = readLockStoreConfig({
      LOCK_STORE: 'dynamodb',
      LOCK_TABLE_NAME: 'locks',
      UPSTASH_REDIS_REST_URL: 'https://x.upstash.io',
      UPSTASH_REDIS_REST_TOKEN: token,
    });
    expect(config.kind).toBe('dynamodb');
  });

  it('names the missing variable, never a secret value', () => {
    expect(() => readLockStoreConfig({})).toThrow(/LOCK_TABLE_NAME/);
    expect(() => readLockStoreConfig({ LOCK_STORE: 'upstash', UPSTASH_REDIS_REST_TOKEN: token })).toThrow(
      /UPSTASH_REDIS_REST_URL/,
    );
    expect(() => readLockStoreConfig({ LOCK_STORE: 'redis' })).toThrow(ConfigError);
    try {
      readLockStoreConfig({ LOCK_STORE: 'upstash', UPSTASH_REDIS_REST_TOKEN: token });
    } catch (err) {
      expect(String(err)).not.toContain(token);
    }
  });
});

describe('readLockSettings', () => {
  it('defaults to a 10 s lease and a 3 s wait and rejects nonsense', () => {
    expect(readLockSettings({})).toEqual({ ttlMs: 10_000, waitMs: 3_000 });
    expect(readLockSettings({ LOCK_TTL_MS: '5000', LOCK_WAIT_MS: '100' })).toEqual({
      ttlMs: 5_000,
      waitMs: 100,
    });
    expect(() => readLockSettings({ LOCK_TTL_MS: '1.5' })).toThrow(/LOCK_TTL_MS/);
    expect(() => readLockSettings({ LOCK_WAIT_MS: '-1' })).toThrow(/LOCK_WAIT_MS/);
  });

  it('refuses at cold start a lease core would refuse on every request, and accepts a wait of 0', () => {
    expect(() => readLockSettings({ LOCK_TTL_MS: '50' })).toThrow(
      /LOCK_TTL_MS must be a whole number of ms from 100/,
    );
    expect(() => readLockSettings({ LOCK_TTL_MS: String(2 * 86_400_000) })).toThrow(/LOCK_TTL_MS/);
    expect(readLockSettings({ LOCK_WAIT_MS: '0' })).toEqual({ ttlMs: 10_000, waitMs: 0 });
  });
});
