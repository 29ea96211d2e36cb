import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { isLeaseholdError, type LockTimeoutError, type WithLockOptions } from '@leasehold/core';
import { errorResponse, type HttpResult } from './http.js';
import type { InvocationContext } from './invocation.js';
import type { LockSettings } from './lock-store.js';
import type { Logger } from './logger.js';

/** How long a client should wait before retrying an answer that says "retry shortly". */
export const RETRY_AFTER_MS = 1_000;

/**
 * Maps what can go wrong around a lock to an HTTP answer: contention is a 409 the client may retry,
 * a lock store outage is a 503 — never the same thing. A lock not even tried, because the invocation
 * was too close to its deadline for a lease, is a 503 too: nobody is known to hold it. Returns
 * undefined for anything else.
 */
export function lockFailureResponse(err: unknown, logger: Logger, what: string): HttpResult | undefined {
  if (isDeadlineTooClose(err)) {
    // Not contention: this invocation spent its time before the lock (a slow read, a late cold start).
    // Nothing was done; a retry is a new invocation, with a whole timeout of its own.
    logger.warn('too close to the invocation deadline to try the lock', { error: err });
    return errorResponse(
      503,
      'deadline_too_close',
      'the request ran out of time before it could start; nothing was done; retry shortly',
      { retryAfterMs: RETRY_AFTER_MS },
    );
  }
  if (isLeaseholdError(err, 'LOCK_TIMEOUT')) {
    logger.info('lock contended', { error: err });
    return inProgressResponse(what);
  }
  if (isLeaseholdError(err, 'STORE_ERROR')) {
    logger.error('lock store unavailable', { error: err });
    return errorResponse(503, 'lock_store_unavailable', 'the lock service is unavailable; retry later');
  }
  return undefined;
}

/**
 * `409 {what}_in_progress`: another request holds the lock (or overtook this one); retry shortly. The
 * same answer, `retryAfterMs` included, whichever path finds it.
 */
export function inProgressResponse(what: string): HttpResult {
  return errorResponse(
    409,
    `${what}_in_progress`,
    `another request for this ${what} is in progress; retry shortly`,
    { retryAfterMs: RETRY_AFTER_MS },
  );
}

/**
 * True for core's LockTimeoutError of a lock never tried: the invocation deadline left too little time
 * for any lease, so no request was sent (`reason: 'deadline'`; a wait behind another holder, in this
 * process or not, is `held` or `held-here`: contention).
 */
export function isDeadlineTooClose(err: unknown): boolean {
  return isLeaseholdError(err, 'LOCK_TIMEOUT') && (err as LockTimeoutError).reason === 'deadline';
}

/**
 * True when this request was overtaken while it held the lock: the fence refused its write, its lease
 * was lost, or a newer holder changed the item under it. The answer then comes from the stored state.
 */
export function isOvertaken(err: unknown): boolean {
  return (
    isLeaseholdError(err, 'STALE_TOKEN') ||
    isLeaseholdError(err, 'LOCK_LOST') ||
    err instanceof ConditionalCheckFailedException
  );
}

/** The functions' lease settings as `withLock` options, capped by the Lambda invocation. */
export function withLockOptions(lock: LockSettings, context?: InvocationContext): WithLockOptions {
  return {
    ttlMs: lock.ttlMs,
    waitMs: lock.waitMs,
    ...(lock.extendEveryMs === undefined ? {} : { extendEveryMs: lock.extendEveryMs }),
    ...(context === undefined ? {} : { context }),
  };
}
