/**
 * Stable error codes. Match on `error.code`, not on messages.
 *
 * @example
 * ```ts
 * if (err instanceof LeaseholdError && err.code === 'LOCK_TIMEOUT') return reply(409);
 * ```
 */
export type LeaseholdErrorCode =
  | 'LOCK_TIMEOUT'
  | 'LOCK_LOST'
  | 'STORE_ERROR'
  | 'INVALID_ARGUMENT'
  | 'STALE_TOKEN';

/**
 * Base class of every error Leasehold throws, with a stable {@link LeaseholdError.code}.
 *
 * @example
 * ```ts
 * try { await locker.acquire('k'); } catch (err) {
 *   if (err instanceof LeaseholdError) console.error(err.code, err.message);
 * }
 * ```
 */
export class LeaseholdError extends Error {
  // Fields are `declare`d and set in the constructors (same own properties, same order): a class field
  // would cost its name once more in every bundle.
  /** Stable, machine-readable code. */
  declare readonly code: LeaseholdErrorCode;

  /**
   * @param code - the stable code, also what {@link isLeaseholdError} matches across package copies.
   * @param message - human-readable; not part of the API (match on `code`).
   * @param options - `cause`: the underlying error, set as `error.cause` only when defined.
   */
  constructor(code: LeaseholdErrorCode, message: string, options?: { cause?: unknown }) {
    // Only a defined cause becomes an own `cause` property (Error reads nothing else from `options`).
    super(message, options?.cause === undefined ? undefined : options);
    this.code = code;
    this.name = 'LeaseholdError';
  }
}

/** What is known of the holder when a wait runs out. */
export interface HolderInfo {
  /** The holder's remaining lease time in ms, as last reported by the store. */
  readonly remainingMs?: number;
  /**
   * The token of the store's last grant, as last reported by the store. A lease the holder's locker
   * passed on to a local waiter carries a higher one, up to `FENCE_STEP - 1` above.
   */
  readonly token?: number;
}

/**
 * Why a wait ended without a lease: the lock was held by another owner for the whole wait (`held`), by
 * another caller of the same locker (`held-here`: locks are not re-entrant), or the Lambda invocation's
 * deadline left too little time for any lease before a request was sent (`deadline`: nobody is known to
 * hold it, nothing was sent).
 */
export type TimeoutReason = 'held' | 'held-here' | 'deadline';

const TIMEOUT_WHY: Record<TimeoutReason, string> = {
  held: 'still held by another owner',
  'held-here': 'still held by another caller of this locker (locks are not re-entrant)',
  deadline: 'not tried: too close to the invocation deadline for a lease,',
};

/**
 * The lock was held by someone else for the whole wait, or the Lambda invocation's deadline left too
 * little time for a lease (`reason` says which). This is contention, or no time, not an outage: a store
 * failure raises {@link StoreError} instead.
 *
 * @example
 * ```ts
 * try { await locker.acquire('seat:12', { waitMs: 500 }); } catch (err) {
 *   if (err instanceof LockTimeoutError && err.reason === 'deadline') return { status: 503 };
 *   if (err instanceof LockTimeoutError) return { status: 409, retryAfterMs: err.holder.remainingMs };
 *   throw err;
 * }
 * ```
 */
export class LockTimeoutError extends LeaseholdError {
  /** The key that could not be acquired. */
  declare readonly key: string;
  /** How long the call waited, in ms, from the call to the verdict (queueing and backoff included). */
  declare readonly waitedMs: number;
  /** Store requests this call sent: 0 when it never reached the store (queued locally, or `deadline`). */
  declare readonly attempts: number;
  /** What the store last reported about the holder (empty when nothing is known), e.g. for `Retry-After`. */
  declare readonly holder: HolderInfo;
  /** Why no lease came: held elsewhere, held by this locker, or too close to the Lambda deadline. */
  declare readonly reason: TimeoutReason;

