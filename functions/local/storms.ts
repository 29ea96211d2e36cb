import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { HttpResult } from '../shared/http.js';
import type { InvocationContext } from '../shared/invocation.js';
import type { LocalData } from './environment.js';
import { httpEvent, lambdaContext } from './events.js';

/** A Lambda handler as the examples export it. */
export type Invoke = (event: APIGatewayProxyEventV2, context: InvocationContext) => Promise<HttpResult>;

export interface PaymentStormOptions {
  readonly orderId: string;
  /** Invocations in flight at once, duplicate deliveries included. Default 100. */
  readonly deliveries?: number;
  /** Distinct idempotency keys among them (each delivered deliveries/keys times). Default 10. */
  readonly keys?: number;
  readonly amount?: number;
  readonly currency?: string;
  /**
   * How many times a client sends a request again after an answer that says "retry" (500, 503, 409
   * `payment_in_progress`), as a real client does, each time as a new invocation. Default 0.
   */
  readonly retries?: number;
}

export interface PaymentStormResult {
  readonly orderId: string;
  readonly statuses: Record<number, number>;
  /** Charges the provider recorded for the order: anything but 1 is a failure. */
  readonly charges: number;
  readonly orderStatus: unknown;
  /** Every 200 answer carried the same body, for the key that paid. */
  readonly consistentReplies: boolean;
  /** A retry after the storm with the paying key got that same body back. */
  readonly retryMatches: boolean;
  /**
   * Final answers that are neither right nor "retry": the paying key answered other than 200, another
   * key answered other than 409 `order_already_paid` (a 200 for it is counted by `consistentReplies`).
   * Must be 0.
   */
  readonly unexpectedAnswers: number;
  /** Requests whose last answer still said "retry" (none when `retries` were enough). */
  readonly unsettled: number;
  /** Invocations made: deliveries, their retries and the retry after the storm. */
  readonly invocations: number;
  /** Answers that said "retry" and were retried. */
  readonly retried: number;
  readonly latenciesMs: number[];
}

/** Pays one order from many concurrent invocations with duplicate deliveries and mixed keys. */
export async function paymentStorm(
  invoke: Invoke,
  data: LocalData,
  o: PaymentStormOptions,
): Promise<PaymentStormResult> {
  const deliveries = o.deliveries ?? 100;
  const keyCount = o.keys ?? 10;
  const amount = o.amount ?? 4_200;
  const currency = o.currency ?? 'EUR';
  await data.seedOrder(o.orderId, amount, currency);
  const keys = Array.from({ length: keyCount }, (_, i) => `idem-${o.orderId}-${i}`);
  const requests = shuffle(Array.from({ length: deliveries }, (_, i) => keys[i % keyCount]!));
  const tally = { invocations: 0, retried: 0 };
  const pay = (idempotencyKey: string, retries = o.retries ?? 0) =>
    withRetries(retries, tally, () =>
      invoke(
        httpEvent('POST', '/payments', 'POST /payments', {
          orderId: o.orderId,
          amount,
          currency,
          idempotencyKey,
        }),
        lambdaContext(),
      ),
    );
  const latenciesMs: number[] = [];
  const results = await Promise.all(
    requests.map(async (key) => {
      const started = performance.now();
      const res = await pay(key);
      latenciesMs.push(performance.now() - started);
      return { key, res };
    }),
  );
  const statuses = countStatuses(results.map((r) => r.res));
  const order = await data.order(o.orderId);
  const paidKey = order?.paidKey;
  const okBodies = results.filter((r) => r.res.statusCode === 200);
  const consistentReplies =
    okBodies.every((r) => r.key === paidKey) && new Set(okBodies.map((r) => r.res.body)).size <= 1;
  const retry = typeof paidKey === 'string' ? await pay(paidKey) : undefined;
  const retryMatches =
    retry?.statusCode === 200 && (okBodies.length === 0 || retry.body === okBodies[0]!.res.body);
  const charges = (await data.chargesFor(o.orderId)).length;
  const settled = results.filter((r) => !isRetryable(r.res));
  const unexpectedAnswers = settled.filter((r) =>
    r.key === paidKey
      ? r.res.statusCode !== 200
      : r.res.statusCode !== 200 && errorCode(r.res) !== 'order_already_paid',
  ).length;
  return {
    orderId: o.orderId,
    statuses,
    charges,
    orderStatus: order?.status,
    consistentReplies,
    retryMatches,
    unexpectedAnswers,
    unsettled: results.length - settled.length,
    invocations: tally.invocations,
    retried: tally.retried,
    latenciesMs,
  };
}

export interface BookingStormOptions {
  readonly eventId: string;
  /** Default 20. */
  readonly seats?: number;
  /** Concurrent attempts spread over the seats. Default 200. */
  readonly attempts?: number;
  /** Sends again after an answer that says "retry" (500, 503, 409 `booking_in_progress`). Default 0. */
  readonly retries?: number;
}

export interface BookingStormResult {
  readonly eventId: string;
  readonly statuses: Record<number, number>;
  /** Seats booked in the table. */
  readonly booked: number;
  /**
   * Seats more than one user was told they hold, whose holder differs from the table, or booked (201)
   * more than once: must be 0.
   */
  readonly doubleBooked: number;
  /** Final answers other than 201/200 (the seat is yours) or 409 `seat_taken`: must be 0. */
  readonly unexpectedAnswers: number;
  /** Attempts whose last answer still said "retry". */
  readonly unsettled: number;
  /** Invocations made, retries included. */
  readonly invocations: number;
  /** Answers that said "retry" and were retried. */
  readonly retried: number;
  readonly latenciesMs: number[];
}

