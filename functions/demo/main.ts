/**
 * The main job (`npm start`): bundles the payment and booking handlers (as the CDK stack does), starts
 * the embedded local stores, then for each lock store runs the payment and booking storms through the
 * bundled handlers on several simulated Lambda instances (each its own locker and clients, so the lock
 * store arbitrates between them) — concurrent duplicate deliveries, mixed idempotency keys, client
 * retries, frozen holders — and prints a report. Exits non-zero if any invariant breaks.
 */
import type { LockEvent } from '@leasehold/core';
import { startLocalStores } from '@leasehold/local';
import type { BookingDeps } from '../booking/booking-service.js';
import {
  type BundledHandlers,
  bookingStorm,
  createLocalTables,
  frozenHolderScenario,
  type Invoke,
  importBundledHandlers,
  LocalData,
  type LockStoreKind,
  localFunctionEnv,
  localTableNames,
  paymentStorm,
  useLocalAwsEnv,
} from '../local/index.js';
import type { PaymentDeps } from '../payment/payment-service.js';
import { createLogger } from '../shared/logger.js';
import { type RunReport, renderReport, violations } from './report.js';

const ORDERS = 5;
const DELIVERIES_PER_ORDER = 100;
const KEYS_PER_ORDER = 10;
const FROZEN_HOLDERS = 3;
const SEATS = 20;
const BOOKING_ATTEMPTS = 200;
/** Warm Lambda instances per function: invocations are spread over them. */
const INSTANCES = 10;
/** How often a client sends a request again after an answer that says "retry" (500, 503, 409 in progress). */
const CLIENT_RETRIES = 5;

// Each bundle carries its own copy of the AWS SDK, and each copy warns once (Node 20 support ends):
// print each warning once.
const warned = new Set<string>();
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : `${warning.name}: ${warning.message}`;
  if (warned.has(text)) return;
  warned.add(text);
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;

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

/** Error lines the handlers logged, counted by error name: shown, never dropped silently. */
class ErrorTally {
  readonly counts = new Map<string, number>();
  readonly logger = createLogger({}, 'error', (line) => {
    const parsed = JSON.parse(line) as { msg?: string; error?: { name?: string } };
    const name = `${parsed.msg ?? 'error'}${parsed.error?.name ? ` (${parsed.error.name})` : ''}`;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  });

  summary(): string {
    return [...this.counts].map(([name, n]) => `${n}x ${name}`).join(', ');
  }
}

/** Spreads invocations over the instances' handlers in turn. */
function roundRobin(handlers: Invoke[]): Invoke {
  let next = 0;
  return (event, context) => handlers[next++ % handlers.length]!(event, context);
}

