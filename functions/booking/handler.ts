import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LockEventListener } from '@leasehold/core';
import { createHandler } from '../shared/handler.js';
import { BadRequest, errorResponse, parseJsonBody, requireId } from '../shared/http.js';
import { awsClientConfig, createLockerFromEnv, requireEnv } from '../shared/lock-store.js';
import type { Logger } from '../shared/logger.js';
import { type BookingDeps, book, listSeats } from './booking-service.js';

/** Dependencies from the Lambda environment (seats table from the CDK stack; lock store per config). */
export async function bookingDepsFromEnv(
  env: Record<string, string | undefined> = process.env,
  onEvent?: LockEventListener,
): Promise<BookingDeps> {
  const client = new DynamoDBClient(awsClientConfig(env));
  const seatsTable = requireEnv(env, 'SEATS_TABLE_NAME');
  const { locker, settings } = await createLockerFromEnv(env, client, onEvent);
  return { locker, db: DynamoDBDocumentClient.from(client), seatsTable, lock: settings };
}

/** Builds the booking handler (`POST /bookings`, `GET /events/{eventId}/seats`) over the given dependencies. */
export function createBookingHandler(getDeps: () => Promise<BookingDeps>, logger?: Logger) {
  return createHandler('booking', 'booking', getDeps, logger, async (deps, event, log, context) => {
    const method = event.requestContext.http.method;
    if (method === 'GET') {
      const eventId = event.pathParameters?.eventId;
      if (!eventId) throw new BadRequest('eventId', 'the path must be /events/{eventId}/seats');
      return listSeats(deps, requireId({ eventId }, 'eventId'));
    }
    if (method !== 'POST') return errorResponse(405, 'method_not_allowed', 'use POST /bookings');
    const body = parseJsonBody(event);
    const req = {
      eventId: requireId(body, 'eventId'),
      seatId: requireId(body, 'seatId'),
      userId: requireId(body, 'userId'),
    };
    return book(deps, req, log.child({ eventId: req.eventId, seatId: req.seatId }), context);
  });
}

/** The Lambda entry point for `POST /bookings` and `GET /events/{eventId}/seats`. */
export const handler = createBookingHandler(() => bookingDepsFromEnv());
