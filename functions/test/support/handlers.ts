import type { BookingDeps } from '../../booking/booking-service.js';
import { bookingDepsFromEnv, createBookingHandler } from '../../booking/handler.js';
import { httpEvent, type LockStoreKind } from '../../local/index.js';
import { createPaymentHandler, paymentDepsFromEnv } from '../../payment/handler.js';
import type { PaymentDeps } from '../../payment/payment-service.js';
import type { LockSettings } from '../../shared/lock-store.js';
import type { Logger } from '../../shared/logger.js';
import { quiet, type TestSetup } from './local-setup.js';

/** How a test builds a handler on its local setup, beyond what `wrap` changes in the deps. */
export interface HandlerOptions {
  /** Lock settings laid over those read from the environment. */
  readonly lock?: Partial<LockSettings>;
  /** The lock store (default DynamoDB). */
  readonly store?: LockStoreKind;
  /** Variables laid over the function's environment. */
  readonly env?: Record<string, string>;
  /** The handler's logger (default {@link quiet}). */
  readonly logger?: Logger;
}

const functionEnv = (setup: TestSetup, { store, env }: HandlerOptions) => ({
  ...setup.functionEnv(store),
  ...env,
});

/**
 * The payment handler on `setup`'s tables, its deps read from the function's environment as on Lambda,
 * then changed by `wrap` (a fault-injecting db, a test provider), then given `options.lock`.
 */
export function paymentHandlerOn(
  setup: TestSetup,
  wrap: (deps: PaymentDeps) => PaymentDeps = (d) => d,
  options: HandlerOptions = {},
) {
  return createPaymentHandler(async () => {
    const deps = wrap(await paymentDepsFromEnv(functionEnv(setup, options)));
    return { ...deps, lock: { ...deps.lock, ...options.lock } };
  }, options.logger ?? quiet);
}

/**
 * The booking handler on `setup`'s tables, its deps read from the function's environment as on Lambda,
 * given `options.lock`, then changed by `wrap` (a fault-injecting db, say).
 */
export function bookingHandlerOn(
  setup: TestSetup,
  wrap: (deps: BookingDeps) => BookingDeps = (d) => d,
  options: HandlerOptions = {},
) {
  return createBookingHandler(async () => {
    const deps = await bookingDepsFromEnv(functionEnv(setup, options));
    return wrap({ ...deps, lock: { ...deps.lock, ...options.lock } });
  }, options.logger ?? quiet);
}

/** `POST /payments` for `orderId` with `idempotencyKey`, of `amount` (default 1 000) EUR. */
export const payEvent = (orderId: string, idempotencyKey: string, amount = 1_000) =>
  httpEvent('POST', '/payments', 'POST /payments', { orderId, amount, currency: 'EUR', idempotencyKey });

/** `POST /bookings` of seat `seatId` at `eventId` for `userId`. */
export const bookEvent = (eventId: string, seatId: string, userId: string) =>
  httpEvent('POST', '/bookings', 'POST /bookings', { eventId, seatId, userId });
