import { StoreError } from '@leasehold/core';

/** The store name used in errors and events. */
export const STORE_NAME = 'upstash';

/** Store operations, as named in error messages. */
export type Operation = 'acquire' | 'extend' | 'release' | 'inspect';

/**
 * The kinds of {@link StoreError} this store raises (Upstash has no table: never `table-missing`).
 * A message names the operation, the key, the kind and the scrubbed cause; what each kind means and
 * what to check is the "Errors" table of the package README, not repeated in every bundle.
 */
export type Kind = 'unreachable' | 'bad-credentials' | 'throttled' | 'timeout' | 'bad-response' | 'unknown';

/** Also fetch refusing the token as a header value (a control or non-Latin-1 character in it). */
const CREDENTIALS =
  /WRONGPASS|NOAUTH|NOPERM|unauthori[sz]ed|invalid (auth )?token|missing auth|\b401\b|forbidden|header value|ByteString/i;
const THROTTLED =
  /max ((daily |monthly )?requests? limit|concurrent connections)|rate.?limit|too many requests|\b429\b|throttl/i;
const NETWORK =
  /fetch failed|failed to fetch|network|load failed|socket|E(CONN|NOTFOUND|AI_AGAIN|(HOST|NET)UNREACH|TIMEDOUT|PIPE)|terminated|other side closed/i;
/**
 * The REST server answered that the database behind it could not be reached, or Redis refused the
 * command for now (a long script running, a dataset loading, a replica after a failover): retryable.
 */
const DOWN = /\b(not reachable|unreachable|unavailable)\b/i;
const REFUSED_FOR_NOW = /^(BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) /;
/**
 * An unparsable error page from a gateway or CDN in front of the database: it was not reached. Any
 * other web page is a bad response (a URL that is not the database's REST URL).
 */
const GATEWAY = /error code: \d|bad gateway|service unavailable|gateway time-?out|upstream|\b50[234]\b/i;

/**
 * Wrap any failure of an operation into a {@link StoreError} of the right kind, whose message, `cause`
 * and stack carry no secret: the cause is a fresh `Error` (with the original's name) holding only the
 * Redis / HTTP error text, at most 200 characters of it:
 * - without the serialized command that `@upstash/redis` appends (`, command was: [...]` holds the
 *   owner id and, for `EVAL`, the script), nor any other quoted script text (cut at its `--lh` tag,
 *   with everything after it, such as the arguments), nor a quoted `Bearer` header value (fetch
 *   quotes it when it refuses it: the REST token of a client the user passed in, which the store
 *   does not know);
 * - with every secret (owner id, REST token, the credentials in a URL) replaced by `[redacted]`;
 * - for a fetch failure, with its cause and system error code (`fetch failed: connect ECONNREFUSED …`).
 *
 * The message is `<op> of "<key>" failed: <kind> (<that text>)` (StoreError prefixes `upstash: `).
 *
 * @param known - the kind, when the caller knows it (a reply of the wrong shape: `bad-response`,
 *   with `err` a text that says so and echoes nothing of the reply).
 */
export function toStoreError(
  err: unknown,
  op: Operation,
  key: string,
  secrets: readonly (string | undefined)[],
  known?: Kind,
): StoreError {
  const error = err instanceof Error ? err : undefined;
  const name = error?.name ?? '';
  // Not an answer from Upstash (UpstashError, UpstashJSONParseError): the request itself failed.
  const local = !name.startsWith('Upstash');
  let detail = error ? String(error.message) : typeof err === 'string' ? err : '';
  if (local && error?.cause instanceof Error && !detail.includes(error.cause.message)) {
    detail += `: ${error.cause.message}`; // cut below, once secrets are out: never part of one
  }
  // The system error code of a fetch failure (ECONNREFUSED, ENOTFOUND, ...), if any, on the error or
  // its first causes.
  let code: string | undefined;
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; depth < 4 && e && !code; depth++, e = e.cause as typeof e) {
    code = /^[A-Z][A-Z0-9_]{2,40}$/.exec(String(e.code))?.[0];
  }
  if (code && !detail.includes(code)) detail += ` (${code})`;
  // The known secrets first, whole: the cuts below could split one and leave a part of it.
  for (const secret of secrets) if (secret) detail = detail.replaceAll(secret, '[redacted]');
  detail = detail
    .replace(/(, command was:|#!lua |--lh ).*|^Command (\d+ \[ ?\w+ ?\] )?failed:/gis, '')
    // Up to the last `"` after it (the end of the quoted header value), or to the end: a token may hold
    // a `"` itself.
    .replace(/Bearer (?:[\s\S]*(?=")|[\s\S]*)/gi, 'Bearer [redacted]')
    // The credentials of a URL that carries them (`https://default:<password>@…`): fetch refuses such a
    // URL and quotes it whole, and the store does not know the URL of a client passed in.
    .replace(/(\b[a-z][\w+.-]*:\/\/)[^\s/?#]*@/gi, '$1[redacted]@')
    .replace(/\s+/g, ' ')
    .trim();
  detail = detail.length > 200 ? `${detail.slice(0, 200)}…` : detail || 'no error text';

  const kind: Kind =
    known ??
    (/^(Abort|Timeout)Error$/.test(name)
      ? 'timeout'
      : CREDENTIALS.test(detail)
        ? 'bad-credentials'
        : THROTTLED.test(detail)
          ? 'throttled'
          : name === 'UpstashJSONParseError' && GATEWAY.test(detail)
            ? 'unreachable'
            : name === 'UpstashJSONParseError' || (local && /did not return a result/i.test(detail))
              ? 'bad-response'
              : DOWN.test(detail) ||
                  REFUSED_FOR_NOW.test(detail) ||
                  (local && (name === 'TypeError' || NETWORK.test(detail) || code))
                ? 'unreachable'
                : 'unknown');
  const cause = new Error(detail);
  if (/^\w{1,40}$/.test(name)) cause.name = name;
  return new StoreError(STORE_NAME, kind, `${op} of "${key}" failed: ${kind} (${detail})`, { cause });
}