async function runStore(
  store: LockStoreKind,
  env: Record<string, string>,
  data: LocalData,
  bundles: BundledHandlers,
): Promise<RunReport> {
  const t0 = performance.now();
  console.log(`\n${store} lock store`);
  type Phase = 'payment' | 'frozen' | 'booking';
  let phase: Phase = 'payment';
  const events: Extract<LockEvent, { type: 'acquired' }>[] = [];
  const storeContention: Record<Phase, number> = { payment: 0, frozen: 0, booking: 0 };
  const onEvent = (e: LockEvent) => {
    if (e.type === 'acquired') events.push(e);
    // A store request that found the key held by another instance's lease: the store arbitrated.
    if (e.type === 'contended') storeContention[phase]++;
  };
  const errors = new ErrorTally();
  const { createPaymentHandler, paymentDepsFromEnv } = bundles.payment;
  const { createBookingHandler, bookingDepsFromEnv } = bundles.booking;
  const paymentInstances: PaymentDeps[] = [];
  const bookingInstances: BookingDeps[] = [];
  try {
    for (let i = 0; i < INSTANCES; i++) {
      paymentInstances.push(await paymentDepsFromEnv(env, onEvent));
      bookingInstances.push(await bookingDepsFromEnv(env, onEvent));
    }
    const payment = roundRobin(
      paymentInstances.map((deps) => createPaymentHandler(async () => deps, errors.logger)),
    );
    const booking = roundRobin(
      bookingInstances.map((deps) => createBookingHandler(async () => deps, errors.logger)),
    );
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
          retries: CLIENT_RETRIES,
        }),
      ),
    );
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const paymentInvocations = sum(storms.map((s) => s.invocations));
    const paymentRetried = sum(storms.map((s) => s.retried));
    step(
      'payment storm',
      `${totalPayments} deliveries on ${ORDERS} orders (${paymentInvocations} invocations, ${paymentRetried} retried) ` +
        `over ${INSTANCES} instances, ${storeContention.payment} store refusals, charges per order: ${storms.map((s) => s.charges).join(' ')}`,
    );

    phase = 'frozen';
    const frozen = await Promise.all(
      Array.from({ length: FROZEN_HOLDERS }, (_, i) =>
        frozenHolderScenario(paymentInstances[0]!, data, `frozen-${run}-${i}`, 400, {
          takeoverDeps: paymentInstances[1]!,
          createHandler: createPaymentHandler,
          logger: errors.logger,
        }),
      ),
    );
    const rejected = frozen.filter((f) => f.staleRejected).length;
    step(
      'frozen holders',
      `${frozen.length} holders paused 1.5x their lease while another instance took over, ${rejected} stale writes rejected by the fence`,
    );

    phase = 'booking';
    const bookTally = { n: 0 };
    const seats = await bookingStorm(counted(booking, 'booking storm', BOOKING_ATTEMPTS, bookTally), data, {
      eventId: `event-${run}`,
      seats: SEATS,
      attempts: BOOKING_ATTEMPTS,
      retries: CLIENT_RETRIES,
    });
    step(
      'booking storm',
      `${BOOKING_ATTEMPTS} attempts on ${SEATS} seats (${seats.invocations} invocations, ${seats.retried} retried), ` +
        `${storeContention.booking} store refusals: ${seats.booked} booked, ${seats.doubleBooked} double-booked`,
    );
    if (errors.counts.size > 0) step('errors (answered, retried)', errors.summary());

    return {
      store,
      invocations: paymentInvocations + frozen.length * 2 + seats.invocations,
      orders: storms.length + frozen.length,
      chargesPerOrder: [...storms.map((s) => s.charges), ...frozen.map((f) => f.charges)],
      unpaidOrders: [...storms.map((s) => s.orderStatus), ...frozen.map((f) => f.order?.status)].filter(
        (status) => status !== 'paid',
      ).length,
      replayMismatches: storms.filter((s) => !s.consistentReplies || !s.retryMatches).length,
      unexpectedAnswers: sum(storms.map((s) => s.unexpectedAnswers)) + seats.unexpectedAnswers,
      unsettledAnswers: sum(storms.map((s) => s.unsettled)) + seats.unsettled,
      seats: SEATS,
      seatsBooked: seats.booked,
      doubleBookings: seats.doubleBooked,
      frozenHolders: frozen.length,
      staleWritesRejected: rejected,
      staleWritesAccepted: frozen.filter((f) => f.staleAccepted).length,
      acquireLatenciesMs: events.map((e) => e.waitedMs),
      contendedAcquisitions: events.filter((e) => e.contended).length,
      acquisitions: events.length,
      storeContention: { payment: storeContention.payment, booking: storeContention.booking },
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const deps of [...paymentInstances, ...bookingInstances]) deps.db.destroy();
  }
}

async function main(): Promise<number> {
  console.log(
    'Leasehold demo: payment and booking Lambda handlers under a storm, on local DynamoDB and Upstash\n',
  );
  const bundles = await importBundledHandlers();
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
  console.log(
    `Bundled the handlers with esbuild as the CDK stack does (payment ${kb(bundles.bytes.payment)}, booking ${kb(bundles.bytes.booking)}); running the bundles`,
  );
  console.log('Starting DynamoDB Local, redis-server and the Upstash-compatible endpoint on loopback...');
  const local = await startLocalStores({ services: ['dynamodb', 'upstash'] });
  let data: LocalData | undefined;
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
    data = new LocalData(endpoints, tables);
    const reports: RunReport[] = [];
    for (const store of ['dynamodb', 'upstash'] as const) {
      reports.push(
        await runStore(store, localFunctionEnv(endpoints, tables, store, { waitMs: 10_000 }), data, bundles),
      );
    }
    console.log(`\nReport (${elapsed()} in all)\n`);
    console.log(renderReport(reports));
    const unsettled = reports.reduce((n, r) => n + r.unsettledAnswers, 0);
    if (unsettled > 0)
      console.log(`\n${unsettled} request(s) still answered "retry" after ${CLIENT_RETRIES} client retries`);
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
    data?.close();
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
