import { StoreError, type StoreErrorKind } from '@leasehold/core';

/** The store's name, in `LockStore.name` and in every `StoreError`. */
export const STORE = 'dynamodb';

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

/**
 * The kinds of failure by the error names and system codes that mean them, with a short hint for the
 * message (the README's "Errors" table says more). The first row whose pattern matches any name or code
 * of the error decides. Regular expressions rather than sets of strings: the same names in a third of
 * the bytes; an optional `Exception` suffix is accepted where AWS uses both spellings. `HTTP 5xx` stands
 * for a server error's status code (see {@link toStoreError}).
 */
const KINDS: readonly (readonly [StoreErrorKind, string, RegExp])[] = [
  [
    'table-missing',
    'create it: createLockTable() or your stack',
    /^(ResourceNotFound|TableNotFound)Exception$/,
  ],
  [
    // Credentials that are missing, rejected or not allowed (AccessDenied, NotAuthorized).
    'bad-credentials',
    'check AWS_PROFILE, keys, role, IAM',
    /^(UnrecognizedClient|(Invalid|Incomplete)Signature|SignatureDoesNotMatch|ExpiredToken|Invalid(ClientTokenId|AccessKeyId)|MissingAuthenticationToken|RequestExpired|AccessDenied|NotAuthorized)(Exception)?$|^(Credentials|Token)ProviderError$/,
  ],
  [
    // ReplicatedWriteConflict: a global table with multi-Region strong consistency refused a write
    // racing one from another Region (nothing applied).
    'throttled',
    'retry later',
    /^(ProvisionedThroughputExceeded|Throttling|Request(Throttled|LimitExceeded)|TooManyRequests|LimitExceeded|SlowDown)(Exception)?$|^(Throttled|ReplicatedWriteConflict)Exception$/,
  ],
  [
    // A reset connection or broken pipe: the request may have gone out, so its outcome is unknown (the
    // SDK's default Node handler reports both as a TimeoutError anyway; other handlers do not).
    'timeout',
    'outcome is unknown, see requestTimeoutMs',
    /^(TimeoutError|RequestTimeout(Exception)?|E(SOCKET)?TIMEDOUT|UND_ERR_(CONNECT|HEADERS)_TIMEOUT|ECONNRESET|EPIPE)$/,
  ],
  [
    'unreachable',
    'could not be reached',
    /^(ECONN(REFUSED|ABORTED)|ENOTFOUND|EAI_AGAIN|E(HOST|NET)(UNREACH|DOWN)|EPROTO|ERR_SOCKET_CONNECTION_TIMEOUT|UND_ERR_SOCKET|ERR_HTTP2_((STREAM|SESSION)_ERROR|GOAWAY_SESSION))$/,
  ],
  ['unreachable', 'server error', /^HTTP 5\d\d$/],
  ['unknown', 'is "pk" the string partition key?', /^ValidationException$/],
];

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  stack?: unknown;
  cause?: ErrorLike;
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

/** `String(err)`, which throws for a null-prototype object or a throwing `toString`: classifying must not. */
function printable(err: unknown): string {
  try {
    return String(err);
  } catch {
    return 'an error without a string form';
  }
}

/**
 * Classify a failed DynamoDB call as a {@link StoreError} whose message says what to do. The original
 * error is kept as `cause`; neither the message nor the cause chain keeps owner ids (pass them in
 * `context.secrets`) or a session token echoed by DynamoDB.
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

  // For an Error: `${name}: ${message}`. A signature mismatch is answered with the canonical request,
  // whose x-amz-security-token header holds the session token of temporary credentials: a secret.
  const secrets = [...(context.secrets ?? [])].filter(Boolean).sort((a, b) => b.length - a.length);
  const redact = (text: string) => {
    let out = text.replace(/(security-token[:=])[^\s&']+/gi, '$1<redacted>');
    // Longest first: a secret may contain another (a release nonce starts with the owner id).
    for (const secret of secrets) out = out.replaceAll(secret, '<redacted>');
    return out;
  };
  const detail = redact(printable(err));

  // The names and codes of the error, its `cause` chain and (for `AggregateError`) its members, a few
  // levels deep at most (chains can be cyclic). Signals that are not names count as the name they mean:
  // the store's own timeout, the SDK's throttling flag, and an HTTP 5xx status as `HTTP 5xx`.
  // Each is redacted on the way: the error is kept as the cause (its class, name and $metadata), and
  // Node prints a cause chain, messages and stacks, with the error itself.
  const ids: unknown[] = context.timedOut ? ['TimeoutError'] : [];
  const visit = (e: ErrorLike | null | undefined, depth: number): void => {
    if (depth < 6 && e && typeof e === 'object') {
      ids.push(
        e.name,
        e.code,
        e.$retryable?.throttling === true && 'Throttling',
        `HTTP ${e.$metadata?.httpStatusCode}`,
      );
      for (const field of ['message', 'stack'] as const) {
        const text = e[field];
        try {
          if (typeof text === 'string' && redact(text) !== text) e[field] = redact(text);
        } catch {
          // A frozen error keeps its text; the StoreError's own message is redacted regardless.
        }
      }
      for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) visit(inner, depth + 1);
    }
  };
  visit(err as ErrorLike, 0);
  const [kind, hint] = KINDS.find(([, , pattern]) =>
    ids.some((id) => typeof id === 'string' && pattern.test(id)),
  ) ?? ['unknown', 'unexpected error'];

  const attempts = (err as ErrorLike | null)?.$metadata?.attempts ?? 0;
  const retried = attempts > 1 ? ` after ${attempts} attempts` : '';
  return new StoreError(
    STORE,
    kind,
    `${context.operation} failed on table "${context.tableName}"${retried}: ${kind}, ${hint} (${detail})`,
    { cause: err },
  );
}
