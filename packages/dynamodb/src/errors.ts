import { StoreError, type StoreErrorKind } from '@leasehold/core';

/** Where a failed DynamoDB call came from; used to write an actionable message. */
export interface ErrorContext {
  /** The store operation or helper, e.g. `'acquire'` or `'createLockTable'`. */
  readonly operation: string;
  readonly tableName: string;
  /** Strings that must never appear in a message (owner ids); replaced by `<redacted>`. */
  readonly secrets?: readonly string[];
}

const STORE_NAME = 'dynamodb';

// Error names and system codes, by what they mean. Regular expressions rather than sets of strings:
// the same names, half the bytes in a bundle.
const CREDENTIAL_ERRORS =
  /^(UnrecognizedClientException|InvalidSignatureException|IncompleteSignature(Exception)?|SignatureDoesNotMatch|ExpiredToken(Exception)?|InvalidClientTokenId|InvalidAccessKeyId|MissingAuthenticationToken(Exception)?|RequestExpired|(Credentials|Token)ProviderError)$/;
const PERMISSION_ERRORS = /^(AccessDenied(Exception)?|NotAuthorized)$/;
const THROTTLING_ERRORS =
  /^((ProvisionedThroughputExceeded|Throttled|RequestThrottled|TooManyRequests|LimitExceeded)Exception|Throttling(Exception)?|RequestLimitExceeded|RequestThrottled|SlowDown)$/;
const TABLE_MISSING_ERRORS = /^(ResourceNotFound|TableNotFound)Exception$/;
const TIMEOUT_NAMES = /^(TimeoutError|RequestTimeout(Exception)?)$/;
const TIMEOUT_CODES = /^(E(SOCKET)?TIMEDOUT|UND_ERR_(CONNECT|HEADERS)_TIMEOUT)$/;
const NETWORK_CODES =
  /^(ECONN(REFUSED|RESET|ABORTED)|ENOTFOUND|EAI_AGAIN|EPIPE|EHOST(UNREACH|DOWN)|ENET(UNREACH|DOWN)|EPROTO|ERR_SOCKET_CONNECTION_TIMEOUT|UND_ERR_SOCKET|ERR_HTTP2_(STREAM_ERROR|SESSION_ERROR|GOAWAY_SESSION))$/;

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: unknown; attempts?: unknown };
  $retryable?: { throttling?: unknown };
}

function asErrorLike(err: unknown): ErrorLike {
  return typeof err === 'object' && err !== null ? (err as ErrorLike) : {};
}

/** The error itself, its `cause` chain and (for `AggregateError`) its members, at most a few levels deep. */
function* related(err: unknown, depth = 0): Generator<ErrorLike> {
  if (depth > 5 || typeof err !== 'object' || err === null) return;
  const e = asErrorLike(err);
  yield e;
  if (Array.isArray(e.errors)) for (const inner of e.errors) yield* related(inner, depth + 1);
  if (e.cause !== undefined) yield* related(e.cause, depth + 1);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function redact(text: string, secrets: readonly string[] | undefined): string {
  let out = text;
  for (const secret of secrets ?? []) if (secret.length > 0) out = out.split(secret).join('<redacted>');
  return out;
}

/**
 * True when `err` is DynamoDB's `ConditionalCheckFailedException` (matched by name, so it works across
 * copies of the SDK).
 */
export function isConditionalCheckFailed(
  err: unknown,
): err is Error & { name: 'ConditionalCheckFailedException'; Item?: Record<string, unknown> } {
  return asErrorLike(err).name === 'ConditionalCheckFailedException';
}

/**
 * Classify a failed DynamoDB call as a {@link StoreError} whose message says what to do. The original
 * error is kept as `cause`; messages never contain owner ids (pass them in `context.secrets`).
 *
 * Internal: exported from this module for tests, not from the package.
 */
export function toStoreError(err: unknown, context: ErrorContext): StoreError {
  if (err instanceof StoreError) return err;
  const top = asErrorLike(err);
  const name = str(top.name) ?? 'Error';
  const rawMessage = str(top.message) ?? String(err);
  const detail = redact(`${name}: ${rawMessage}`, context.secrets);
  const attempts = typeof top.$metadata?.attempts === 'number' ? top.$metadata.attempts : undefined;
  const afterRetries = attempts !== undefined && attempts > 1 ? ` after ${attempts} attempts` : '';
  const table = `"${context.tableName}"`;
  const prefix = `${context.operation} failed${afterRetries}`;

  const make = (kind: StoreErrorKind, advice: string) =>
    new StoreError(STORE_NAME, kind, `${prefix}: ${advice} (${detail})`, { cause: err });

  const chain = [...related(err)];
  const names = chain.map((e) => str(e.name) ?? '');
  const codes = chain.map((e) => str(e.code) ?? '');
  const has = (pattern: RegExp, values: readonly string[]) => values.some((v) => pattern.test(v));

  if (has(TABLE_MISSING_ERRORS, names)) {
    return make(
      'table-missing',
      `lock table ${table} not found in this account and region: create it with createLockTable() or deploy the stack`,
    );
  }
  if (has(CREDENTIAL_ERRORS, names)) {
    return make(
      'bad-credentials',
      'bad or missing AWS credentials: check AWS_PROFILE / AWS_ACCESS_KEY_ID / the role, session expiry, region and clock',
    );
  }
  if (has(PERMISSION_ERRORS, names)) {
    return make(
      'bad-credentials',
      `access denied: grant dynamodb:UpdateItem and dynamodb:GetItem on table ${table}`,
    );
  }
  if (has(THROTTLING_ERRORS, names) || chain.some((e) => e.$retryable?.throttling === true)) {
    return make(
      'throttled',
      `throttled past the SDK's retries: retry later, or raise the capacity of table ${table} or the client's maxAttempts`,
    );
  }
  if (has(TIMEOUT_NAMES, names) || has(TIMEOUT_CODES, codes)) {
    return make(
      'timeout',
      'no answer in time, the outcome is unknown: retry later; check the network and the client requestTimeout',
    );
  }
  if (has(NETWORK_CODES, codes)) {
    return make(
      'unreachable',
      'DynamoDB could not be reached: check endpoint, region, DNS and network (VPC endpoint or NAT in a VPC), then retry',
    );
  }
  const status = top.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) {
    return make('unreachable', `DynamoDB answered with a server error (HTTP ${status}): retry later`);
  }
  if (names.includes('ValidationException')) {
    return make(
      'unknown',
      `request rejected: does table ${table} have a string partition key "pk"? (see lockTableDefinition())`,
    );
  }
  return make('unknown', `unexpected error from DynamoDB on table ${table}`);
}
