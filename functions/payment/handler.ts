import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LockEventListener } from '@leasehold/core';
import { createHandler } from '../shared/handler.js';
import { errorResponse, parseJsonBody } from '../shared/http.js';
import { awsClientConfig, ConfigError, createLockerFromEnv, requireEnv } from '../shared/lock-store.js';
import type { Logger } from '../shared/logger.js';
import { DEFAULT_PROVIDER_KEY_RETENTION_MS, type PaymentDeps, pay } from './payment-service.js';
import { DynamoDbPaymentProvider } from './provider.js';
import { parsePaymentRequest } from './validate.js';

/** Dependencies from the Lambda environment (tables from the CDK stack; lock store per config). */
export async function paymentDepsFromEnv(
  env: Record<string, string | undefined> = process.env,
  onEvent?: LockEventListener,
): Promise<PaymentDeps> {
  const client = new DynamoDBClient(awsClientConfig(env));
  const db = DynamoDBDocumentClient.from(client);
  const ordersTable = requireEnv(env, 'ORDERS_TABLE_NAME');
  const chargesTable = requireEnv(env, 'CHARGES_TABLE_NAME');
  const providerKeyRetentionMs = readProviderKeyRetentionMs(env);
  const { locker, settings } = await createLockerFromEnv(env, client, onEvent);
  return {
    locker,
    db,
    ordersTable,
    provider: new DynamoDbPaymentProvider(db, chargesTable),
    lock: settings,
    providerKeyRetentionMs,
  };
}

/**
 * `PROVIDER_KEY_RETENTION_MS`: how long the payment provider keeps idempotency keys (default 24 h,
 * Stripe's); checked at cold start. Set it to your provider's (or less, never more): an attempt left
 * open longer is not resumed, but answered `409 payment_needs_reconciliation`.
 */
export function readProviderKeyRetentionMs(env: Record<string, string | undefined>): number {
  const raw = env.PROVIDER_KEY_RETENTION_MS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_PROVIDER_KEY_RETENTION_MS;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new ConfigError('PROVIDER_KEY_RETENTION_MS must be a whole number of ms, at least 1');
  }
  return ms;
}

/** Builds the `POST /payments` handler over the given dependencies (the e2e tests inject their own). */
export function createPaymentHandler(getDeps: () => Promise<PaymentDeps>, logger?: Logger) {
  return createHandler('payment', 'payment', getDeps, logger, async (deps, event, log, context) => {
    if (event.requestContext.http.method !== 'POST') {
      return errorResponse(405, 'method_not_allowed', 'use POST /payments');
    }
    const req = parsePaymentRequest(parseJsonBody(event));
    return pay(deps, req, log.child({ orderId: req.orderId }), context);
  });
}

/** The Lambda entry point: `POST /payments {orderId, amount, currency, idempotencyKey}`. */
export const handler = createPaymentHandler(() => paymentDepsFromEnv());