/** Books seats from many concurrent invocations: each seat is wanted by several users at once. */
export async function bookingStorm(
  invoke: Invoke,
  data: LocalData,
  o: BookingStormOptions,
): Promise<BookingStormResult> {
  const seatCount = o.seats ?? 20;
  const attempts = o.attempts ?? 200;
  const seatIds = Array.from({ length: seatCount }, (_, i) => `s${String(i + 1).padStart(3, '0')}`);
  await data.seedSeats(o.eventId, seatIds);
  const perSeat = Math.ceil(attempts / seatCount);
  // Users u0..u(perSeat-1) race for every seat; the last attempt per seat repeats a user (a retry).
  const requests = shuffle(
    Array.from({ length: attempts }, (_, i) => ({
      seatId: seatIds[i % seatCount]!,
      userId: `u${Math.floor(i / seatCount) % Math.max(1, perSeat - 1)}`,
    })),
  );
  const latenciesMs: number[] = [];
  const tally = { invocations: 0, retried: 0 };
  const results = await Promise.all(
    requests.map(async (r) => {
      const started = performance.now();
      const res = await withRetries(o.retries ?? 0, tally, () =>
        invoke(
          httpEvent('POST', '/bookings', 'POST /bookings', { eventId: o.eventId, ...r }),
          lambdaContext(),
        ),
      );
      latenciesMs.push(performance.now() - started);
      return { ...r, res };
    }),
  );
  const table = await data.seats(o.eventId);
  const doubleBooked = doubleBookedSeats(
    results.map((r) => ({ seatId: r.seatId, userId: r.userId, statusCode: r.res.statusCode })),
    table,
  );
  const settled = results.filter((r) => !isRetryable(r.res));
  const unexpectedAnswers = settled.filter(
    (r) => r.res.statusCode !== 200 && r.res.statusCode !== 201 && errorCode(r.res) !== 'seat_taken',
  ).length;
  return {
    eventId: o.eventId,
    statuses: countStatuses(results.map((r) => r.res)),
    booked: table.filter((s) => s.status === 'booked').length,
    doubleBooked,
    unexpectedAnswers,
    unsettled: results.length - settled.length,
    invocations: tally.invocations,
    retried: tally.retried,
    latenciesMs,
  };
}

/**
 * Seats sold twice, judged from what the clients were told and what the table holds: a seat more than
 * one user was told is theirs (200/201), one booked (201) more than once, or one whose booked holder
 * in the table is not the user who was told.
 */
export function doubleBookedSeats(
  answers: ReadonlyArray<{ seatId: string; userId: string; statusCode: number }>,
  table: ReadonlyArray<Record<string, unknown>>,
): number {
  const holders = new Map<string, Set<string>>();
  const created = new Map<string, number>();
  for (const a of answers) {
    if (a.statusCode !== 200 && a.statusCode !== 201) continue;
    const set = holders.get(a.seatId) ?? new Set<string>();
    set.add(a.userId);
    holders.set(a.seatId, set);
    if (a.statusCode === 201) created.set(a.seatId, (created.get(a.seatId) ?? 0) + 1);
  }
  const seats = new Set([...holders.keys(), ...table.map((s) => String(s.seatId))]);
  let doubled = 0;
  for (const seatId of seats) {
    const told = holders.get(seatId);
    const row = table.find((s) => String(s.seatId) === seatId);
    const heldBy = row?.status === 'booked' ? String(row.userId) : undefined;
    const toldWrong = told !== undefined && (told.size > 1 || heldBy === undefined || !told.has(heldBy));
    if (toldWrong || (created.get(seatId) ?? 0) > 1) doubled++;
  }
  return doubled;
}

/** True for an answer that says "retry": 500 (safe to retry), 503, 409 `*_in_progress`. */
export function isRetryable(res: HttpResult): boolean {
  if (res.statusCode === 500 || res.statusCode === 503) return true;
  return res.statusCode === 409 && (errorCode(res)?.endsWith('_in_progress') ?? false);
}

function errorCode(res: HttpResult): string | undefined {
  try {
    const body = JSON.parse(res.body) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a request, then again (as a new invocation) while the answer says "retry", up to `retries` times. */
async function withRetries(
  retries: number,
  tally: { invocations: number; retried: number },
  send: () => Promise<HttpResult>,
): Promise<HttpResult> {
  for (let attempt = 0; ; attempt++) {
    const res = await send();
    tally.invocations++;
    if (attempt >= retries || !isRetryable(res)) return res;
    tally.retried++;
    // The answer's retryAfterMs when given (capped), with jitter so that retries do not march in step.
    let after = 250;
    try {
      const hinted = (JSON.parse(res.body) as { retryAfterMs?: unknown }).retryAfterMs;
      if (typeof hinted === 'number') after = Math.min(hinted, 1_000);
    } catch {
      // no hint
    }
    await sleep(after * (0.5 + Math.random()));
  }
}

function countStatuses(results: HttpResult[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of results) out[r.statusCode] = (out[r.statusCode] ?? 0) + 1;
  return out;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