  /**
   * Raised by the locker; the message names the key, the wait, the attempts and, when known, the
   * holder's remaining time.
   *
   * @param reason - defaults to `'held'`.
   */
  constructor(
    key: string,
    waitedMs: number,
    attempts: number,
    holder: HolderInfo,
    reason: TimeoutReason = 'held',
  ) {
    super(
      'LOCK_TIMEOUT',
      `"${key}" ${TIMEOUT_WHY[reason]} after ${waitedMs} ms, ${attempts} attempt(s)${holder.remainingMs === undefined ? '' : `, holder has ${holder.remainingMs} ms left`}`,
    );
    this.name = 'LockTimeoutError';
    this.key = key;
    this.waitedMs = waitedMs;
    this.attempts = attempts;
    this.holder = holder;
    this.reason = reason;
  }
}

/** Why a lease stopped being held. */
export type LostReason = 'expired' | 'taken' | 'released' | 'deadline';

/**
 * The lease is no longer held: it ran out un-extended (`expired`), the store says someone else has it
 * (`taken`), it was released (`released`), or a Lambda invocation deadline was reached (`deadline`).
 * It is also the `reason` of an aborted `lease.signal`.
 *
 * @example
 * ```ts
 * try { await lease.extend(); } catch (err) {
 *   if (err instanceof LockLostError) stopWork();
 * }
 * ```
 */
export class LockLostError extends LeaseholdError {
  /** The key of the lost lease. */
  declare readonly key: string;
  /** The lost lease's fencing token: writes fenced with it may now be refused. */
  declare readonly token: number;
  /** How it was lost: `expired`, `taken`, `released` or `deadline`. */
  declare readonly reason: LostReason;

  /** Raised by the locker and its leases; the message names the key, the token and the reason. */
  constructor(key: string, token: number, reason: LostReason, options?: { cause?: unknown }) {
    super('LOCK_LOST', `Lease on "${key}" (token ${token}) not held: ${reason}`, options);
    this.name = 'LockLostError';
    this.key = key;
    this.token = token;
    this.reason = reason;
  }
}

/** Why a store call failed. */
export type StoreErrorKind =
  | 'unreachable'
  | 'throttled'
  | 'table-missing'
  | 'bad-credentials'
  | 'timeout'
  | 'bad-response'
  | 'unknown';

/**
 * The store could not answer: the outcome of the operation is unknown. Never means "held".
 * A bundled store's message names the operation and the `kind` (each store's README says what to
 * check for each kind); `cause` carries the backend error (scrubbed of secrets). Core raises it too:
 * kind `unknown` for a store that threw something other than a Leasehold error, `bad-response` for a
 * grant whose token is not a positive safe integer, `timeout` for a grant that came after its lease
 * had run out.
 *
 * @example
 * ```ts
 * try {
 *   await locker.withLock('report:daily', run);
 * } catch (err) {
 *   if (err instanceof StoreError && err.retryable) return reply(503); // try again later
 *   throw err;
 * }
 * ```
 */
export class StoreError extends LeaseholdError {
  /** What went wrong talking to the store; match on this, not on the message. */
  declare readonly kind: StoreErrorKind;
  /** The failing store's name (`LockStore.name`), e.g. `'dynamodb'`; also the message's prefix. */
  declare readonly store: string;
  /** True when retrying later may succeed (unreachable, throttled, timeout). */
  declare readonly retryable: boolean;

  /**
   * For store authors: every failure of a `LockStore` method should reject with one.
   *
   * @param store - the store's `name`; the message becomes `"<store>: <message>"`.
   * @param kind - decides `retryable`.
   * @param message - say which operation failed and why; never include owner ids or credentials.
   * @param options - `cause`: the backend error (scrub secrets from it first).
   *
   * @example
   * ```ts
   * throw new StoreError('my-store', 'unreachable', 'acquire failed: connection refused', { cause: err });
   * ```
   */
  constructor(store: string, kind: StoreErrorKind, message: string, options?: { cause?: unknown }) {
    super('STORE_ERROR', `${store}: ${message}`, options);
    this.name = 'StoreError';
    this.store = store;
    this.kind = kind;
    this.retryable = /^(unreachable|throttled|timeout)$/.test(kind);
  }
}

