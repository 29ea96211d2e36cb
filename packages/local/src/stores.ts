import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb.js';
import { type RedisServer, startRedisServer } from './redis.js';
import { startUpstashEndpoint, type UpstashEndpoint } from './upstash.js';
import { validateNameList, validateOptionsObject, validateToken } from './validate.js';

/**
 * A local service {@link startLocalStores} can start. `'upstash'` implies `'redis'`.
 *
 * @example
 * ```ts
 * const services: LocalService[] = ['redis', 'upstash'];
 * const stores = await startLocalStores({ services });
 * ```
 */
export type LocalService = 'dynamodb' | 'redis' | 'upstash';

/**
 * Every service name, for validation and help texts.
 *
 * @example
 * ```ts
 * import { LOCAL_SERVICES } from '@leasehold/local';
 *
 * console.log(`services: ${LOCAL_SERVICES.join(', ')}`); // dynamodb, redis, upstash
 * ```
 */
export const LOCAL_SERVICES: readonly LocalService[] = ['dynamodb', 'redis', 'upstash'];

/**
 * Names of the environment variables {@link LocalStores.env} fills in.
 *
 * @example
 * ```ts
 * import { LOCAL_ENV, startLocalStores } from '@leasehold/local';
 *
 * const stores = await startLocalStores({ services: ['upstash'] });
 * console.log(stores.env[LOCAL_ENV.upstashUrl]); // http://127.0.0.1:<port>
 * await stores.stop();
 * ```
 */
export const LOCAL_ENV = {
  /** DynamoDB endpoint for Leasehold's examples and tests. */
  dynamoDbEndpoint: 'LEASEHOLD_DYNAMODB_ENDPOINT',
  /** Service-specific endpoint AWS SDK v3 clients pick up on their own. */
  awsDynamoDbEndpoint: 'AWS_ENDPOINT_URL_DYNAMODB',
  /** `us-east-1`, DynamoDB Local's region (any works: its database is shared). */
  awsRegion: 'AWS_REGION',
  /** DynamoDB Local's fake access key id. */
  awsAccessKeyId: 'AWS_ACCESS_KEY_ID',
  /** DynamoDB Local's fake secret access key. */
  awsSecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  /** `redis://127.0.0.1:<port>` of the local redis-server. */
  redisUrl: 'LEASEHOLD_REDIS_URL',
  /** Read by `Redis.fromEnv()` of `@upstash/redis`. */
  upstashUrl: 'UPSTASH_REDIS_REST_URL',
  /** The endpoint's bearer token; also read by `Redis.fromEnv()`. */
  upstashToken: 'UPSTASH_REDIS_REST_TOKEN',
} as const;

/**
 * Options for {@link startLocalStores}.
 *
 * @example
 * ```ts
 * const stores = await startLocalStores({ services: ['dynamodb', 'upstash'], token: 'dev-token' });
 * ```
 */
export interface LocalStoresOptions {
  /**
   * Which services to start: a non-empty list. Default: all. `'upstash'` also starts `'redis'`; an
   * unknown name, an empty list or anything but an array: `TypeError`.
   */
  services?: LocalService[];
  /** Bearer token for the Upstash endpoint: non-empty, no whitespace. Default: a random token. */
  token?: string;
}

/**
 * The local services started by {@link startLocalStores}, plus the environment variables a user
 * would set to point code at them.
 *
 * @example
 * ```ts
 * import { startLocalStores } from '@leasehold/local';
 *
 * const stores = await startLocalStores();
 * Object.assign(process.env, stores.env);
 * // DynamoDBClient and Redis.fromEnv() now reach the local services.
 * await stores.stop();
 * ```
 */
export interface LocalStores {
  /** DynamoDB Local, when `'dynamodb'` was started. */
  dynamodb?: DynamoDbLocal;
  /** The redis-server, when `'redis'` or `'upstash'` was started. */
  redis?: RedisServer;
  /** The Upstash-compatible REST endpoint in front of `redis`, when `'upstash'` was started. */
  upstash?: UpstashEndpoint;
  /**
   * Environment variables for the started services: `LEASEHOLD_DYNAMODB_ENDPOINT`,
   * `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (DynamoDB),
   * `LEASEHOLD_REDIS_URL` (redis), `UPSTASH_REDIS_REST_URL`, `UPSTASH_REDIS_REST_TOKEN` (upstash).
   */
  env: Record<string, string>;
  /** Stops everything that was started; waits until every process is gone. Idempotent. */
  stop(): Promise<void>;
}

