import { StoreError } from '@leasehold/core';

/** The store name used in errors and events. */
export const STORE_NAME = 'upstash';

/** Store operations, as named in error messages. */
export type Operation = 'acquire' | 'extend' | 'release' | 'inspect';

/** What happened and what to do, per kind of failure (Upstash has no table: never `table-missing`). */
const ADVICE = {
  unreachable: 'Upstash unreachable (outcome unknown); check the URL and network, then retry',
  'bad-credentials': "REST token rejected; use the database's read-write REST token",
  throttled: 'rate or plan limit hit; retry later or raise the limit',
  timeout: 'timed out or aborted (outcome unknown)',
  'bad-response': 'is the URL an Upstash REST URL?',
  unknown: 'Redis error',
};

/** The kinds of {@link StoreError} this store raises. */
export type Kind = keyof typeof ADVICE;

const CREDENTIALS =
  /WRONGPASS|NOAUTH|NOPERM|unauthori[sz]ed|invalid (auth )?token|missing auth|\b401\b|forbidden/i;
const THROTTLED =
  /max (daily |monthly )?requests? limit|max concurrent connections|rate.?limit|too many requests|\b429\b|throttl/i;
const NETWORK =
  /fetch failed|failed to fetch|network|load failed|socket|E(CONN|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH|TIMEDOUT|PIPE)|terminated|other side closed/i;

/**
 * Wrap any failure of an operation into a {@link StoreError} of the right kind, whose message, `cause`
 * and stack carry no secret: the cause is a fresh `Error` (with the original's name) holding only the
 * Redis / HTTP error text, at most 200 characters of it:
 * - without the serialized command that `@upstash/redis` appends (`, command was: [...]` holds the
 *   owner id and, for `EVAL`, the script), nor any other quoted script text (cut at its `--lh` tag,
 *   with everything after it, such as the arguments);
 * - with every secret (owner id, REST token) replaced by `[redacted]`;
 * - for a fetch failure, with its cause and system error code (`fetch failed: connect ECONNREFUSED …`).
 */
export function toStoreError(
  err: unknown,
  op: Operation,
  key: string,
  secrets: readonly (string | undefined)[],
): StoreError {
  const error = err instanceof Error ? err : undefined;
  const name = error?.name ?? '';
  // Not an answer from Upstash (UpstashError, UpstashJSONParseError): the request itself failed.
  const local = !name.startsWith('Upstash');
  let detail = error?.message ?? (typeof err === 'string' ? err : '');
  if (local && error?.cause instanceof Error && !detail.includes(error.cause.message)) {
    detail += `: ${error.cause.message.slice(0, 120)}`;
  }
  // The system error code of a fetch failure (ECONNREFUSED, ENOTFOUND, ...), if any.
  let code: string | undefined;
  let e = err as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; depth < 4 && e && !code; depth++, e = e.cause as typeof e) {
    if (typeof e.code === 'string' && /^[A-Z][A-Z0-9_]{2,40}$/.test(e.code)) code = e.code;
  }
  if (code && !detail.includes(code)) detail += ` (${code})`;
  detail = detail
    .replace(/(, command was:|--lh ).*|^Command (\d+ \[ ?\w+ ?\] )?failed:/gis, '')
    .replace(/\s+/g, ' ')
    .trim();
  for (const secret of secrets) if (secret) detail = detail.replaceAll(secret, '[redacted]');
  detail = detail.length > 200 ? `${detail.slice(0, 200)}…` : detail || 'no error text';

  const kind: Kind =
    name === 'AbortError' || name === 'TimeoutError'
      ? 'timeout'
      : CREDENTIALS.test(detail)
        ? 'bad-credentials'
        : THROTTLED.test(detail)
          ? 'throttled'
          : name === 'UpstashJSONParseError' || (local && /did not return a result/i.test(detail))
            ? 'bad-response'
            : local && (name === 'TypeError' || NETWORK.test(detail) || code)
              ? 'unreachable'
              : 'unknown';
  const cause = new Error(detail);
  if (/^\w{1,40}$/.test(name)) cause.name = name;
  return storeError(op, key, kind, detail, cause);
}

function storeError(op: Operation, key: string, kind: Kind, detail: string, cause?: Error): StoreError {
  return new StoreError(STORE_NAME, kind, `${op} of "${key}" failed (${detail}): ${ADVICE[kind]}`, { cause });
}

/** A reply of the wrong shape: `bad-response`, without echoing the reply. */
export const badReply = (op: Operation, key: string): StoreError =>
  storeError(op, key, 'bad-response', 'unexpected reply');
