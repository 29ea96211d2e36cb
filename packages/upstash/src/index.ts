export { DEFAULT_PREFIX, releaseChannel, type UpstashKeyNames, upstashKeyNames } from './keys.js';
export {
  type UpstashLockStore,
  type UpstashRedisClient,
  type UpstashStoreOptions,
  upstashStore,
} from './store.js';