/**
 * Bad input to a Leasehold call: rejected before any store call, nothing changed.
 *
 * @example
 * ```ts
 * await locker.acquire('', {}); // throws InvalidArgumentError: "key: must be 1 to 1024 UTF-8 bytes, got 0"
 * ```
 */
export class InvalidArgumentError extends LeaseholdError {
  /** The offending argument or option name, e.g. `'ttlMs'`. */
  declare readonly argument: string;

  /**
   * @param argument - the argument or option name; the message becomes `"<argument>: <message>"`.
   * @param message - what was expected, e.g. `'must be a positive integer'`.
   */
  constructor(argument: string, message: string) {
    super('INVALID_ARGUMENT', `${argument}: ${message}`);
    this.name = 'InvalidArgumentError';
    this.argument = argument;
  }
}

/**
 * A fenced write was refused because the resource has already seen a newer fencing token: the writer
 * lost its lease (paused, partitioned) and someone else has taken over. Do not retry with this lease.
 *
 * @example
 * ```ts
 * try {
 *   await ledger.write({ fence: lease.token, entry });
 * } catch (err) {
 *   if (err instanceof StaleTokenError) return; // a newer holder owns the resource
 *   throw err;
 * }
 * ```
 */
export class StaleTokenError extends LeaseholdError {
  // Real fields here, unlike the classes above: `currentToken` is an own property even when unknown.
  /** The refused writer's token (its lease's `token`). */
  readonly token: number;
  /** The newer token the resource holds, when known. */
  readonly currentToken?: number;
  /**
   * True when an earlier copy of this write may have been applied before the newer token arrived: the
   * client sent it more than once (the SDK retried after an answer was lost), and only the last copy
   * was refused. The writer must still stop; if the write's effect matters, look at the resource
   * (a write id recorded in the item says whether it landed).
   */
  readonly maybeApplied: boolean;

  /**
   * For fence helpers of your own resources (`sendFenced` in `@leasehold/dynamodb` raises it too).
   *
   * @param token - the token the refused write carried.
   * @param currentToken - the newer token the resource holds, if the refusal said so.
   * @param resource - names the resource in the message (e.g. a table name).
   * @param maybeApplied - an earlier copy of the write may have been applied (see the property).
   *
   * @example
   * ```ts
   * if (stored > lease.token) throw new StaleTokenError(lease.token, stored, 'seats');
   * ```
   */
  constructor(token: number, currentToken?: number, resource?: string, maybeApplied = false) {
    const where = resource ? ` on ${resource}` : '';
    const seen = currentToken === undefined ? 'a newer token' : `token ${currentToken}`;
    super(
      'STALE_TOKEN',
      `Fenced write${where} rejected: token ${token} is older than ${seen}${maybeApplied ? '; an earlier copy of it may have been applied' : ''}`,
    );
    this.name = 'StaleTokenError';
    this.token = token;
    if (currentToken !== undefined) this.currentToken = currentToken;
    this.maybeApplied = maybeApplied;
  }
}

/**
 * True when `err` is a Leasehold error, optionally with the given code; works across package copies.
 *
 * @example
 * ```ts
 * if (isLeaseholdError(err, 'LOCK_TIMEOUT')) return reply(409);
 * ```
 */
export function isLeaseholdError(err: unknown, code?: LeaseholdErrorCode): err is LeaseholdError {
  if (err instanceof LeaseholdError) return code === undefined || err.code === code;
  const c = (err as { code?: unknown } | null)?.code;
  return (
    err instanceof Error &&
    typeof c === 'string' &&
    ['LOCK_TIMEOUT', 'LOCK_LOST', 'STORE_ERROR', 'INVALID_ARGUMENT', 'STALE_TOKEN'].includes(c) &&
    (code === undefined || c === code)
  );
}
