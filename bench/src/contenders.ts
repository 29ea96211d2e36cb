/**
 * Everything the bench compares, behind one small interface: Leasehold on each store, the peers on the
 * same local services, and the floor — the raw store calls any lock needs at minimum.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createLocker, type Lease } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { upstashStore } from '@leasehold/upstash';
import { Lock as UpstashLock } from '@upstash/lock';
import { Redis as UpstashRedis } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import Redlock from 'redlock';

/** @upstash/lock's types see @upstash/redis's CommonJS build; the instance is the same class. */
type LockRedis = ConstructorParameters<typeof UpstashLock>[0]['redis'];

export type StoreKind = 'redis' | 'upstash' | 'dynamodb';
export type Role = 'floor' | 'leasehold' | 'peer';

/** Where the services are (possibly counting proxies in front of them). */
export interface Endpoints {
  readonly redisPort: number;
  readonly upstashUrl: string;
  readonly upstashToken: string;
  readonly dynamoEndpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly table: string;
}

/** Retry pacing given to the peers (their defaults are slower: redlock 200±100 ms, @upstash/lock 100 ms). */
export const PEER_RETRY_DELAY_MS = 10;

export interface Held {
  release(): Promise<void>;
  /** Absent when the contender has no explicit extend. */
  extend?: (ttlMs: number) => Promise<void>;
}

export interface LockClient {
  /** Acquire a free key (uncontended). */
  acquire(key: string, ttlMs: number): Promise<Held>;
  /** Acquire, waiting as long as needed (or until `signal` aborts, where the contender supports it). */
  acquireWaiting?: (key: string, ttlMs: number, signal: AbortSignal) => Promise<Held>;
  close(): Promise<void>;
}

export interface Contender {
  readonly id: string;
  readonly label: string;
  readonly store: StoreKind;
  readonly role: Role;
  create(endpoints: Endpoints): Promise<LockClient>;
}

const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/**
 * The floors release with `EVALSHA` of the precomputed SHA-1 (and `EVAL` once after a `NOSCRIPT`), as
 * Leasehold and redlock do: the least a compare-and-delete costs on the wire and in Redis (`EVAL` sends
 * the whole script and has Redis hash it on every call).
 */
const RELEASE_SHA1 = createHash('sha1').update(RELEASE_LUA).digest('hex');
const isNoScript = (err: unknown) => /\bNOSCRIPT\b/.test(String((err as Error | undefined)?.message));

/**
 * `@upstash/redis` settings shared by every Upstash contender: those `upstashStore({ url, token })`
 * gives Leasehold's own client (no auto-pipelining, no automatic deserialization), so that the three
 * rows differ only in the lock, not in how the client batches or parses. With its defaults
 * `@upstash/redis` sends each command through `/pipeline` after a microtask, and may batch commands of
 * two waiters of one process into one HTTP request.
 */
const UPSTASH_CLIENT_OPTIONS = { automaticDeserialization: false, enableAutoPipelining: false } as const;

function ioredis(endpoints: Endpoints): IORedis {
  return new IORedis({ host: '127.0.0.1', port: endpoints.redisPort, lazyConnect: false });
}

function dynamoClient(endpoints: Endpoints): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: endpoints.dynamoEndpoint,
    region: endpoints.region,
    credentials: endpoints.credentials,
  });
}

function leaseholdClient(locker: ReturnType<typeof createLocker>, close: () => void): LockClient {
  const wrap = (lease: Lease): Held => ({
    release: async () => {
      await lease.release();
    },
    extend: (ttlMs) => lease.extend(ttlMs),
  });
  return {
    acquire: async (key, ttlMs) => wrap(await locker.acquire(key, { ttlMs, waitMs: 0 })),
    acquireWaiting: async (key, ttlMs, signal) =>
      wrap(await locker.acquire(key, { ttlMs, waitMs: 600_000, signal })),
    close: async () => {
      await locker.close();
      close();
    },
  };
}

const floorRedis: Contender = {
  id: 'floor-redis',
  label: 'floor: SET NX PX + EVALSHA',
  store: 'redis',
  role: 'floor',
  async create(endpoints) {
    const redis = ioredis(endpoints);
    return {
      async acquire(key, ttlMs) {
        const owner = randomUUID();
        if ((await redis.set(key, owner, 'PX', ttlMs, 'NX')) !== 'OK') throw new Error(`${key} is held`);
        return {
          release: async () => {
            await redis
              .evalsha(RELEASE_SHA1, 1, key, owner)
              .catch((err: unknown) =>
                isNoScript(err) ? redis.eval(RELEASE_LUA, 1, key, owner) : Promise.reject(err),
              );
          },
        };
      },
      close: async () => {
        redis.disconnect();
      },
    };
  },
};

