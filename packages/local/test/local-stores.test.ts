import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Redis } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { LOCAL_ENV, type LocalService, startLocalStores } from '../src/index.js';
import { isAlive, portAcceptsConnections } from './helpers.js';

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('startLocalStores', () => {
  it('starts every service by default and exports env vars that reach them', async () => {
    const stores = await startLocalStores({ token: 'dev-token' });
    const pids = [stores.dynamodb?.pid, stores.redis?.pid];
    const ports = [stores.dynamodb?.port, stores.redis?.port, stores.upstash?.port];
    try {
      expect(Object.keys(stores.env).sort()).toEqual(Object.values(LOCAL_ENV).sort());
      expect(stores.env).toMatchObject({
        LEASEHOLD_DYNAMODB_ENDPOINT: stores.dynamodb?.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: stores.dynamodb?.endpoint,
        AWS_REGION: 'us-east-1',
        LEASEHOLD_REDIS_URL: stores.redis?.url,
        UPSTASH_REDIS_REST_URL: stores.upstash?.url,
        UPSTASH_REDIS_REST_TOKEN: 'dev-token',
      });
      await withEnv(stores.env, async () => {
        // No explicit endpoint, region or credentials: all of it comes from the environment.
        const ddb = new DynamoDBClient({ maxAttempts: 1 });
        try {
          expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual([]);
        } finally {
          ddb.destroy();
        }
        const redis = Redis.fromEnv({ retry: false });
        expect(await redis.set('env:k', 'through-env')).toBe('OK');
        expect(await redis.get('env:k')).toBe('through-env');
      });
    } finally {
      await stores.stop();
    }
    for (const pid of pids) expect(isAlive(pid!)).toBe(false);
    for (const port of ports) expect(await portAcceptsConnections(port!)).toBe(false);
    await stores.stop();
  });

  it('starts redis-server too when only upstash is asked for', async () => {
    const stores = await startLocalStores({ services: ['upstash'] });
    try {
      expect(stores.dynamodb).toBeUndefined();
      expect(stores.redis).toBeDefined();
      expect(stores.upstash).toBeDefined();
      expect(Object.keys(stores.env).sort()).toEqual(
        [LOCAL_ENV.redisUrl, LOCAL_ENV.upstashToken, LOCAL_ENV.upstashUrl].sort(),
      );
      const redis = new Redis({ url: stores.upstash!.url, token: stores.upstash!.token, retry: false });
      expect(await redis.incr('n')).toBe(1);
    } finally {
      await stores.stop();
    }
    expect(isAlive(stores.redis!.pid)).toBe(false);
  });

  it('starts only redis-server when asked', async () => {
    const stores = await startLocalStores({ services: ['redis'] });
    try {
      expect(stores.upstash).toBeUndefined();
      expect(stores.dynamodb).toBeUndefined();
      expect(stores.env).toEqual({ LEASEHOLD_REDIS_URL: stores.redis!.url });
    } finally {
      await stores.stop();
    }
    expect(isAlive(stores.redis!.pid)).toBe(false);
  });

  it('rejects an unknown service name', async () => {
    await expect(startLocalStores({ services: ['memcached' as LocalService] })).rejects.toThrow(
      /unknown service "memcached"/,
    );
  });
});
