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
 * - The Lua is written tightly because it is sent verbatim (by `EVAL`) and shipped verbatim in every
 *   bundle: the documentation lives here, in TSDoc. Each script starts with a `--lh <name> v<n>` tag,
 *   which names it in `SLOWLOG` / `MONITOR` and marks where quoted script text starts in an error
 *   message, so that it is cut off (see `errors.ts`).
 * - The key and argument counts of each script are what tell the operations apart in the test kit's
 *   request log: keep them.
 *
 * @module
 */
import { FENCE_STEP } from '@leasehold/core';

/**
 * How far behind the clock floor an existing fence counter may fall before acquire raises it (a stale
 * counter after a failover to a lagging replica): ten seconds. Clients' clocks must agree within this.
 */
export const FLOOR_LAG_MS = 10_000;

/** The script of each store operation. */
export const SCRIPTS = {
  /**
   * ACQUIRE — grant the lock, or report the holder.
   *
   * KEYS[1] lock key (value: owner id, with a PX expiry), KEYS[2] fence counter (never expires);
   * ARGV[1] owner id, ARGV[2] ttl in ms, ARGV[3] clock floor (client epoch ms * 1000).
   * Locals: `r` redis.call, `l` lock key, `f` fence key, `o` owner id, `x` ttl, `h` holder, `t` token
   * (first the fence counter's value, `nil` when missing or not a number), `m` lowest acceptable token.
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
   * counts on with `INCRBY` {@link FENCE_STEP} (core hands the tokens in between to local
   * successors); only when it has fallen more than {@link FLOOR_LAG_MS} behind the floor (a stale copy
   * after a failover to a lagging replica) is it raised to the floor minus that lag (written with
   * `%.0f`: a Lua number this large would otherwise be formatted in exponent notation).
   *
   * The floor must not be applied at full height to every grant: a client whose clock runs ahead would
   * then lift the counter to ITS clock, and if the counter were lost right after, a client with a
   * slower clock would re-create it below the tokens just issued. With the floor at creation only,
   * tokens keep increasing as long as fewer than 1000 / FENCE_STEP acquisitions per millisecond hit
   * one key, clients' clocks agree within the lag, and the counter is not lost twice within their
   * disagreement.
   */
  acquire: `--lh acquire v3
local r,l,f,o,x=redis.call,KEYS[1],KEYS[2],ARGV[1],ARGV[2]
local h,t=r('GET',l),tonumber(r('GET',f))
if h==o and t then
r('PEXPIRE',l,x)
return{1,t}
elseif h and h~=o then
return{0,r('PTTL',l),t or 0}
end
t=tonumber(ARGV[3])
if r('EXISTS',f)==1 then
local m=t-${FLOOR_LAG_MS * 1000}
t=r('INCRBY',f,${FENCE_STEP})
if t<m then
r('SET',f,string.format('%.0f',m))
t=m
end
else
r('SET',f,ARGV[3])
end
r('SET',l,o,'PX',x)
return{1,t}`,

  /**
   * EXTEND — push the expiry of a lock still held by this owner.
   *
   * KEYS[1] lock key; ARGV[1] owner id, ARGV[2] ttl in ms.
   * Reply: `1` extended, `0` not held by this owner (expired, released or taken).
   */
  extend: `--lh extend v1
if redis.call('GET',KEYS[1])==ARGV[1] then
return redis.call('PEXPIRE',KEYS[1],ARGV[2])
end
return 0`,

  /**
   * RELEASE — delete the lock if this owner holds it, keep the fence, and announce the release.
   *
   * KEYS[1] lock key, KEYS[2] release channel (same hash tag); ARGV[1] owner id, ARGV[2] token.
   * Reply: `1` released (and the token published on the channel: the wake-up for waiters in other
   * processes), `0` not held by this owner (nothing deleted, nothing published).
   */
  release: `--lh release v1
if redis.call('GET',KEYS[1])==ARGV[1] then
redis.call('DEL',KEYS[1])
redis.call('PUBLISH',KEYS[2],ARGV[2])
return 1
end
return 0`,

  /**
   * INSPECT — read a lock's state in one request, without revealing the owner.
   *
   * KEYS[1] lock key, KEYS[2] fence counter.
   * Reply: `{pttl, fence}`: `pttl` is `-2` when free, `-1` when held without expiry (never written by
   * Leasehold), else the remaining ms; `fence` is the last token issued, `0` when the counter is gone.
   * Run with `EVAL`, not `EVAL_RO`, so that read replicas never serve a stale state.
   */
  inspect: `--lh inspect v1
return{redis.call('PTTL',KEYS[1]),tonumber(redis.call('GET',KEYS[2]))or 0}`,
};

/** Hex SHA-1 (for `EVALSHA`) of each script run so far. A failed digest (no WebCrypto) is not cached. */
const digests: Record<string, string> = {};

/** The subset of an `@upstash/redis` client that running a script needs. */
export interface ScriptRunner {
  evalsha(sha1: string, keys: string[], args: unknown[]): Promise<unknown>;
  eval(script: string, keys: string[], args: unknown[]): Promise<unknown>;
}

/**
 * Run `script` with `EVALSHA` (its SHA-1 computed once, with `crypto.subtle`); on `NOSCRIPT` (the
 * server's script cache was flushed or never filled) run it once with `EVAL`, which caches it
 * server-side, so the next call is a single `EVALSHA` again. Errors are thrown raw: the caller scrubs
 * them.
 */
export async function runScript(
  redis: ScriptRunner,
  script: string,
  keys: string[],
  args: unknown[],
): Promise<unknown> {
  digests[script] ??= Array.from(
    new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(script))),
    (b) => b.toString(16).padStart(2, '0'),
  ).join('');
  try {
    return await redis.evalsha(digests[script], keys, args);
  } catch (err) {
    if (!/\bNOSCRIPT\b/i.test(String((err as Error | null)?.message))) throw err;
    return await redis.eval(script, keys, args);
  }
}