const redlock: Contender = {
  id: 'redlock',
  label: 'redlock 5.0.0-beta.2 (ioredis)',
  store: 'redis',
  role: 'peer',
  async create(endpoints) {
    const redis = ioredis(endpoints);
    const lock = new Redlock([redis], {
      retryCount: -1,
      retryDelay: PEER_RETRY_DELAY_MS,
      retryJitter: PEER_RETRY_DELAY_MS / 2,
      automaticExtensionThreshold: 0,
    });
    lock.on('error', () => undefined); // contention is reported as errors on this emitter
    const wrap = (l: Awaited<ReturnType<Redlock['acquire']>>): Held => {
      let current = l;
      return {
        release: async () => {
          await current.release();
        },
        extend: async (ttlMs) => {
          current = await current.extend(ttlMs);
        },
      };
    };
    return {
      acquire: async (key, ttlMs) => wrap(await lock.acquire([key], ttlMs, { retryCount: 0 })),
      acquireWaiting: async (key, ttlMs) => wrap(await lock.acquire([key], ttlMs)),
      close: async () => {
        redis.disconnect();
      },
    };
  },
};

const floorUpstash: Contender = {
  id: 'floor-upstash',
  label: 'floor: SET NX PX + EVALSHA (REST)',
  store: 'upstash',
  role: 'floor',
  async create(endpoints) {
    const redis = new UpstashRedis({
      url: endpoints.upstashUrl,
      token: endpoints.upstashToken,
      ...UPSTASH_CLIENT_OPTIONS,
    });
    return {
      async acquire(key, ttlMs) {
        const owner = randomUUID();
        if ((await redis.set(key, owner, { nx: true, px: ttlMs })) !== 'OK')
          throw new Error(`${key} is held`);
        return {
          release: async () => {
            await redis
              .evalsha(RELEASE_SHA1, [key], [owner])
              .catch((err: unknown) =>
                isNoScript(err) ? redis.eval(RELEASE_LUA, [key], [owner]) : Promise.reject(err),
              );
          },
        };
      },
      close: async () => undefined,
    };
  },
};

const leaseholdUpstash: Contender = {
  id: 'leasehold-upstash',
  label: 'Leasehold (@leasehold/upstash)',
  store: 'upstash',
  role: 'leasehold',
  async create(endpoints) {
    const store = upstashStore({ url: endpoints.upstashUrl, token: endpoints.upstashToken });
    return leaseholdClient(createLocker({ store, ttlMs: 10_000 }), () => undefined);
  },
};

const upstashLock: Contender = {
  id: 'upstash-lock',
  label: '@upstash/lock 0.2.1',
  store: 'upstash',
  role: 'peer',
  async create(endpoints) {
    // @upstash/lock takes any client: the same settings as the floor's and Leasehold's.
    const redis = new UpstashRedis({
      url: endpoints.upstashUrl,
      token: endpoints.upstashToken,
      ...UPSTASH_CLIENT_OPTIONS,
    });
    const take = async (key: string, ttlMs: number, attempts: number): Promise<Held> => {
      const lock = new UpstashLock({
        id: key,
        redis: redis as unknown as LockRedis,
        lease: ttlMs,
        retry: { attempts, delay: PEER_RETRY_DELAY_MS },
      });
      if (!(await lock.acquire())) throw new Error(`${key} is held`);
      return {
        release: async () => {
          await lock.release();
        },
        extend: async (ttlMs) => {
          if (!(await lock.extend(ttlMs))) throw new Error(`${key} was lost`);
        },
      };
    };
    return {
      acquire: (key, ttlMs) => take(key, ttlMs, 1),
      acquireWaiting: (key, ttlMs) => take(key, ttlMs, Number.MAX_SAFE_INTEGER),
      close: async () => undefined,
    };
  },
};

