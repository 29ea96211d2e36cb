import type {
  HeldObservation,
  LeaseEventRecord,
  StoreOpRecord,
  WriteRecord,
} from '@leasehold/testkit/faults';

/** Which store a soak runs against. */
export type SoakStore = 'dynamodb' | 'upstash';

/** What the parent tells a worker process (JSON in the LEASEHOLD_SOAK_WORKER variable). */
export interface WorkerConfig {
  readonly id: string;
  readonly store: SoakStore;
  readonly seed: number;
  readonly keys: readonly string[];
  readonly ttlMs: number;
  readonly waitMs: number;
  /** This worker's wall-clock offset, in ms (DynamoDB: the store's `now`; Upstash: `Date.now`). */
  readonly clockOffsetMs: number;
  /** DynamoDB store `clockSkewMs`. */
  readonly storeSkewMs: number;
  /** Share of critical sections that run longer than the TTL (so the lease must be extended). */
  readonly longSectionShare: number;
  /** Think time inside an ordinary critical section, ms (inclusive range). */
  readonly sectionMs: readonly [number, number];
  /** The protected HTTP resource in the parent. */
  readonly resourceUrl: string;
  readonly dynamodb?: {
    readonly endpoint: string;
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
    readonly lockTable: string;
    readonly resourceTable: string;
  };
  readonly upstash?: { readonly url: string; readonly token: string };
}

/** How an acquisition attempt ended. */
export type AttemptOutcome = 'done' | 'busy' | 'timeout' | 'lost' | 'store-error' | 'other';

/** What a worker reports to the parent (IPC messages). */
export type WorkerMessage =
  | { readonly t: 'ready' }
  | ({ readonly t: 'op' } & StoreOpRecord)
  /** A release on its way (outcome `unanswered` until its `op` record arrives). */
  | ({ readonly t: 'release-sent' } & StoreOpRecord)
  | ({ readonly t: 'event' } & LeaseEventRecord)
  | ({ readonly t: 'obs' } & HeldObservation)
  | ({ readonly t: 'write' } & WriteRecord)
  | { readonly t: 'hold'; readonly key: string; readonly token: number }
  /** The lease reported by `hold` ended (released, or given up). */
  | { readonly t: 'free'; readonly key: string; readonly token: number }
  | { readonly t: 'attempt'; readonly outcome: AttemptOutcome; readonly detail?: string };

/** What the parent tells a worker. */
export type ParentMessage = { readonly t: 'stop' };

/** The drift allowance core documents: 1% of the TTL + 2 ms + the locker's clockSkewMs. */
export const validityMs = (ttlMs: number, lockerSkewMs = 0): number =>
  ttlMs - (Math.floor(ttlMs * 0.01) + 2 + lockerSkewMs);
