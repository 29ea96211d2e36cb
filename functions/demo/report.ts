import { percentile } from '../local/storms.js';

/** What one lock store's run measured; every number comes from the handlers' answers and the tables. */
export interface StoreReport {
  readonly store: string;
  readonly invocations: number;
  readonly orders: number;
  /** Charges recorded per order: must be exactly 1 for every order. */
  readonly chargesPerOrder: number[];
  /**
   * Orders whose replays broke idempotency: a 200 for a key that did not pay, 200s with different
   * bodies, or a retry with the paying key not answered with the same body. Must be 0.
   */
  readonly replayMismatches: number;
  readonly seats: number;
  readonly seatsBooked: number;
  readonly doubleBookings: number;
  readonly frozenHolders: number;
  readonly staleWritesRejected: number;
  readonly staleWritesAccepted: number;
  readonly acquireLatenciesMs: number[];
  readonly contendedAcquisitions: number;
  readonly acquisitions: number;
  readonly seconds: number;
}

/** Every broken invariant of a run, in words; empty when the run is safe. */
export function violations(r: StoreReport): string[] {
  const out: string[] = [];
  const bad = r.chargesPerOrder.filter((c) => c !== 1).length;
  if (bad > 0)
    out.push(`${r.store}: ${bad} order(s) not charged exactly once (${r.chargesPerOrder.join(', ')})`);
  if (r.replayMismatches > 0)
    out.push(
      `${r.store}: ${r.replayMismatches} order(s) replayed inconsistently to the same idempotency key`,
    );
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
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function summarize(values: number[]): string {
  const distinct = [...new Set(values)].sort((a, b) => a - b);
  return distinct.length === 1 ? `${distinct[0]} each` : `${Math.min(...values)}..${Math.max(...values)}`;
}
