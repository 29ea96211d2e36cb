import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createLocker,
  type LockEventListener,
  type Locker,
  type LockStore,
  MAX_DURATION_MS,
  MIN_TTL_MS,
} from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
import { upstashStore } from '@leasehold/upstash';

/** Which lock store a function uses, read from its environment. */
export type LockStoreConfig =
  | { readonly kind: 'dynamodb'; readonly tableName: string }
  | { readonly kind: 'upstash'; readonly url: string; readonly token: string }
  | { readonly kind: 'upstash'; readonly url: string; readonly tokenSecretId: string };

/** A configuration mistake: the function cannot start. The message names the variable, never a value. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * DynamoDB by default; Upstash when `UPSTASH_REDIS_REST_URL` and a token (`UPSTASH_REDIS_REST_TOKEN`,
 * or `UPSTASH_TOKEN_SECRET_ID`, the Secrets Manager secret's name or complete ARN) are configured. `LOCK_STORE` forces a choice.
 */
export function readLockStoreConfig(env: Record<string, string | undefined>): LockStoreConfig {
  const forced = env.LOCK_STORE?.trim().toLowerCase();
  if (forced !== undefined && forced !== '' && forced !== 'dynamodb' && forced !== 'upstash') {
    throw new ConfigError('LOCK_STORE must be "dynamodb" or "upstash"');
  }
  const url = env.UPSTASH_REDIS_REST_URL?.trim();
  const token = env.UPSTASH_REDIS_REST_TOKEN?.trim();
  const tokenSecretId = env.UPSTASH_TOKEN_SECRET_ID?.trim();
  const upstashConfigured = Boolean(url) && Boolean(token || tokenSecretId);
  if (forced === 'upstash' || (forced !== 'dynamodb' && upstashConfigured)) {
    if (!url) throw new ConfigError('UPSTASH_REDIS_REST_URL is required for the upstash lock store');
    if (token) return { kind: 'upstash', url, token };
    if (tokenSecretId) return { kind: 'upstash', url, tokenSecretId };
    throw new ConfigError(
      'UPSTASH_REDIS_REST_TOKEN or UPSTASH_TOKEN_SECRET_ID is required for the upstash lock store',
    );
  }
  const tableName = env.LOCK_TABLE_NAME?.trim();
  if (!tableName) throw new ConfigError('LOCK_TABLE_NAME is required for the dynamodb lock store');
  return { kind: 'dynamodb', tableName };
}

/**
 * Builds the store; reads the Upstash token from Secrets Manager once, at cold start, if so configured
 * (with the request bounds of `awsConfig`).
 * Lock calls are bounded by `requestTimeoutMs` (neither the AWS SDK nor fetch sets a short request
 * timeout by default: a call into a network black hole would hold the invocation until the Lambda's own
 * timeout).
 */
export async function createLockStore(
  config: LockStoreConfig,
  dynamodb: DynamoDBClient,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  awsConfig: AwsClientConfig = awsClientConfig({}),
): Promise<LockStore> {
  if (config.kind === 'dynamodb') {
    return dynamoDbStore({ client: dynamodb, tableName: config.tableName, requestTimeoutMs });
  }
  if ('token' in config) return upstashStore({ url: config.url, token: config.token, requestTimeoutMs });
  const secret = await new SecretsManagerClient(awsConfig).send(
    new GetSecretValueCommand({ SecretId: config.tokenSecretId }),
  );
  const token = secret.SecretString?.trim();
  if (!token) throw new ConfigError('the Upstash token secret is empty');
  return upstashStore({ url: config.url, token, requestTimeoutMs });
}

/** Default bound of one lock store call, the client's retries included (`LOCK_REQUEST_TIMEOUT_MS`). */
const DEFAULT_REQUEST_TIMEOUT_MS = 3_000;

/** Default bound of each attempt of the functions' own AWS SDK calls (`SDK_REQUEST_TIMEOUT_MS`). */
const DEFAULT_SDK_REQUEST_TIMEOUT_MS = 1_000;

