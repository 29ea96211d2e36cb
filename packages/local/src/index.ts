/**
 * `@leasehold/local`: DynamoDB Local, redis-server and an Upstash-compatible REST endpoint on
 * loopback, for tests, demos and local development.
 *
 * @example
 * ```ts
 * import { startLocalStores } from '@leasehold/local';
 *
 * const stores = await startLocalStores();
 * console.log(stores.env);
 * await stores.stop();
 * ```
 *
 * @packageDocumentation
 */
export { type DynamoDbLocal, type DynamoDbLocalOptions, startDynamoDbLocal } from './dynamodb.js';
export { type LocalPrerequisite, LocalPrerequisiteError, LocalStartError } from './errors.js';
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis.js';
export {
  LOCAL_ENV,
  LOCAL_SERVICES,
  type LocalService,
  type LocalStores,
  type LocalStoresOptions,
  startLocalStores,
} from './stores.js';
export { startUpstashEndpoint, type UpstashEndpoint, type UpstashEndpointOptions } from './upstash.js';
