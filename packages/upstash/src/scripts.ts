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
   * KEYS[1] lock key (value: owner id, with a PX expiry), KEYS[2] fence counter (never expires),
   * KEYS[3] waiter queue (sorted set of owner ids, by first arrival), KEYS[4] waiters' terms (hash:
   * owner id → "ttl:eligible-until"); ARGV[1] owner id, ARGV[2] ttl in ms, ARGV[3] clock floor (client
   * epoch ms * 1000), ARGV[4] how long to queue the owner if the lock is held, in ms (0: don't),
   * ARGV[5] the client's epoch ms.
   * Locals: `r` redis.call, `l` lock key, `f` fence key, `o` owner id, `x` ttl, `h` holder, `t` token
   * (first the fence counter's value, `nil` when missing or not a number), `m` lowest acceptable token.
   *
   * Replies:
   * - `{1, token}` acquired. When the lock is already held by this same owner (the retry of an
   *   applied-but-unanswered acquire), the expiry is pushed and the current fence is returned, so the
   *   retry resolves as acquired with the same token instead of "held".
   * - `{0, pttl, fence}` held by another owner: its remaining time (server clock) and its token (the
   *   fence counter's value, which is the latest token issued, i.e. the holder's), `0` if unknown.
   *   With ARGV[4] > 0 the owner is queued for a hand-over by RELEASE: it keeps its place in the queue
   *   if it was queued already, and stays eligible until ARGV[5] + ARGV[4] (client clocks: a skew only
   *   shifts how long a waiter that vanished can still be handed the lock). Both queue keys expire a
   *   second after the last registration, so a key nobody waits for leaves nothing behind.
   * A grant removes the owner from the queue.
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
  acquire: `--lh acquire v4
local r,l,f,o,x,q,w=redis.call,KEYS[1],KEYS[2],ARGV[1],ARGV[2],KEYS[3],KEYS[4]
local h,t,n=r('GET',l),tonumber(r('GET',f)),tonumber(ARGV[4])
if h and h~=o then
if n>0 then
r('ZADD',q,'NX',ARGV[5],o)
r('HSET',w,o,x..':'..string.format('%.0f',ARGV[5]+n))
r('PEXPIRE',q,n+1000)
r('PEXPIRE',w,n+1000)
end
return{0,r('PTTL',l),t or 0}
end
r('ZREM',q,o)
r('HDEL',w,o)
if h==o and t then
r('PEXPIRE',l,x)
return{1,t}
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
   * EXTEND — push the expiry of a lock still held by this owner, never back: a delayed extension with
   * a shorter TTL (its answer lost, overtaken by a newer one) must not cut short what the holder was
   * told it has.
   *
   * KEYS[1] lock key; ARGV[1] owner id, ARGV[2] ttl in ms.
   * Reply: `1` held by this owner until at least now + ttl, `0` not held by this owner (expired,
   * released or taken).
   */
  extend: `--lh extend v2
local r,l,x=redis.call,KEYS[1],tonumber(ARGV[2])
if r('GET',l)~=ARGV[1] then return 0 end
if r('PTTL',l)<x then r('PEXPIRE',l,x) end
return 1`,

  /**
   * RELEASE — free the lock if this owner holds it, keep the fence, and hand the lock to the first
   * eligible queued waiter or announce the release.
   *
   * KEYS[1] lock key, KEYS[2] channel, KEYS[3] waiter queue, KEYS[4] waiters' terms, KEYS[5] fence
   * counter (same hash tag); ARGV[1] owner id, ARGV[2] token, ARGV[3] the client's epoch ms.
   *
   * The owner first leaves the queue (a release is also how a waiter that gives up withdraws). If it
   * holds the lock, the lock is deleted; then queued owners are taken in order of arrival, dropping
   * those whose eligibility ran out, and the first eligible one is granted the lock as ACQUIRE would
   * (its TTL, the fence counter + {@link FENCE_STEP}) — unless the fence counter is gone, when no
   * token could be proven higher than every earlier one. The grant is published as
   * `g<sha1hex(owner)>:<token>` (the token written with `%.0f`: Lua's own number formatting keeps 14
   * digits and would round it): the waiter recognises itself without its owner id going over the
   * channel. With nobody to hand to, the released token is published: the wake-up for every waiter.
   * Reply: `1` released (or handed over), `0` not held by this owner (nothing changed but the queue).
   */
  release: `--lh release v2
local r,l,o,q,w,f=redis.call,KEYS[1],ARGV[1],KEYS[3],KEYS[4],KEYS[5]
r('ZREM',q,o)
r('HDEL',w,o)
if r('GET',l)~=o then return 0 end
r('DEL',l)
while r('EXISTS',f)==1 do
local p=r('ZPOPMIN',q)
if not p[1] then break end
local e=r('HGET',w,p[1])
r('HDEL',w,p[1])
if e then
local x,d=string.match(e,'(%d+):(%d+)')
if tonumber(d)>=tonumber(ARGV[3]) then
local t=r('INCRBY',f,${FENCE_STEP})
r('SET',l,p[1],'PX',x)
r('PUBLISH',KEYS[2],'g'..redis.sha1hex(p[1])..':'..string.format('%.0f',t))
return 1
end
end
end
r('PUBLISH',KEYS[2],ARGV[2])
return 1`,

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

/** Hex SHA-1 of a text (WebCrypto), as Lua's `redis.sha1hex` computes it. */
export async function sha1hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

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
  digests[script] ??= await sha1hex(script);
  try {
    return await redis.evalsha(digests[script], keys, args);
  } catch (err) {
    if (!/\bNOSCRIPT\b/i.test(String((err as Error | null)?.message))) throw err;
    return await redis.eval(script, keys, args);
  }
}
