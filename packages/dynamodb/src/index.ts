export {
  type CommandOutputOf,
  type CommandSender,
  type FenceableCommand,
  type FenceableInput,
  type FencedInput,
  type FenceLease,
  type FenceOptions,
  sendFenced,
  withFence,
} from './fence.js';
export { type DynamoDbStoreOptions, dynamoDbStore } from './store.js';
export {
  type CreateLockTableOptions,
  type CreateLockTableResult,
  createLockTable,
  LOCK_TABLE_PARTITION_KEY,
  LOCK_TABLE_TTL_ATTRIBUTE,
  lockTableDefinition,
} from './table.js';
