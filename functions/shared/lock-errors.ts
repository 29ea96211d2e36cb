import { isLeaseholdError } from '@leasehold/core';
import { errorResponse, type HttpResult } from './http.js';
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
