/**
 * The fault kit without the vitest-based conformance suite, so plain scripts (soaks, benchmarks) can
 * import it: `import { startFaultProxy, checkHistory } from '@leasehold/testkit/faults'`.
 */
export {
  drawFault,
  FAULT_KINDS,
  type Fault,
  type FaultCounters,
  type FaultKind,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultRecord,
  type FaultSchedule,
  type ProxiedRequest,
  type RequestInfo,
  startFaultProxy,
} from './fault-proxy.js';
export {
  CHECKS,
  type CheckName,
  type CheckOptions,
  type CheckResult,
  type CheckStats,
  checkHistory,
  emptyHistory,
  formatCheckResult,
  type HeldObservation,
  type History,
  type KillRecord,
  type LeaseEventRecord,
  type LostAnswerRecord,
  type PauseRecord,
  type ResourceState,
  type StateLossRecord,
  type StoreOpRecord,
  type Violation,
  type WriteRecord,
} from './history.js';
export { type Rng, randomSeed, rng, seededRandom, sharedNow } from './random.js';
export {
  describeDynamoDbRequest,
  describeUpstashRequest,
  dynamoDbGrantedToken,
  upstashGrantedToken,
} from './requests.js';
