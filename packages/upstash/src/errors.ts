import { StoreError, type StoreErrorKind } from '@leasehold/core';

/** The store name used in errors and events. */
export const STORE_NAME = 'upstash';

/** Store operations, as named in error messages. */
export type Operation = 'acquire' | 'extend' | 'release' | 'inspect';

const MAX_DETAIL = 200;

/**
 * Remove every secret from `text`: each value verbatim and JSON-escaped (as it would appear inside a
 * serialized command), longest first so that a secret containing another is removed whole.
 */
export function scrub(text: string, secrets: readonly string[]): string {
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    variants.add(secret);
    variants.add(JSON.stringify(secret).slice(1, -1));
    // Each line of a multi-line secret (script text), in case a fragment is quoted on its own.
    for (const line of secret.split('\n')) if (line.trim().length >= 8) variants.add(line.trim());
  }
  let out = text;
  for (const v of [...variants].sort((a, b) => b.length - a.length)) out = out.split(v).join('[redacted]');
  return out;
}

/**
 * The Redis / HTTP error text of a raw client error, without the serialized command that
 * `@upstash/redis` appends (`..., command was: ["evalsha", ...]` holds the owner id and, for `EVAL`,
 * the script), with secrets removed and the length capped.
 */
export function errorDetail(err: unknown, secrets: readonly string[]): string {
  let text = rawMessage(err);
  const commandAt = text.indexOf(', command was:');
  if (commandAt >= 0) text = text.slice(0, commandAt);
  text = text
    .replace(/^Command failed:\s*/i, '')
    .replace(/^Command \d+ \[ ?\w+ ?\] failed:\s*/i, '')
    .replace(/\s+/g, ' ')
    .trim();
  if (!errorName(err).startsWith('Upstash')) {
    // A fetch failure: the useful part is its cause ("connect ECONNREFUSED 127.0.0.1:6379").
    const cause = (err as { cause?: unknown } | null)?.cause;
    if (cause instanceof Error && cause.message.length > 0 && !text.includes(cause.message)) {
      text = `${text}: ${cause.message.replace(/\s+/g, ' ').slice(0, 120)}`;
    }
  }
  const code = causeCode(err);
  if (code !== undefined && !text.includes(code)) text = `${text} (${code})`;
  text = scrub(text, secrets);
  if (text.length > MAX_DETAIL) text = `${text.slice(0, MAX_DETAIL)}…`;
  return text.length > 0 ? text : 'no error text';
}

function rawMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  return 'non-error value thrown';
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

/** The system error code of a fetch failure (`ECONNREFUSED`, `ENOTFOUND`, ...), if any. */
function causeCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{2,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const CREDENTIALS =
  /WRONGPASS|NOAUTH|NOPERM|unauthori[sz]ed|invalid (?:auth )?token|missing auth|\b401\b|forbidden/i;
const THROTTLED =
  /max (?:daily |monthly )?requests? limit|max concurrent connections|rate.?limit|too many requests|\b429\b|throttl/i;
const NETWORK =
  /fetch failed|failed to fetch|network|load failed|socket|ECONN|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|terminated|other side closed/i;

/** Map a raw client failure to a {@link StoreErrorKind}. */
export function classify(err: unknown, detail: string): StoreErrorKind {
  const name = errorName(err);
  const upstash = name.startsWith('Upstash');
  if (name === 'AbortError' || name === 'TimeoutError') return 'timeout';
  if (CREDENTIALS.test(detail)) return 'bad-credentials';
  if (THROTTLED.test(detail)) return 'throttled';
  if (name === 'UpstashJSONParseError') return 'bad-response';
  if (!upstash) {
    if (/did not return a result/i.test(detail)) return 'bad-response';
    if (name === 'TypeError' || NETWORK.test(detail) || causeCode(err) !== undefined) return 'unreachable';
  }
  return 'unknown';
}

const ADVICE: Record<StoreErrorKind, string> = {
  unreachable:
    'could not reach the Upstash REST endpoint; check the URL, DNS and network, then retry (the outcome of the call is unknown)',
  'bad-credentials':
    "the Upstash REST token was rejected; use the database's standard (read-write) REST token, not the read-only one",
  throttled: 'Upstash refused the request because of a rate or plan limit; retry later or raise the limit',
  timeout: 'the request timed out or was aborted; the outcome of the call is unknown',
  'bad-response':
    'the reply could not be understood; check that the URL points at an Upstash (REST) Redis endpoint',
  'table-missing': 'the store is missing',
  unknown: 'Redis returned an error',
};

/**
 * Wrap any failure of an operation into a {@link StoreError} whose message, `cause` and stack carry
 * no secret: the cause is a fresh `Error` holding only the scrubbed Redis/HTTP error text, never the
 * client's error (its message may include the full command with the owner id and script).
 */
export function toStoreError(
  err: unknown,
  op: Operation,
  key: string,
  secrets: readonly string[],
): StoreError {
  if (err instanceof StoreError) return err;
  const detail = errorDetail(err, secrets);
  const kind = classify(err, detail);
  const cause = new Error(detail);
  const name = errorName(err);
  cause.name = name.length > 0 && /^\w{1,40}$/.test(name) ? name : 'Error';
  return new StoreError(STORE_NAME, kind, `${op} of "${key}" failed (${detail}): ${ADVICE[kind]}`, { cause });
}

/** A reply of the wrong shape: `bad-response`, without echoing the reply. */
export function badReply(op: Operation, key: string, why: string): StoreError {
  return new StoreError(
    STORE_NAME,
    'bad-response',
    `${op} of "${key}" failed (${why}): ${ADVICE['bad-response']}`,
  );
}
