import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Locker } from '@leasehold/core';
import { sendFenced } from '@leasehold/dynamodb';
import { errorResponse, type HttpResult, json } from '../shared/http.js';
import type { InvocationContext } from '../shared/invocation.js';
import { inProgressResponse, isOvertaken, withLockOptions } from '../shared/lock-errors.js';
import type { LockSettings } from '../shared/lock-store.js';
import type { Logger } from '../shared/logger.js';

/** A seat as stored in the seats table (partition `eventId`, sort `seatId`). */
interface Seat {
  eventId: string;
  seatId: string;
  status: 'available' | 'booked';
  userId?: string;
  bookingId?: string;
  bookedAt?: string;
}

export interface BookingRequest {
  readonly eventId: string;
  readonly seatId: string;
  readonly userId: string;
}

export interface BookingDeps {
  readonly locker: Locker;
  readonly db: DynamoDBDocumentClient;
  readonly seatsTable: string;
  readonly lock: LockSettings;
}

/**
 * The lock key of one seat: `booking:{eventId}/{seatId}`. Ids may hold `:` but never `/`, so no two seats
 * share a key (with `:` between them, event `a:b` seat `c` and event `a` seat `b:c` would wait on each
 * other). The `booking:` prefix is what the stack's IAM condition on the lock table allows.
 *
 * @example
 * ```ts
 * seatLockKey('gig-42', 'A:12'); // 'booking:gig-42/A:12'
 * ```
 */
export const seatLockKey = (eventId: string, seatId: string): string => `booking:${eventId}/${seatId}`;

/**
 * Books a seat for a user, never twice: under {@link seatLockKey} a fenced conditional write
 * (`status = available`, token not older than the seat's fence) claims it. The same user's retry gets
 * their booking back; anyone else gets 409 seat taken.
 */
export async function book(
  deps: BookingDeps,
  req: BookingRequest,
  log: Logger,
  context?: InvocationContext,
): Promise<HttpResult> {
  const settled = answerFromSeat(await readSeat(deps, req), req);
  if (settled) return settled;
  // The id of the booking this request would make, known outside the lock: when the write's answer is
  // lost (the SDK's resend of an applied write is refused by its own condition) or the lease runs out
  // while it is in flight, a seat holding this very bookingId was booked by this request (201), which is
  // not a retry (200).
  const bookingId = `bk_${crypto.randomUUID().replaceAll('-', '')}`;
  try {
    return await deps.locker.withLock(
      seatLockKey(req.eventId, req.seatId),
      async (lease) => {
        const seat = await readSeat(deps, req);
        const answer = answerFromSeat(seat, req);
        if (answer) return answer;
        const booking = {
          eventId: req.eventId,
          seatId: req.seatId,
          userId: req.userId,
          bookingId,
          bookedAt: new Date().toISOString(),
        };
        await sendFenced(
          deps.db,
          lease,
          new UpdateCommand({
            TableName: deps.seatsTable,
            Key: { eventId: req.eventId, seatId: req.seatId },
            UpdateExpression: 'SET #status = :booked, userId = :user, bookingId = :booking, bookedAt = :at',
            ConditionExpression: '#status = :available',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':booked': 'booked',
              ':available': 'available',
              ':user': req.userId,
              ':booking': booking.bookingId,
              ':at': booking.bookedAt,
            },
          }),
        );
        log.info('seat booked', { fence: lease.token, bookingId: booking.bookingId });
        return json(201, { ...booking, status: 'booked' });
      },
      withLockOptions(deps.lock, context),
    );
  } catch (err) {
    const overtaken = isOvertaken(err);
    if (!overtaken) throw err;
    log.warn('booking overtaken; answering from the seat state', { error: err });
    const seat = await readSeat(deps, req);
    const answer = answerFromSeat(seat, req);
    // Made by this request: the answer of a new booking, not of a retry.
    if (answer?.statusCode === 200 && seat?.bookingId === bookingId) return { ...answer, statusCode: 201 };
    // Still free: the newer holder has not booked it (yet). The same answer as a lock wait that ran out.
    return answer ?? inProgressResponse('booking');
  }
}

/** `GET /events/{eventId}/seats`: every seat and whether it is free; never who booked it. */
export async function listSeats(deps: BookingDeps, eventId: string): Promise<HttpResult> {
  const seats: Array<{ seatId: string; status: string }> = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.db.send(
      new QueryCommand({
        TableName: deps.seatsTable,
        KeyConditionExpression: 'eventId = :e',
        ExpressionAttributeValues: { ':e': eventId },
        ProjectionExpression: 'seatId, #status',
        ExpressionAttributeNames: { '#status': 'status' },
        // Strongly consistent, like every other read here: an eventually consistent Query may come from
        // a replica that has not seen a booking yet, and list as available a seat already confirmed
        // (201) to someone else.
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    for (const item of page.Items ?? [])
      seats.push({ seatId: String(item.seatId), status: String(item.status) });
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  if (seats.length === 0) return errorResponse(404, 'event_not_found', 'no seats for this event');
  return json(200, { eventId, seats });
}

async function readSeat(deps: BookingDeps, req: BookingRequest): Promise<Seat | undefined> {
  const out = await deps.db.send(
    new GetCommand({
      TableName: deps.seatsTable,
      Key: { eventId: req.eventId, seatId: req.seatId },
      ConsistentRead: true,
    }),
  );
  return out.Item as Seat | undefined;
}

function answerFromSeat(seat: Seat | undefined, req: BookingRequest): HttpResult | undefined {
  if (!seat) return errorResponse(404, 'seat_not_found', 'no such seat for this event');
  if (seat.status !== 'booked') return undefined;
  if (seat.userId === req.userId) {
    const { eventId, seatId, userId, bookingId, bookedAt } = seat;
    return json(200, { eventId, seatId, userId, bookingId, bookedAt, status: 'booked' });
  }
  return errorResponse(409, 'seat_taken', 'the seat is already booked');
}
