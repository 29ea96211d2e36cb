import { createServer, type Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StoreError } from '@leasehold/core';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createLockerFromEnv,
  readLockSettings,
  readLockStoreConfig,
} from '../shared/lock-store.js';

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
  it('defaults to a 10 s lease, a 3 s wait and 3 s per lock call, and rejects nonsense', () => {
    expect(readLockSettings({})).toEqual({ ttlMs: 10_000, waitMs: 3_000, requestTimeoutMs: 3_000 });
    expect(
      readLockSettings({ LOCK_TTL_MS: '5000', LOCK_WAIT_MS: '100', LOCK_REQUEST_TIMEOUT_MS: '250' }),
    ).toEqual({ ttlMs: 5_000, waitMs: 100, requestTimeoutMs: 250 });
    expect(() => readLockSettings({ LOCK_TTL_MS: '1.5' })).toThrow(/LOCK_TTL_MS/);
    expect(() => readLockSettings({ LOCK_WAIT_MS: '-1' })).toThrow(/LOCK_WAIT_MS/);
    expect(() => readLockSettings({ LOCK_REQUEST_TIMEOUT_MS: '0' })).toThrow(/LOCK_REQUEST_TIMEOUT_MS/);
  });

  it('refuses at cold start a lease core would refuse on every request, and accepts a wait of 0', () => {
    expect(() => readLockSettings({ LOCK_TTL_MS: '50' })).toThrow(
      /LOCK_TTL_MS must be a whole number of ms from 100/,
    );
    expect(() => readLockSettings({ LOCK_TTL_MS: String(2 * 86_400_000) })).toThrow(/LOCK_TTL_MS/);
    expect(readLockSettings({ LOCK_WAIT_MS: '0' })).toMatchObject({ ttlMs: 10_000, waitMs: 0 });
  });
});

describe('createLockerFromEnv', () => {
  it.each([
    ['DynamoDB', (_url: string) => ({ LOCK_TABLE_NAME: 'locks' }) as Record<string, string>],
    ['Upstash', (url: string) => ({ UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: 'test-token' })],
  ])(
    'bounds a %s lock call by LOCK_REQUEST_TIMEOUT_MS: a hung endpoint is a StoreError timeout, not a hung invocation',
    async (_, storeEnv) => {
      // Accepts connections and never answers: a network black hole.
      const sockets: Socket[] = [];
      const server = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      const url = `http://127.0.0.1:${port}`;
      const client = new DynamoDBClient({
        endpoint: url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      });
      try {
        const { locker } = await createLockerFromEnv(
          { ...storeEnv(url), LOCK_REQUEST_TIMEOUT_MS: '300' },
          client,
        );
        const started = performance.now();
        const error = await locker.withLock('order:1', async () => 'never').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).kind).toBe('timeout');
        expect(performance.now() - started).toBeLessThan(5_000);
      } finally {
        client.destroy();
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );
});