const floorDynamo: Contender = {
  id: 'floor-dynamodb',
  label: 'floor: 2 conditional UpdateItems',
  store: 'dynamodb',
  role: 'floor',
  async create(endpoints) {
    const client = dynamoClient(endpoints);
    const TableName = endpoints.table;
    return {
      async acquire(key, ttlMs) {
        const owner = randomUUID();
        const now = Date.now();
        await client.send(
          new UpdateItemCommand({
            TableName,
            Key: { pk: { S: key } },
            ConditionExpression: 'attribute_not_exists(#o) OR #e < :now',
            UpdateExpression: 'SET #o = :o, #e = :e',
            ExpressionAttributeNames: { '#o': 'owner', '#e': 'expiresAt' },
            ExpressionAttributeValues: {
              ':o': { S: owner },
              ':e': { N: String(now + ttlMs) },
              ':now': { N: String(now) },
            },
          }),
        );
        return {
          release: async () => {
            await client.send(
              new UpdateItemCommand({
                TableName,
                Key: { pk: { S: key } },
                ConditionExpression: '#o = :o',
                UpdateExpression: 'REMOVE #o, #e',
                ExpressionAttributeNames: { '#o': 'owner', '#e': 'expiresAt' },
                ExpressionAttributeValues: { ':o': { S: owner } },
              }),
            );
          },
        };
      },
      close: async () => client.destroy(),
    };
  },
};

const leaseholdDynamo: Contender = {
  id: 'leasehold-dynamodb',
  label: 'Leasehold (@leasehold/dynamodb)',
  store: 'dynamodb',
  role: 'leasehold',
  async create(endpoints) {
    const client = dynamoClient(endpoints);
    const store = dynamoDbStore({ client, tableName: endpoints.table });
    return leaseholdClient(createLocker({ store, ttlMs: 10_000 }), () => client.destroy());
  },
};

/** The parts of dynamodb-lock-client (untyped, callback API) the bench uses. */
interface DlcLock {
  release(cb: (error?: Error) => void): void;
}
interface DlcClient {
  acquireLock(id: string, cb: (error: Error | undefined, lock: DlcLock) => void): void;
}
interface DlcModule {
  FailOpen: new (config: Record<string, unknown>) => DlcClient;
}
interface AwsV2 {
  DynamoDB: { DocumentClient: new (config: Record<string, unknown>) => unknown };
}

const dynamodbLockClient: Contender = {
  id: 'dynamodb-lock-client',
  label: 'dynamodb-lock-client 0.7.3 (aws-sdk v2)',
  store: 'dynamodb',
  role: 'peer',
  async create(endpoints) {
    process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
    const require = createRequire(import.meta.url);
    const AWS = require('aws-sdk') as AwsV2;
    const Dlc = require('dynamodb-lock-client') as DlcModule;
    const { Agent } = await import('node:http');
    const documentClient = new AWS.DynamoDB.DocumentClient({
      endpoint: endpoints.dynamoEndpoint,
      region: endpoints.region,
      credentials: endpoints.credentials,
      // Keep-alive (as AWS_NODEJS_CONNECTION_REUSE_ENABLED=1 gives): the peer's best configuration.
      httpOptions: { agent: new Agent({ keepAlive: true }) },
    });
    const clients = new Map<string, DlcClient>();
    const newClient = (ttlMs: number, retryCount: number) =>
      new Dlc.FailOpen({
        dynamodb: documentClient,
        lockTable: endpoints.table,
        partitionKey: 'pk',
        leaseDurationMs: ttlMs,
        retryCount,
        trustLocalTime: true,
        owner: 'bench',
      });
    // One client per configuration, created once, as an application would.
    const clientFor = (ttlMs: number, retryCount: number): DlcClient => {
      const id = `${ttlMs}:${retryCount}`;
      let client = clients.get(id);
      if (!client) {
        client = newClient(ttlMs, retryCount);
        clients.set(id, client);
      }
      return client;
    };
    const take = (key: string, ttlMs: number, retryCount: number) =>
      new Promise<Held>((resolve, reject) => {
        clientFor(ttlMs, retryCount).acquireLock(key, (error, lock) => {
          if (error) {
            reject(error);
            return;
          }
          resolve({
            release: () => new Promise<void>((res, rej) => lock.release((e) => (e ? rej(e) : res()))),
          });
        });
      });
    return {
      acquire: (key, ttlMs) => take(key, ttlMs, 0),
      acquireWaiting: (key, ttlMs) => take(key, ttlMs, 1_000_000),
      close: async () => undefined,
    };
  },
};

export const CONTENDERS: readonly Contender[] = [
  floorRedis,
  redlock,
  floorUpstash,
  leaseholdUpstash,
  upstashLock,
  floorDynamo,
  leaseholdDynamo,
  dynamodbLockClient,
];

export function contender(id: string): Contender {
  const found = CONTENDERS.find((c) => c.id === id);
  if (!found) throw new Error(`unknown contender ${id}`);
  return found;
}
