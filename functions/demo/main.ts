/**
 * The main job (`npm start`): starts the embedded local stores, then for each lock store runs the
 * payment and booking storms through the real handlers — concurrent duplicate deliveries, mixed
 * idempotency keys, frozen holders — and prints a report. Exits non-zero if any invariant breaks.
 */
import type { LockEvent } from '@leasehold/core';
import { startLocalStores } from '@leasehold/local';
import { bookingDepsFromEnv, createBookingHandler } from '../booking/handler.js';
import {
  bookingStorm,
  createLocalTables,
  frozenHolderScenario,
  type Invoke,
  LocalData,
  type LockStoreKind,
  localFunctionEnv,
  localTableNames,
  paymentStorm,
  useLocalAwsEnv,
} from '../local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../payment/handler.js';
import { createLogger } from '../shared/logger.js';
import { renderReport, type StoreReport, violations } from './report.js';

const ORDERS = 5;
const DELIVERIES_PER_ORDER = 100;
const KEYS_PER_ORDER = 10;
const FROZEN_HOLDERS = 3;
const SEATS = 20;
const BOOKING_ATTEMPTS = 200;

const tty = process.stdout.isTTY === true;
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;

function progress(label: string, done: number, total: number): void {
  if (!tty) return;
  const width = 24;
  const filled = Math.round((width * done) / Math.max(1, total));
  process.stdout.write(
    `\r  ${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
  );
}

function step(label: string, detail: string): void {
  if (tty) process.stdout.write('\r\x1b[2K');
  console.log(`  ${label.padEnd(28)} ${detail}`);
}

/** Counts finished invocations for the progress bar. */
function counted(invoke: Invoke, label: string, total: number, tally: { n: number }): Invoke {
  return async (event, context) => {
    try {
      return await invoke(event, context);
    } finally {
      tally.n++;
      progress(label, tally.n, total);
    }
  };
}

async function runStore(
  store: LockStoreKind,
  env: Record<string, string>,
  data: LocalData,
): Promise<StoreReport> {
  const t0 = performance.now();
  console.log(`\n${store} lock store`);
  const events: Extract<LockEvent, { type: 'acquired' }>[] = [];
  const onEvent = (e: LockEvent) => {
    if (e.type === 'acquired') events.push(e);
  };
  const quiet = createLogger({}, 'error');
  const paymentDeps = await paymentDepsFromEnv(env, onEvent);
  const payment = createPaymentHandler(async () => paymentDeps, quiet);
  const booking = createBookingHandler(() => bookingDepsFromEnv(env, onEvent), quiet);
  const run = `${store}-${Date.now().toString(36)}`;

  const totalPayments = ORDERS * DELIVERIES_PER_ORDER;
  const tally = { n: 0 };
  const payInvoke = counted(payment, 'payment storm', totalPayments, tally);
  const storms = await Promise.all(
    Array.from({ length: ORDERS }, (_, i) =>
      paymentStorm(payInvoke, data, {
        orderId: `order-${run}-${i}`,
        deliveries: DELIVERIES_PER_ORDER,
        keys: KEYS_PER_ORDER,
      }),
    ),
  );
  step(
    'payment storm',
    `${totalPayments} invocations on ${ORDERS} orders, charges per order: ${storms.map((s) => s.charges).join(' ')}`,
  );

  const frozen = await Promise.all(
    Array.from({ length: FROZEN_HOLDERS }, (_, i) =>
      frozenHolderScenario(paymentDeps, data, `frozen-${run}-${i}`),
    ),
  );
  const rejected = frozen.filter((f) => f.staleRejected).length;
  step(
    'frozen holders',
    `${FROZEN_HOLDERS} holders paused 1.5x their lease, ${rejected} stale writes rejected by the fence`,
  );

  const bookTally = { n: 0 };
  const seats = await bookingStorm(counted(booking, 'booking storm', BOOKING_ATTEMPTS, bookTally), data, {
    eventId: `event-${run}`,
    seats: SEATS,
    attempts: BOOKING_ATTEMPTS,
  });
  step(
    'booking storm',
    `${BOOKING_ATTEMPTS} attempts on ${SEATS} seats: ${seats.booked} booked, ${seats.doubleBooked} double-booked`,
  );

  return {
    store,
    invocations: totalPayments + FROZEN_HOLDERS * 2 + BOOKING_ATTEMPTS + ORDERS,
    orders: ORDERS + FROZEN_HOLDERS,
    chargesPerOrder: [...storms.map((s) => s.charges), ...frozen.map((f) => f.charges)],
    replayMismatches: storms.filter((s) => !s.consistentReplies || !s.retryMatches).length,
    seats: SEATS,
    seatsBooked: seats.booked,
    doubleBookings: seats.doubleBooked,
    frozenHolders: FROZEN_HOLDERS,
    staleWritesRejected: rejected,
    staleWritesAccepted: frozen.filter((f) => f.staleAccepted).length,
    acquireLatenciesMs: events.map((e) => e.waitedMs),
    contendedAcquisitions: events.filter((e) => e.contended).length,
    acquisitions: events.length,
    seconds: (performance.now() - t0) / 1000,
  };
}

async function main(): Promise<number> {
  console.log(
    'Leasehold demo: payment and booking Lambda handlers under a storm, on local DynamoDB and Upstash\n',
  );
  console.log('Starting DynamoDB Local, redis-server and the Upstash-compatible endpoint on loopback...');
  const local = await startLocalStores({ services: ['dynamodb', 'upstash'] });
  try {
    const { dynamodb, upstash } = local;
    if (!dynamodb || !upstash) throw new Error('the local stores did not start');
    const endpoints = {
      dynamodb: { endpoint: dynamodb.endpoint, region: dynamodb.region, credentials: dynamodb.credentials },
      upstash: { url: upstash.url, token: upstash.token },
    };
    const tables = localTableNames('demo');
    await createLocalTables(endpoints, tables);
    useLocalAwsEnv(endpoints);
    console.log(
      `Local stores ready after ${elapsed()} (DynamoDB ${dynamodb.endpoint}, Upstash ${upstash.url})`,
    );
    const data = new LocalData(endpoints, tables);
    const reports: StoreReport[] = [];
    for (const store of ['dynamodb', 'upstash'] as const) {
      reports.push(
        await runStore(store, localFunctionEnv(endpoints, tables, store, { waitMs: 10_000 }), data),
      );
    }
    data.close();
    console.log(`\nReport (${elapsed()} in all)\n`);
    console.log(renderReport(reports));
    const broken = reports.flatMap(violations);
    console.log('');
    if (broken.length > 0) {
      for (const b of broken) console.log(`INVARIANT BROKEN: ${b}`);
      return 1;
    }
    console.log(
      'All invariants held: every order charged exactly once, no seat sold twice, every stale write fenced off.',
    );
    return 0;
  } finally {
    await local.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('demo failed:', err);
    process.exitCode = 1;
  },
);
