import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { isLeaseholdError, type WithLockOptions } from '@leasehold/core';
import { errorResponse, type HttpResult } from './http.js';
import type { InvocationContext } from './invocation.js';
import type { LockSettings } from './lock-store.js';
import type { Logger } from './logger.js';

/**
 * Maps what can go wrong around a lock to an HTTP answer: contention is a 409 the client may retry,
 * a lock store outage is a 503 — never the same thing. Returns undefined for anything else.
 */
export function lockFailureResponse(err: unknown, logger: Logger, what: string): HttpResult | undefined {
  if (isLeaseholdError(err, 'LOCK_TIMEOUT')) {
    logger.info('lock contended', { error: err });
    return errorResponse(
      409,
      `${what}_in_progress`,
      `another request for this ${what} is in progress; retry shortly`,
      {
        retryAfterMs: 1000,
      },
    );
  }
  if (isLeaseholdError(err, 'STORE_ERROR')) {
    logger.error('lock store unavailable', { error: err });
    return errorResponse(503, 'lock_store_unavailable', 'the lock service is unavailable; retry later');
  }
  return undefined;
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
