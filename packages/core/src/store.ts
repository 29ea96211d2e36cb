/**
 * The store contract: the only thing a backend must implement. Stores speak in owners, tokens and
 * milliseconds; validation, waiting, renewal, abort signals and events live once in core.
 *
 * `acquire`, `extend`, `release`, `inspect` and `withdraw` are each ONE round trip to the backing
 * service. A method either resolves with the outcome or rejects with a {@link StoreError}: a store
 * failure must never look like "held".
 *
 * @example
 * ```ts
 * import type { LockStore } from '@leasehold/core';
 * const store: LockStore = dynamoDbStore({ client, tableName: 'leasehold-locks' });
 * ```
 */
export interface LockStore {
  /** Short name used in errors (`StoreError.store`, messages), e.g. `'dynamodb'` or `'upstash'`. */
  readonly name: string;

  /**
   * Grant the lock to `owner` if it is free, expired, or already held by this same `owner` (so that an
   * applied-but-unanswered request retried by the backend SDK resolves as acquired, never as "held");
   * a grant to the same owner, too, holds the lock until at least now + `ttlMs` (core counts the lease
   * from when it sent this request). Core sends all attempts of one owner through one store, one at a
   * time, the later ones after an answer to the earlier: a store may order them by when they were sent.
   * On success the store issues a fencing token at least {@link FENCE_STEP} above every token it ever
   * issued for this key, even after the key's state was lost: core hands the tokens in between to the
   * lease's local successors. A grant to the owner already holding the lock may instead answer the
   * token that owner holds (no other client has seen it): both bundled stores do for a copy of an
   * applied attempt.
   */
  acquire(request: StoreAcquireRequest): Promise<StoreAcquireResult>;

  /**
   * Push the expiry of a lease still held by `owner` with `token` to at least now + `ttlMs`, never back
   * (a late request with a shorter TTL must not cut short a newer, longer extension): `true` when it
   * is held until then, `false` when it is not held any more.
   */
  extend(request: StoreExtendRequest): Promise<boolean>;

  /**
   * Free a lease held by `owner` with `token` and keep the fence; `false` when it was not held any more.
   *
   * An owner id names one lease: core never uses it for another grant, so a store may recognise the
   * lease (here and in {@link LockStore.extend}) by `owner` alone; `token` is there for stores that
   * check it too.
   */
  release(request: StoreLeaseRequest): Promise<boolean>;

  /** Read the key's state for operators; never reveals the owner id. */
  inspect(key: string): Promise<LockState>;

  /**
   * Optional: resolve when the key is probably free (a release was announced) or after `timeoutMs`,
   * whichever is first. Stores without notifications leave it out and core polls with backoff. When
   * `signal` aborts, settle promptly, resolving or rejecting: core answers with the signal's reason.
   *
   * Stores that queue waiters (see {@link StoreAcquireRequest.queueMs}) may hand the lock straight to
   * `claim.owner` when its holder releases it: they then resolve with the token of that grant, which
   * must be above `claim.above` — the holder's token that the waiter's last acquire answer reported,
   * proof that the grant came after that request was sent (core counts the lease from then on).
   */
  waitForRelease?(
    key: string,
    timeoutMs: number,
    signal?: AbortSignal,
    claim?: StoreClaim,
    // biome-ignore lint/suspicious/noConfusingVoidType: stores that never hand over return Promise<void>.
  ): Promise<void | number>;

  /**
   * Optional, for stores that queue waiters: `owner` stopped waiting for `key` (gave up, aborted or
   * failed). Drop it from the queue; if the lock is held by `owner` (handed to it meanwhile, or granted
   * by an acquire whose answer was lost: core also withdraws the owner of a request that failed), release
   * it. The owner id names one lease nobody else uses: releasing by owner alone is safe.
   */
  withdraw?(key: string, owner: string): Promise<void>;

  /** Optional: free connections and subscriptions held by the store. */
  close?(): Promise<void>;
}

/** Input of {@link LockStore.acquire}. */
export interface StoreAcquireRequest {
  /** The lock key, already validated by core (1 to `MAX_KEY_BYTES` UTF-8 bytes, well-formed Unicode). */
  readonly key: string;
  /** Random id of this lease (a UUID: 122 random bits); a secret, never logged. */
  readonly owner: string;
  /** Lease length in ms to grant from now; already capped at the Lambda deadline, if any. */
  readonly ttlMs: number;
  /**
   * Set when the caller will wait if the lock is held: a store that can queue waiters enqueues `owner`
   * (keeping its place if it is queued already) for this many ms, to hand the lock over on release.
   */
  readonly queueMs?: number;
}

/**
 * Who may be handed the lock in {@link LockStore.waitForRelease}, and the holder token it must beat.
 *
 * @example
 * ```ts
 * const token = await store.waitForRelease?.('k', 1_000, undefined, { owner, above: holderToken });
 * ```
 */
export interface StoreClaim {
  /** The waiting owner, queued by its acquire request: the only one this wait may be handed the lock for. */
  readonly owner: string;
  /** The holder token the waiter's last acquire answer reported: a hand-over's token must exceed it. */
  readonly above: number;
}

/** Input of {@link LockStore.release}. */
export interface StoreLeaseRequest {
  /** The lock key. */
  readonly key: string;
  /** The owner id the store granted the lease to. */
  readonly owner: string;
  /**
   * The token the store granted to `owner` (for a lease passed on locally, still that store grant's
   * token, not the lease's own).
   */
  readonly token: number;
}

/** Input of {@link LockStore.extend}. */
export interface StoreExtendRequest extends StoreLeaseRequest {
  /** The new lease length in ms, counted from now; already capped at the Lambda deadline, if any. */
  readonly ttlMs: number;
}

/** Outcome of {@link LockStore.acquire}. */
export type StoreAcquireResult =
  | {
      /** Granted to the request's `owner`. */
      readonly acquired: true;
      /** The grant's fencing token: a positive safe integer (core rejects anything else). */
      readonly token: number;
    }
  | {
      /** Held by another owner: never used for a failure, which rejects with a `StoreError`. */
      readonly acquired: false;
      /** What the store knows of the current holder's remaining time, in ms, if anything. */
      readonly holderRemainingMs?: number;
      /** The holder's fencing token, if the store returned it for free. */
      readonly holderToken?: number;
    };

/**
 * A key's state as seen by {@link LockStore.inspect} and `locker.inspect`.
 *
 * @example
 * ```ts
 * const state = await locker.inspect('payment:order-42');
 * if (state.held) console.log(`held, token ${state.token}, ${state.remainingMs} ms left`);
 * ```
 */
export interface LockState {
  /** The inspected key. */
  readonly key: string;
  /** True while an unexpired lease exists. */
  readonly held: boolean;
  /**
   * The last fencing token the store issued for the key (held or not), when it still has it. A lease
   * its locker passed on to a local waiter carries a higher token, up to `FENCE_STEP - 1` above.
   */
  readonly token?: number;
  /** Wall-clock expiry of the current lease (epoch ms), when held. */
  readonly expiresAt?: number;
  /** Remaining lease time in ms, when held. */
  readonly remainingMs?: number;
}

/**
 * How far a store advances a key's fencing token per grant. Core keeps the tokens in between
 * (`token + 1` … `token + FENCE_STEP - 1`) for waiters of the same locker it hands the lease to without
 * a store request; the store's next grant is above all of them.
 *
 * @example
 * ```ts
 * // In a custom store: a new grant is the stored counter + FENCE_STEP.
 * const token = (row?.fence ?? clockFloor) + FENCE_STEP;
 * ```
 */
export const FENCE_STEP = 16;
