import { isLeaseholdError, type StoreError } from '@leasehold/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { BadRequest, errorResponse, type HttpResult } from './http.js';
import type { InvocationContext } from './invocation.js';
import { lockFailureResponse } from './lock-errors.js';
import { createLogger, type Logger, parseLogLevel } from './logger.js';

/** What every example route gets: the request, a request-scoped logger and the Lambda context. */
export type Route<D> = (
  deps: D,
  event: APIGatewayProxyEventV2,
  log: Logger,
  context: InvocationContext,
) => Promise<HttpResult>;

/**
 * Wraps a route with what both functions share: lazy one-time dependency set-up (reused across warm
 * invocations, redone after the lock store refused its credentials), a structured request log, 400 for bad input, 409/503 for lock contention/outage (503 too for a lock not tried for lack of time), and a
 * 500 that never leaks internals.
 */
export function createHandler<D>(
  service: string,
  what: string,
  getDeps: () => Promise<D>,
  logger: Logger | undefined,
  route: Route<D>,
): (event: APIGatewayProxyEventV2, context: InvocationContext) => Promise<HttpResult> {
  const base = logger ?? createLogger({ service }, parseLogLevel(process.env.LOG_LEVEL));
  let deps: Promise<D> | undefined;
  return async (event, context) => {
    const log = base.child({ requestId: context.awsRequestId, route: event.routeKey });
    try {
      deps ??= getDeps().catch((err: unknown) => {
        deps = undefined; // a failed cold start must not poison every later invocation
        throw err;
      });
      const result = await route(await deps, event, log, context);
      log.info('request done', { status: result.statusCode });
      return result;
    } catch (err) {
      // Credentials the store refuses (a rotated Upstash token, revoked keys): set up afresh on the next
      // request, reading the secret again, instead of failing until the instance is recycled.
      if (isLeaseholdError(err, 'STORE_ERROR') && (err as StoreError).kind === 'bad-credentials') {
        deps = undefined;
      }
      if (err instanceof BadRequest) {
        log.info('bad request', { field: err.field });
        return errorResponse(400, 'bad_request', err.message, { field: err.field });
      }
      const lockAnswer = lockFailureResponse(err, log, what);
      if (lockAnswer) return lockAnswer;
      log.error('request failed', { error: err });
      return errorResponse(
        500,
        'internal_error',
        'the request failed; it is safe to retry with the same input',
      );
    }
  };
}
