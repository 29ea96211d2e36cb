/**
 * Checks of the options the start functions take, run before anything is started (no process
 * spawned, no temporary directory made, no port bound).
 *
 * `undefined` always means "the default"; any other value must be valid. The errors follow Node's
 * own argument checks: a value of the wrong type, or a string or list that is not well formed, is a
 * `TypeError`; a number of the right type that is not an integer or is out of bounds is a
 * `RangeError`. Ports are the exception, as documented: anything that is not an integer from 1 to
 * 65535 is a `RangeError`. Messages say what is wrong; they never repeat a token.
 */

/** The largest timer delay Node.js keeps to (a larger one fires at once). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Checks that `value` (a start function's options) is an object, or undefined; a `TypeError` otherwise. */
export function validateOptionsObject(value: unknown, name = 'options'): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${kindOf(value)}`);
  }
}

/**
 * Checks that `port` is a valid TCP port number (1..65535), or undefined unless `required`; a
 * `RangeError` otherwise, whatever its type.
 */
export function validatePort(port: unknown, name = 'port', required = false): void {
  if (port === undefined && !required) return;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new RangeError(
      port === undefined
        ? `${name} is required: an integer between 1 and 65535`
        : `${name} must be an integer between 1 and 65535, got ${shown(port)}`,
    );
  }
}

/**
 * Checks that `value` is an integer from 1 to `max`, or undefined: a `TypeError` for a non-number, a
 * `RangeError` for a number that is not such an integer.
 */
export function validatePositiveInteger(
  value: unknown,
  name: string,
  max: number = Number.MAX_SAFE_INTEGER,
): void {
  if (value === undefined) return;
  const wanted = max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from 1 to ${max}`;
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${wanted}, got ${kindOf(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be ${wanted}, got ${String(value)}`);
  }
}

/** Checks that `value` is a start timeout in ms (an integer from 1 to 2147483647), or undefined. */
export function validateTimeoutMs(value: unknown, name = 'startTimeoutMs'): void {
  validatePositiveInteger(value, name, MAX_TIMEOUT_MS);
}

/** Checks that `value` is `true` or `false`, or undefined; a `TypeError` otherwise. */
export function validateBoolean(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be true or false, got ${kindOf(value)}`);
}

/** Checks that `value` is a string that is not empty or blank, or undefined; a `TypeError` otherwise. */
export function validateNonEmptyString(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${kindOf(value)}`);
  if (value.trim() === '') throw new TypeError(`${name} must be a non-empty string`);
}

/**
 * Checks that `token` is a non-empty string without whitespace, or undefined; a `TypeError`
 * otherwise. The message never contains the token.
 */
export function validateToken(token: unknown, name = 'token'): void {
  if (token === undefined) return;
  if (typeof token !== 'string' || token === '' || /\s/.test(token)) {
    throw new TypeError(`${name} must be a non-empty string without whitespace`);
  }
}

/**
 * Checks that `value` is a non-empty array of names from `known` (or undefined); a `TypeError`
 * otherwise. `what` names one entry in messages, e.g. `'service'`.
 */
export function validateNameList(value: unknown, known: readonly string[], name: string, what: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    throw new TypeError(`${name} must be an array of ${what} names, got ${kindOf(value)}`);
  }
  if (value.length === 0) throw new TypeError(`${name} needs at least one ${what}`);
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'string' || !known.includes(entry)) {
      throw new TypeError(`unknown ${what} ${shown(entry)}; expected one of ${known.join(', ')}`);
    }
  }
}

/** What `value` is, for messages: `a string`, `an object`, `null`, ... */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  const kind = Array.isArray(value) ? 'array' : typeof value;
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

/** `value` for a message: strings quoted, so that `"8000"` is told from `8000`. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'object' && value !== null ? kindOf(value) : String(value);
}
