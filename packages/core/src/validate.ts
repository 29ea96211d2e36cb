import { InvalidArgumentError } from './errors.js';

/**
 * Longest lock key accepted, in UTF-8 bytes (DynamoDB allows 2048 for a partition key; leave room).
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode(naturalKey).length;
 * const key = bytes <= MAX_KEY_BYTES ? naturalKey : `sha256:${await sha256Hex(naturalKey)}`;
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

/** What a "got …" in a message names: a number itself, else its type (null and arrays told apart). */
const describe = (value: unknown): unknown =>
  typeof value === 'number'
    ? value
    : value === null
      ? 'null'
      : Array.isArray(value)
        ? 'an array'
        : typeof value;

/**
 * Throws the InvalidArgumentError "`argument`: must be `what`, got `value`". Every check words its
 * message this way, so the words are written once in every bundle.
 */
export function invalid(argument: string, what: string, value: unknown): never {
  throw new InvalidArgumentError(argument, `must be ${what}, got ${describe(value)}`);
}

export const validateKey = (key: unknown): void => {
  if (typeof key !== 'string') invalid('key', 'a string', key);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short keys need no encoding. One check for the empty key
  // too: "got 0" says what is wrong.
  const bytes = key.length * 3 > MAX_KEY_BYTES ? encoder.encode(key).length : key.length && 1;
  if (!bytes || bytes > MAX_KEY_BYTES) invalid('key', `1 to ${MAX_KEY_BYTES} UTF-8 bytes`, bytes);
  // A lone surrogate has no UTF-8 form: stores would write U+FFFD instead, and keys that differ only
  // there would be one lock. Counted, not the key itself: "got string" would read as the wrong type.
  const lone = key.match(/\p{Cs}/gu)?.length;
  if (lone) invalid('key', 'free of lone surrogates (well-formed Unicode)', lone);
};

/** Validates a whole number of milliseconds within [min, MAX_DURATION_MS]. */
export const validateMs = (name: string, value: unknown, min: number, minName?: string): number => {
  // One check and one message (it names the range and what was given): fewer bytes in every bundle.
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > MAX_DURATION_MS) {
    invalid(
      name,
      `an integer from ${min}${minName ? ` (${minName})` : ''} to ${MAX_DURATION_MS} ms (one day)`,
      value,
    );
  }
  return value as number;
};

/**
 * Checks an argument: `value` if `ok(value)` holds, or if it is undefined and not `required`; else
 * throws the InvalidArgumentError "`name`: must be `what`, got …".
 */
export const check = <T>(
  name: string,
  value: unknown,
  what: string,
  ok: (value: unknown) => boolean,
  required?: boolean,
): T => {
  if ((required || value !== undefined) && !ok(value)) invalid(name, what, value);
  return value as T;
};

/**
 * An object, not null. Objects are checked by duck typing, so that any realm's or runtime's objects
 * (AbortSignals, Lambda contexts) pass.
 */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

export const isFunction = (value: unknown): value is (...args: never[]) => unknown =>
  typeof value === 'function';

/**
 * The part of the AWS Lambda context Leasehold uses: waits, leases and extensions never outlive the
 * invocation.
 *
 * @example
 * ```ts
 * export const handler = (event: unknown, context: InvocationContext) =>
 *   locker.withLock('k', work, { context });
 * ```
 */
export interface InvocationContext {
  /** Milliseconds left before the invocation times out; read once per call, at its start. */
  getRemainingTimeInMillis(): number;
}
