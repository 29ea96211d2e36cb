/**
 * The Lua scripts behind every store operation, and how they are run: `EVALSHA` first (one request
 * carrying only the SHA-1), falling back to `EVAL` (the full script, which also caches it on the
 * server) only when Redis answers `NOSCRIPT`.
 *
 * Conventions shared by all scripts:
 * - Every key a script touches is passed in `KEYS` and shares the `{key}` hash tag, so a clustered
 *   Redis keeps them in one slot.
 * - Times are milliseconds only (`PX`, `PEXPIRE`, `PTTL`): expiry is decided by the server's clock.
 * - Replies are integers or flat arrays of integers, never strings: they parse the same whether the
 *   client runs with `automaticDeserialization` on or off, and with or without base64 encoding.
 * - A missing fence is reported as `0`: real tokens are always >= 1.
 *
 * @module
 */

/** A Lua script with a lazily computed, cached SHA-1 (for `EVALSHA`). */
export interface LuaScript {
  /** Short name used in error messages (never the script text). */
  readonly name: string;
  /** The script source. */
  readonly text: string;
  /** Hex SHA-1 of {@link LuaScript.text}, computed once with `crypto.subtle`. */
  sha1(): Promise<string>;
}

/**
 * How far behind the clock floor an existing fence counter may fall before acquire raises it (a stale
 * counter after a failover to a lagging replica): ten seconds. Clients' clocks must agree within this.
 */
export const FLOOR_LAG_MS = 10_000;

/**
 * ACQUIRE — grant the lock, or report the holder.
 *
 * KEYS[1] lock key (value: owner id, with a PX expiry)
 * KEYS[2] fence counter (never expires)
 * ARGV[1] owner id, ARGV[2] ttl in ms, ARGV[3] clock floor (client epoch ms * 1000)
 *
 * Replies:
 * - `{1, token}` acquired. When the lock is already held by this same owner (the retry of an
 *   applied-but-unanswered acquire), the expiry is pushed and the current fence is returned, so the
 *   retry resolves as acquired with the same token instead of "held".
 * - `{0, pttl, fence}` held by another owner: its remaining time (server clock) and its token (the
 *   fence counter's value, which is the latest token issued, i.e. the holder's), `0` if unknown.
 *
 * A NEW counter (none stored: FLUSHALL, a restart without persistence, a failover that lost it)
 * starts at the clock floor, "now × 1000", above every token issued before. An existing counter
 * counts on with `INCR`; only when it has fallen more than {@link FLOOR_LAG_MS} behind the floor (a
 * stale copy after a failover to a lagging replica) is it raised to the floor minus that lag.
 *
 * The floor must not be applied at full height to every grant: a client whose clock runs ahead would
 * then lift the counter to ITS clock, and if the counter were lost right after, a client with a slower
 * clock would re-create it below the tokens just issued. With the floor at creation only, tokens keep
 * increasing as long as fewer than 1000 acquisitions per millisecond hit one key, clients' clocks
 * agree within the lag, and the counter is not lost twice within their disagreement.
 */
export const ACQUIRE_LUA = `-- leasehold acquire v2
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  local current = tonumber(redis.call('GET', KEYS[2]))
  if current then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, current}
  end
elseif holder then
  return {0, redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2])) or 0}
end
local token
local floor = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  token = redis.call('INCR', KEYS[2])
  local lagged = floor - ${FLOOR_LAG_MS * 1000}
  if token < lagged then
    redis.call('SET', KEYS[2], string.format('%.0f', lagged))
    token = lagged
  end
else
  redis.call('SET', KEYS[2], ARGV[3])
  token = floor
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, token}
`;

/**
 * EXTEND — push the expiry of a lock still held by this owner.
 *
 * KEYS[1] lock key; ARGV[1] owner id, ARGV[2] ttl in ms.
 * Reply: `1` extended, `0` not held by this owner (expired, released or taken).
 */
export const EXTEND_LUA = `-- leasehold extend v1
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/**
 * RELEASE — delete the lock if this owner holds it, keep the fence, and announce the release.
 *
 * KEYS[1] lock key, KEYS[2] release channel (same hash tag); ARGV[1] owner id, ARGV[2] token.
 * Reply: `1` released (and the token published on the channel: the wake-up for waiters in other
 * processes), `0` not held by this owner (nothing deleted, nothing published).
 */
export const RELEASE_LUA = `-- leasehold release v1
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

/**
 * INSPECT — read a lock's state in one request, without revealing the owner.
 *
 * KEYS[1] lock key, KEYS[2] fence counter.
 * Reply: `{pttl, fence}`: `pttl` is `-2` when free, `-1` when held without expiry (never written by
 * Leasehold), else the remaining ms; `fence` is the last token issued, `0` when the counter is gone.
 * Run with `EVAL`, not `EVAL_RO`, so that read replicas never serve a stale state.
 */
export const INSPECT_LUA = `-- leasehold inspect v1
return {redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2])) or 0}
`;

const hexOf = (buffer: ArrayBuffer): string =>
  Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

function defineScript(name: string, text: string): LuaScript {
  let digest: Promise<string> | undefined;
  return {
    name,
    text,
    sha1() {
      if (digest === undefined) {
        digest = crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)).then(hexOf);
        // A failed digest (no WebCrypto) is retried on the next call instead of being cached.
        digest.catch(() => {
          digest = undefined;
        });
      }
      return digest;
    },
  };
}

/** The four scripts, each with its cached SHA-1. */
export const SCRIPTS = {
  acquire: defineScript('acquire', ACQUIRE_LUA),
  extend: defineScript('extend', EXTEND_LUA),
  release: defineScript('release', RELEASE_LUA),
  inspect: defineScript('inspect', INSPECT_LUA),
} as const;

/** The subset of an `@upstash/redis` client that running a script needs. */
export interface ScriptRunner {
  evalsha(sha1: string, keys: string[], args: string[]): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

/** True when `err` is Redis's `NOSCRIPT` reply (the script cache was flushed or never filled). */
export function isNoScript(err: unknown): boolean {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /\bNOSCRIPT\b/i.test(message);
}

/**
 * Run `script` with `EVALSHA`; on `NOSCRIPT` run it once with `EVAL` (which caches it server-side, so
 * the next call is a single `EVALSHA` again). Errors are thrown raw: the caller scrubs them.
 */
export async function runScript(
  redis: ScriptRunner,
  script: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const sha1 = await script.sha1();
  try {
    return await redis.evalsha(sha1, keys, args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return await redis.eval(script.text, keys, args);
  }
}
