import { InvalidArgumentError } from './errors.js';

/**
 * Longest lock key accepted, in UTF-8 bytes (DynamoDB allows 2048 for a partition key; leave room).
 *
 * @example
 * ```ts
 * const key = `order:${id}`.slice(0, MAX_KEY_BYTES); // or hash long natural keys
 * ```
 */
export const MAX_KEY_BYTES = 1024;
/**
 * Shortest lease accepted, in ms: below this the drift allowance and one round trip eat the lease.
 *
 * @example
 * ```ts
 * await locker.acquire('k', { ttlMs: Math.max(MIN_TTL_MS, budgetMs) });
 * ```
 */
export const MIN_TTL_MS = 100;
/**
 * Longest lease or wait accepted in one call, in ms: one day. Longer work extends its lease.
 *
 * @example
 * ```ts
 * await locker.acquire('k', { waitMs: Math.min(MAX_DURATION_MS, requestedMs) });
 * ```
 */
export const MAX_DURATION_MS = 86_400_000;

const encoder = new TextEncoder();

export function validateKey(key: unknown): string {
  if (typeof key !== 'string')
    throw new InvalidArgumentError('key', `must be a string, got ${typeName(key)}`);
  if (key.length === 0) throw new InvalidArgumentError('key', 'must be a non-empty string');
  const bytes = encoder.encode(key).length;
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError('key', `is ${bytes} bytes of UTF-8; the limit is ${MAX_KEY_BYTES}`);
  }
  return key;
}

/** Validates a whole number of milliseconds within [min, MAX_DURATION_MS]. */
export function validateMs(name: string, value: unknown, min: number): number {
  // One check and one message (it names the range and what was given): fewer bytes in every bundle.
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > MAX_DURATION_MS) {
    throw new InvalidArgumentError(
      name,
      `must be a whole number of milliseconds, at least ${min} ms and at most ${MAX_DURATION_MS} ms (one day), got ${typeof value === 'number' ? value : typeName(value)}`,
    );
  }
  return value as number;
}

export function validateSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function'
  ) {
    throw new InvalidArgumentError('signal', `must be an AbortSignal, got ${typeName(signal)}`);
  }
  return signal as AbortSignal;
}

/**
 * The part of the AWS Lambda context Leasehold uses: waits, leases and extensions never outlive the
 * invocation.
 *
 * @example
 * ```ts
 * export const handler = (event, context: InvocationContext) =>
 *   locker.withLock('k', work, { context });
 * ```
 */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

export function validateContext(context: unknown): InvocationContext | undefined {
  if (context === undefined) return undefined;
  const c = context as Partial<InvocationContext> | null;
  if (c === null || typeof c !== 'object' || typeof c.getRemainingTimeInMillis !== 'function') {
    throw new InvalidArgumentError('context', 'must be a Lambda context with getRemainingTimeInMillis()');
  }
  return context as InvocationContext;
}

export function validateOptionsObject(name: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== 'object')) {
    throw new InvalidArgumentError(name, `must be an object, got ${typeName(value)}`);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