/**
 * Attempts of each of the functions' own AWS SDK calls, set explicitly: the SDK's default depends on the
 * service and the SDK version (DynamoDB's is 4 in the bundled version, Secrets Manager's 3), and the
 * stack derives the Lambda timeout from this number (infra/lib/examples-stack.ts, `SDK_MAX_ATTEMPTS`).
 */
export const SDK_MAX_ATTEMPTS = 3;

/** The part of an AWS SDK client's configuration that bounds its requests. */
export interface AwsClientConfig {
  readonly maxAttempts: number;
  readonly requestHandler: { readonly connectionTimeout: number; readonly socketTimeout: number };
}

/**
 * Bounds for the AWS SDK clients the functions create themselves (DynamoDB: the orders, charges and
 * seats tables and the DynamoDB lock table; Secrets Manager). The SDK sets none by default: a request
 * into a network black hole, or a connection that stops answering, would hold the invocation until the
 * Lambda's own timeout. Each attempt fails after `SDK_REQUEST_TIMEOUT_MS` without a byte of the answer
 * on a connected socket (three times that without a connection); the SDK retries it
 * ({@link SDK_MAX_ATTEMPTS} attempts in all), then the call fails and the request answers 500 (safe to retry with the same input), or,
 * once a payment's charge was sent, `503 payment_outcome_unknown` (retry with the same idempotency key).
 */
export function awsClientConfig(env: Record<string, string | undefined>): AwsClientConfig {
  const raw = env.SDK_REQUEST_TIMEOUT_MS;
  let ms = DEFAULT_SDK_REQUEST_TIMEOUT_MS;
  if (raw !== undefined && raw !== '') {
    ms = Number(raw);
    if (!Number.isInteger(ms) || ms < 1 || ms > MAX_DURATION_MS)
      throw new ConfigError(
        `SDK_REQUEST_TIMEOUT_MS must be a whole number of ms from 1 to ${MAX_DURATION_MS}`,
      );
  }
  // Connecting gets three times as long: the time a request waits for a free socket counts against it
  // (a process sending many calls at once queues them, 50 sockets by default).
  return { maxAttempts: SDK_MAX_ATTEMPTS, requestHandler: { connectionTimeout: 3 * ms, socketTimeout: ms } };
}

/** Lease settings of the example functions; the e2e tests shorten them to provoke takeovers. */
export interface LockSettings {
  readonly ttlMs: number;
  readonly waitMs: number;
  /** Bound of one lock store call in ms, then a `StoreError` of kind `timeout` (a 503); read by the store. */
  readonly requestTimeoutMs?: number;
  /** How often withLock extends; undefined = a third of the TTL. */
  readonly extendEveryMs?: number;
}

export function readLockSettings(env: Record<string, string | undefined>): LockSettings {
  // Core's own bounds, checked at cold start: out of them, core would refuse every request instead.
  const int = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > MAX_DURATION_MS)
      throw new ConfigError(`${name} must be a whole number of ms from ${min} to ${MAX_DURATION_MS}`);
    return n;
  };
  return {
    ttlMs: int('LOCK_TTL_MS', 10_000, MIN_TTL_MS),
    // 0: one attempt, no waiting.
    waitMs: int('LOCK_WAIT_MS', 3_000, 0),
    requestTimeoutMs: int('LOCK_REQUEST_TIMEOUT_MS', DEFAULT_REQUEST_TIMEOUT_MS, 1),
  };
}

export async function createLockerFromEnv(
  env: Record<string, string | undefined>,
  dynamodb: DynamoDBClient,
  onEvent?: LockEventListener,
): Promise<{ locker: Locker; store: LockStoreConfig['kind']; settings: LockSettings }> {
  const config = readLockStoreConfig(env);
  const settings = readLockSettings(env);
  const store = await createLockStore(config, dynamodb, settings.requestTimeoutMs, awsClientConfig(env));
  const locker = createLocker({
    store,
    ttlMs: settings.ttlMs,
    waitMs: settings.waitMs,
    ...(onEvent === undefined ? {} : { onEvent }),
  });
  return { locker, store: config.kind, settings };
}

export function requireEnv(env: Record<string, string | undefined>, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`${name} is required`);
  return value;
}
