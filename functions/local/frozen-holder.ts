import { createPaymentHandler } from '../payment/handler.js';
import type { PaymentDeps } from '../payment/payment-service.js';
import type { PaymentProvider } from '../payment/provider.js';
import type { HttpResult } from '../shared/http.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { LocalData } from './environment.js';
import { httpEvent, lambdaContext } from './events.js';

export interface FrozenHolderResult {
  readonly orderId: string;
  /** The paused holder's answer (it learns the truth from the order after the fence stopped it). */
  readonly frozen: HttpResult;
  /** The answer of the request that took over. */
  readonly takeover: HttpResult;
  /** The paused holder's "mark paid" was refused with STALE_TOKEN. */
  readonly staleRejected: boolean;
  /** The paused holder's "mark paid" went through: must never happen. */
  readonly staleAccepted: boolean;
  readonly charges: number;
  readonly order: Record<string, unknown> | undefined;
  readonly keys: { readonly frozen: string; readonly takeover: string };
}

export interface FrozenHolderOptions {
  /**
   * The deps of the request that takes over: another Lambda instance's (its own locker, so the lock
   * store arbitrates). Default: the frozen holder's.
   */
  readonly takeoverDeps?: PaymentDeps;
  /** Builds the handlers (default: the payment handler's source; the demo passes its bundle's). */
  readonly createHandler?: typeof createPaymentHandler;
  /** The taking-over handler's logger (default: errors only, to stdout). */
  readonly logger?: Logger;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A payment holder freezes past its lease — a GC pause or a frozen Lambda: no auto-extension, and its
 * provider call stalls 1.5x the TTL. Another request takes the lock over, finishes the recorded charge
 * attempt and marks the order paid. When the frozen holder wakes, its fenced "mark paid" must be
 * rejected, and the order must have been charged exactly once.
 */
export async function frozenHolderScenario(
  deps: PaymentDeps,
  data: LocalData,
  orderId: string,
  ttlMs = 400,
  options: FrozenHolderOptions = {},
): Promise<FrozenHolderResult> {
  const createHandler = options.createHandler ?? createPaymentHandler;
  const takeoverDeps = options.takeoverDeps ?? deps;
  await data.seedOrder(orderId, 990, 'EUR');
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ service: 'payment-frozen' }, 'debug', (line) => lines.push(JSON.parse(line)));
  let frozen = true;
  const stalling: PaymentProvider = {
    async charge(request) {
      if (frozen) {
        frozen = false;
        await sleep(ttlMs * 1.5);
      }
      return deps.provider.charge(request);
    },
  };
  const lock = { ttlMs, waitMs: Math.max(5_000, ttlMs * 10) };
  const paused = createHandler(
    async () => ({ ...deps, provider: stalling, lock: { ...lock, extendEveryMs: 60_000 } }),
    logger,
  );
  const other = createHandler(
    async () => ({ ...takeoverDeps, lock }),
    options.logger ?? createLogger({}, 'error'),
  );
  const keys = { frozen: `${orderId}-key-frozen`, takeover: `${orderId}-key-takeover` };
  const body = (idempotencyKey: string) => ({ orderId, amount: 990, currency: 'EUR', idempotencyKey });
  const first = paused(httpEvent('POST', '/payments', 'POST /payments', body(keys.frozen)), lambdaContext());
  await sleep(Math.min(50, ttlMs / 4));
  const takeover = await other(
    httpEvent('POST', '/payments', 'POST /payments', body(keys.takeover)),
    lambdaContext(),
  );
  const frozenAnswer = await first;
  const rejection = lines.find((l) => l.msg === 'payment lease lost; answering from the order state');
  return {
    orderId,
    frozen: frozenAnswer,
    takeover,
    staleRejected: (rejection?.error as { code?: string } | undefined)?.code === 'STALE_TOKEN',
    staleAccepted: lines.some((l) => l.msg === 'order paid'),
    charges: (await data.chargesFor(orderId)).length,
    order: await data.order(orderId),
    keys,
  };
}
