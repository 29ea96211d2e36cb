import { StoreError, type StoreErrorKind } from '@leasehold/core';

/**
 * Where a failed DynamoDB call came from; used to write an actionable message.
 *
 * @example
 * ```ts
 * const context: ErrorContext = { operation: 'acquire', tableName: 'leasehold-locks', secrets: [owner] };
 * ```
 */
export interface ErrorContext {
  /** The store operation or helper, e.g. `'acquire'` or `'createLockTable'`. */
  readonly operation: string;
  readonly tableName: string;
  /** Strings that must never appear in a message (owner ids, nonces); replaced by `<redacted>`. */
  readonly secrets?: readonly string[];
  /** True when the store's own `requestTimeoutMs` ran out: a `'timeout'`, whatever the SDK threw. */
  readonly timedOut?: boolean | undefined;
}

// Error names and system codes by what they mean. Regular expressions rather than sets of strings:
// the same names in a third of the bytes. An optional `Exception` suffix is accepted where AWS uses
// both spellings (harmless for the others).
const TABLE_MISSING = /^(ResourceNotFound|TableNotFound)Exception$/;
// Credentials that are missing, rejected or not allowed (AccessDenied, NotAuthorized).
const BAD_CREDENTIALS =
  /^(UnrecognizedClient|(Invalid|Incomplete)Signature|SignatureDoesNotMatch|ExpiredToken|Invalid(ClientTokenId|AccessKeyId)|MissingAuthenticationToken|RequestExpired|AccessDenied|NotAuthorized)(Exception)?$|^(Credentials|Token)ProviderError$/;
const THROTTLED =
  /^(ProvisionedThroughputExceeded|Throttling|Request(Throttled|LimitExceeded)|TooManyRequests|LimitExceeded|SlowDown)(Exception)?$|^ThrottledException$/;
const TIMEOUT =
  /^(TimeoutError|RequestTimeout(Exception)?|E(SOCKET)?TIMEDOUT|UND_ERR_(CONNECT|HEADERS)_TIMEOUT)$/;
const UNREACHABLE =
  /^(ECONN(REFUSED|RESET|ABORTED)|ENOTFOUND|EAI_AGAIN|EPIPE|EHOST(UNREACH|DOWN)|ENET(UNREACH|DOWN)|EPROTO|ERR_SOCKET_CONNECTION_TIMEOUT|UND_ERR_SOCKET|ERR_HTTP2_(STREAM_ERROR|SESSION_ERROR|GOAWAY_SESSION))$/;

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: { throttling?: unknown };
}

/**
 * True when `err` is DynamoDB's `ConditionalCheckFailedException` (matched by name, so it works across
 * copies of the SDK).
 *
 * @example
 * ```ts
 * try { await client.send(command); } catch (err) { if (isConditionalCheckFailed(err)) return err.Item; }
 * ```
 */
export function isConditionalCheckFailed(
  err: unknown,
): err is Error & { name: 'ConditionalCheckFailedException'; Item?: Record<string, unknown> } {
  return (err as ErrorLike | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * Classify a failed DynamoDB call as a {@link StoreError} whose message says what to do. The original
 * error is kept as `cause`; messages never contain owner ids (pass them in `context.secrets`).
 *
 * Internal: exported from this module for tests, not from the package.
 *
 * @example
 * ```ts
 * try { await client.send(command); } catch (err) { throw toStoreError(err, { operation: 'acquire', tableName }); }
 * ```
 */
export function toStoreError(err: unknown, context: ErrorContext): StoreError {
  if (err instanceof StoreError) return err;
  const { operation, tableName, secrets = [] } = context;

  // The names and codes of the error, its `cause` chain and (for `AggregateError`) its members, a few
  // levels deep at most (chains can be cyclic). Signals that are not names count as the name they mean.
  const ids = context.timedOut ? ['TimeoutError'] : [];
  const visit = (e: unknown, depth: number): void => {
    if (depth > 5 || typeof e !== 'object' || e === null) return;
    const { name, code, errors, cause, $retryable } = e as ErrorLike;
    for (const id of [name, code]) if (typeof id === 'string') ids.push(id);
    if ($retryable?.throttling === true) ids.push('Throttling');
    if (Array.isArray(errors)) for (const inner of errors) visit(inner, depth + 1);
    visit(cause, depth + 1);
  };
  visit(err, 0);
  const has = (pattern: RegExp) => ids.some((id) => pattern.test(id));
  const { httpStatusCode: status, attempts } = (err as ErrorLike | null)?.$metadata ?? {};

  // What happened and what to do about it; the first row that matches decides.
  const rules: [StoreErrorKind, boolean, string][] = [
    [
      'table-missing',
      has(TABLE_MISSING),
      'not found in this account and region: create it (createLockTable() or your stack)',
    ],
    [
      'bad-credentials',
      has(BAD_CREDENTIALS),
      'AWS credentials missing, rejected or not allowed: check AWS_PROFILE / keys / role, expiry and clock; allow dynamodb:UpdateItem and GetItem',
    ],
    ['throttled', has(THROTTLED), "throttled: retry later, or raise the table's capacity or maxAttempts"],
    [
      'timeout',
      has(TIMEOUT),
      "no answer in time (requestTimeoutMs, the client's requestTimeout), the outcome is unknown: retry later",
    ],
    [
      'unreachable',
      has(UNREACHABLE),
      'DynamoDB could not be reached: check endpoint, region and network, then retry',
    ],
    ['unreachable', (status ?? 0) >= 500, `server error (HTTP ${status}): retry later`],
    ['unknown', ids.includes('ValidationException'), 'request rejected: is "pk" the string partition key?'],
    ['unknown', true, 'unexpected error'],
  ];
  const [kind, , advice] = rules.find(([, matches]) => matches)!;

  // For an Error: `${name}: ${message}`.
  let detail = String(err);
  for (const secret of secrets) if (secret !== '') detail = detail.replaceAll(secret, '<redacted>');
  const retried = (attempts ?? 0) > 1 ? ` after ${attempts} attempts` : '';
  return new StoreError(
    'dynamodb',
    kind,
    `${operation} failed on table "${tableName}"${retried}: ${advice} (${detail})`,
    { cause: err },
  );
}
