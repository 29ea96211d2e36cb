export * from './errors.js';
export type { LockEvent, LockEventListener } from './events.js';
export type { Lease } from './lease.js';
export {
  type AcquireOptions,
  createLocker,
  type Locker,
  type LockerOptions,
  type WithLockOptions,
} from './locker.js';
export type * from './store.js';
export { FENCE_STEP } from './store.js';
export { type InvocationContext, MAX_DURATION_MS, MAX_KEY_BYTES, MIN_TTL_MS } from './validate.js';
export { withLocks } from './with-locks.js';
