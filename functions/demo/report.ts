import { percentile } from '../local/storms.js';

/** What one lock store's run measured; every number comes from the handlers' answers and the tables. */
export interface StoreReport {
  readonly store: string;
  /** Handler invocations actually made: deliveries, client retries, frozen holders and takeovers. */
  readonly invocations: number;
  /** Orders paid in the run (storm orders and frozen-holder orders). */
  readonly orders: number;
  /** Charges recorded per order, one entry per order: must be exactly 1 for every order. */
  readonly chargesPerOrder: number[];
  /** Orders not marked paid in the orders table at the end. Must be 0. */
  readonly unpaidOrders?: number;
  /**
   * Orders whose replays broke idempotency: a 200 for a key that did not pay, 200s with different
   * bodies, or a retry with the paying key not answered with the same body. Must be 0.
   */
  readonly replayMismatches: number;
  /**
   * Final answers that are wrong though not "retry": the paying key answered other than 200, another
   * key other than 409 order_already_paid, a booking other than 200/201/409 seat_taken. Must be 0.
   */
  readonly unexpectedAnswers?: number;
  /** Requests whose last answer still said "retry" after the client's retries (shown, not an invariant). */
  readonly unsettledAnswers?: number;
  readonly seats: number;
  readonly seatsBooked: number;
  readonly doubleBookings: number;
  readonly frozenHolders: number;
  readonly staleWritesRejected: number;
  readonly staleWritesAccepted: number;
  readonly acquireLatenciesMs: number[];
  readonly contendedAcquisitions: number;
  readonly acquisitions: number;
  /**
   * Store requests that found the key held by another Lambda instance's lease, in the payment and
   * the booking storm: 0 would mean the storm never made the lock store arbitrate.
   */
  readonly storeContention?: { readonly payment: number; readonly booking: number };
  readonly seconds: number;
}

/**
 * What the demo builds: a report with every measurement. (The later fields are optional in
 * {@link StoreReport} only so that reports written before them still type-check.)
 */
export type RunReport = StoreReport &
  Required<Pick<StoreReport, 'unpaidOrders' | 'unexpectedAnswers' | 'unsettledAnswers' | 'storeContention'>>;

/** Every broken invariant of a run, in words; empty when the run is safe. */
export function violations(r: StoreReport): string[] {
  const out: string[] = [];
  // What the run must have exercised: otherwise "every order charged once" would hold vacuously.
  if (r.orders < 1 || r.chargesPerOrder.length !== r.orders)
    out.push(`${r.store}: charges checked for ${r.chargesPerOrder.length} of ${r.orders} order(s)`);
  if (r.frozenHolders < 1) out.push(`${r.store}: no frozen holder ran, so no stale write was tried`);
  if (r.seats < 1) out.push(`${r.store}: no seats were put up for booking`);
  if (r.storeContention && r.storeContention.payment < 1)
    out.push(`${r.store}: the payment storm never contended in the lock store`);
  if (r.storeContention && r.storeContention.booking < 1)
    out.push(`${r.store}: the booking storm never contended in the lock store`);
  const bad = r.chargesPerOrder.filter((c) => c !== 1).length;
  if (bad > 0)
    out.push(`${r.store}: ${bad} order(s) not charged exactly once (${r.chargesPerOrder.join(', ')})`);
  if ((r.unpaidOrders ?? 0) > 0) out.push(`${r.store}: ${r.unpaidOrders} order(s) not marked paid`);
  if (r.replayMismatches > 0)
    out.push(
      `${r.store}: ${r.replayMismatches} order(s) replayed inconsistently to the same idempotency key`,
    );
  if ((r.unexpectedAnswers ?? 0) > 0)
    out.push(`${r.store}: ${r.unexpectedAnswers} wrong answer(s) to clients`);
  if (r.doubleBookings > 0) out.push(`${r.store}: ${r.doubleBookings} seat(s) double-booked`);
  if (r.seatsBooked !== r.seats) out.push(`${r.store}: ${r.seatsBooked} of ${r.seats} seats booked`);
  if (r.staleWritesAccepted > 0) out.push(`${r.store}: ${r.staleWritesAccepted} stale write(s) accepted`);
  if (r.staleWritesRejected !== r.frozenHolders) {
    out.push(
      `${r.store}: ${r.staleWritesRejected} of ${r.frozenHolders} frozen holders' writes rejected by fencing`,
    );
  }
  return out;
}

export function renderReport(reports: StoreReport[]): string {
  const header = [
    'lock store',
    'invocations',
    'orders',
    'charges/order',
    'seats booked',
    'double bookings',
    'stale writes rejected',
    'acquire p50',
    'acquire p99',
    'contention',
    'time',
  ];
  const rows = reports.map((r) => [
    r.store,
    String(r.invocations),
    String(r.orders),
    summarize(r.chargesPerOrder),
    `${r.seatsBooked}/${r.seats}`,
    String(r.doubleBookings),
    `${r.staleWritesRejected}/${r.frozenHolders}`,
    `${percentile(r.acquireLatenciesMs, 50).toFixed(0)} ms`,
    `${percentile(r.acquireLatenciesMs, 99).toFixed(0)} ms`,
    `${((100 * r.contendedAcquisitions) / Math.max(1, r.acquisitions)).toFixed(0)}%`,
    `${r.seconds.toFixed(1)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** "1 each" only when every order was checked and each had the same count; "none" for no orders. */
export function summarize(values: number[]): string {
  if (values.length === 0) return 'none';
  const distinct = [...new Set(values)].sort((a, b) => a - b);
  return distinct.length === 1 ? `${distinct[0]} each` : `${Math.min(...values)}..${Math.max(...values)}`;
}
