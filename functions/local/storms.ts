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
  const pay = (idempotencyKey: string) =>
    invoke(
      httpEvent('POST', '/payments', 'POST /payments', {
        orderId: o.orderId,
        amount,
        currency,
        idempotencyKey,
      }),
      lambdaContext(),
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
  return {
    orderId: o.orderId,
    statuses,
    charges,
    orderStatus: order?.status,
    consistentReplies,
    retryMatches,
    latenciesMs,
  };
}

export interface BookingStormOptions {
  readonly eventId: string;
  /** Default 20. */
  readonly seats?: number;
  /** Concurrent attempts spread over the seats. Default 200. */
  readonly attempts?: number;
}

export interface BookingStormResult {
  readonly eventId: string;
  readonly statuses: Record<number, number>;
  /** Seats booked in the table. */
  readonly booked: number;
  /** Seats more than one user was told they hold, or whose holder differs from the table: must be 0. */
  readonly doubleBooked: number;
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
  const results = await Promise.all(
    requests.map(async (r) => {
      const started = performance.now();
      const res = await invoke(
        httpEvent('POST', '/bookings', 'POST /bookings', { eventId: o.eventId, ...r }),
        lambdaContext(),
      );
      latenciesMs.push(performance.now() - started);
      return { ...r, res };
    }),
  );
  const holders = new Map<string, Set<string>>();
  for (const r of results) {
    if (r.res.statusCode !== 200 && r.res.statusCode !== 201) continue;
    const set = holders.get(r.seatId) ?? new Set<string>();
    set.add(r.userId);
    holders.set(r.seatId, set);
  }
  const table = await data.seats(o.eventId);
  let doubleBooked = 0;
  for (const seat of table) {
    const told = holders.get(String(seat.seatId));
    if (told && (told.size > 1 || !told.has(String(seat.userId)))) doubleBooked++;
  }
  return {
    eventId: o.eventId,
    statuses: countStatuses(results.map((r) => r.res)),
    booked: table.filter((s) => s.status === 'booked').length,
    doubleBooked,
    latenciesMs,
  };
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