/** The services to start: `services` (checked before), plus `'redis'` when `'upstash'` is wanted. */
function wantedServices(services: LocalService[] | undefined): Set<LocalService> {
  const wanted = new Set<LocalService>(services ?? LOCAL_SERVICES);
  if (wanted.has('upstash')) wanted.add('redis');
  return wanted;
}

async function stopAll(stoppers: Array<() => Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(stoppers.map((stop) => stop()));
  const errors = results.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  );
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several local services failed to stop');
}

/**
 * Starts DynamoDB Local, redis-server and an Upstash-compatible REST endpoint (or the chosen subset)
 * on loopback, in parallel. If one fails to start, the others are stopped and the error is thrown.
 *
 * @param options - `services` to start a subset; `token` for the Upstash endpoint.
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { Redis } from '@upstash/redis';
 * import { startLocalStores } from '@leasehold/local';
 *
 * const stores = await startLocalStores();
 * const ddb = new DynamoDBClient({
 *   endpoint: stores.dynamodb!.endpoint,
 *   region: stores.dynamodb!.region,
 *   credentials: stores.dynamodb!.credentials,
 * });
 * const redis = new Redis({ url: stores.upstash!.url, token: stores.upstash!.token });
 * // ...
 * await stores.stop();
 * ```
 */
export async function startLocalStores(options: LocalStoresOptions = {}): Promise<LocalStores> {
  // Every option is checked before anything is started.
  validateOptionsObject(options);
  validateNameList(options.services, LOCAL_SERVICES, 'services', 'service');
  validateToken(options.token);
  const wanted = wantedServices(options.services);
  const started: Partial<Pick<LocalStores, 'dynamodb' | 'redis' | 'upstash'>> = {};
  const stopStarted = (): Promise<void> =>
    stopAll([
      async () => started.upstash?.stop(),
      async () => started.dynamodb?.stop(),
      async () => started.redis?.stop(),
    ]);

  try {
    const [dynamoResult, redisResult] = await Promise.allSettled([
      wanted.has('dynamodb') ? startDynamoDbLocal().then((d) => (started.dynamodb = d)) : undefined,
      wanted.has('redis') ? startRedisServer().then((r) => (started.redis = r)) : undefined,
    ]);
    if (dynamoResult.status === 'rejected') throw dynamoResult.reason;
    if (redisResult.status === 'rejected') throw redisResult.reason;
    if (wanted.has('upstash') && started.redis !== undefined) {
      started.upstash = await startUpstashEndpoint({
        redisHost: started.redis.host,
        redisPort: started.redis.port,
        ...(options.token === undefined ? {} : { token: options.token }),
      });
    }
  } catch (error) {
    await stopStarted().catch(() => {});
    throw error;
  }

  const env: Record<string, string> = {};
  if (started.dynamodb !== undefined) {
    const ddb = started.dynamodb;
    env[LOCAL_ENV.dynamoDbEndpoint] = ddb.endpoint;
    env[LOCAL_ENV.awsDynamoDbEndpoint] = ddb.endpoint;
    env[LOCAL_ENV.awsRegion] = ddb.region;
    env[LOCAL_ENV.awsAccessKeyId] = ddb.credentials.accessKeyId;
    env[LOCAL_ENV.awsSecretAccessKey] = ddb.credentials.secretAccessKey;
  }
  if (started.redis !== undefined) env[LOCAL_ENV.redisUrl] = started.redis.url;
  if (started.upstash !== undefined) {
    env[LOCAL_ENV.upstashUrl] = started.upstash.url;
    env[LOCAL_ENV.upstashToken] = started.upstash.token;
  }

  let stopping: Promise<void> | undefined;
  return {
    ...started,
    env,
    stop: () => {
      // The endpoint first (it holds connections to redis-server), then the processes.
      stopping ??= (async () => {
        try {
          await started.upstash?.stop();
        } finally {
          await stopAll([async () => started.dynamodb?.stop(), async () => started.redis?.stop()]);
        }
      })();
      return stopping;
    },
  };
}
