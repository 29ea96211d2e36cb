/**
 * The Lua script behind every store operation. The store runs it with `EVALSHA` (one request carrying
 * only the SHA-1, {@link SCRIPT_SHA1}), falling back to `EVAL` (the full script, which also caches it
 * on the server) only when Redis answers `NOSCRIPT`.
 *
 * - Its shebang sets Upstash's `allow-key-locking` flag: Upstash then locks only the hash tag of the
 *   keys in `KEYS` while it runs, not the whole database (its default for scripts), so operations on
 *   different locks run in parallel. A server that refuses the flag gets {@link PLAIN_SCRIPT}.
 *
 * - One script serves all four operations, told apart by how many keys they pass (see
 *   {@link SCRIPT}): the operations share their keys, locals and steps (leaving the queue, reading
 *   the holder and the fence), the bundle ships one script text, and each store computes one SHA-1.
 * - Every key the script touches is passed in `KEYS` and shares the `{key}` hash tag, so a clustered
 *   Redis keeps them in one slot.
 * - Times are milliseconds only (`PX`, `PEXPIRE`, `PTTL`): expiry is decided by the server's clock.
 * - Replies are integers or flat arrays of integers, never strings: they parse the same whether the
 *   client runs with `automaticDeserialization` on or off, and with or without base64 encoding.
 * - A missing fence is reported as `0`: real tokens are always >= 1.
 * - The Lua is written tightly (one-letter locals, no comments) because it is sent verbatim (by
 *   `EVAL`) and shipped verbatim in every bundle: the documentation lives here, in TSDoc. It starts
 *   with a `--lh <name> v<n>` tag, which names it in `SLOWLOG` / `MONITOR` and marks where quoted
 *   script text starts in an error message, so that it is cut off (see `errors.ts`).
 * - The key and argument counts of each operation are what tell the operations apart, in the script
 *   and in the test kit's request log: keep them.
 *
 * @module
 */
import { FENCE_STEP } from '@leasehold/core';

/**
 * How far behind the clock floor an existing fence counter may fall before acquire raises it (a stale
 * counter after a failover to a lagging replica): ten seconds. Clients' clocks must agree within this.
 */
export const FLOOR_LAG_MS = 10_000;

/**
 * The script of every store operation.
 *
 * KEYS: a prefix of `Object.values(upstashKeyNames(key))`, named by `unpack`: `l` the lock (value:
 * owner id, with a PX expiry), `f` the fence counter (never expires), `q` the waiter queue (sorted set
 * of owner ids, by first arrival), `w` the waiters' terms (hash: owner id → "ttl:eligible-until"), `c`
 * the release channel. How many are given picks the operation: EXTEND 1, INSPECT 2, ACQUIRE 4,
 * RELEASE 5. ARGV, named by `unpack` too:
 * - EXTEND: `o` owner id, `x` ttl in ms;
 * - INSPECT: none;
 * - ACQUIRE: `o` owner id, `x` ttl in ms, `s` the clock floor (client epoch ms × 1000), `n` how long
 *   to queue the owner if the lock is held, in ms (0: don't), `a` the client's epoch ms;
 * - RELEASE: `o` owner id, `x` its token, `s` the client's epoch ms.
 *
 * `r` is `redis.call`, `g(k,m)` pushes key `k`'s expiry out to `m` ms from now (never back), `h` is the
 * holder, `e` whether the queue exists and `t` the token. The script reads
 * only what the path it takes needs: an uncontended acquire or release is four calls (`GET`, `EXISTS`
 * and two writes), every extra call costing microseconds of Redis time on every operation. In order:
 *
 * 1. **EXTEND** pushes the expiry of a lock still held by this owner, never back (a lock without
 *    expiry, which Leasehold never writes, gets one; so does the same owner's ACQUIRE): a delayed
 *    extension with a shorter TTL (its answer lost, overtaken by a newer one) must not cut short what
 *    the holder was told it has. Reply: `1` held by this owner until at least now + ttl, `0` not held by
 *    this owner (expired, released or taken).
 * 2. **INSPECT** reads the lock's state without revealing the owner. Reply: `{pttl, fence}`: `pttl`
 *    is `-2` when free, `-1` when held without expiry (never written by Leasehold), else the remaining
 *    ms; `fence` is the last token issued, `0` when the counter is gone. Run with `EVAL`, not
 *    `EVAL_RO`, so that read replicas never serve a stale state.
 * 3. **ACQUIRE** of a lock held by another owner reports `{0, pttl, fence}`: its remaining time
 *    (server clock) and its token (the fence counter's value, which is the latest token issued, i.e.
 *    the holder's), `0` if unknown. With `n` > 0 the owner is queued for a hand-over by RELEASE: it
 *    keeps its place in the queue if it was queued already, and stays eligible until `a + n` (client
 *    clocks, compared with the releasing client's: a waiter whose clock runs ahead can be handed the
 *    lock that much longer after it vanished; one whose clock runs more than `n` behind is never
 *    eligible, so a release drops it from the queue without waking it when it hands the lock to the
 *    next waiter, and it gets the lock only by finding it free at one of its own checks; the sum
 *    has 13 digits, which Lua's `%.14g` number formatting writes exactly). Each queue key expires a
 *    second after the latest eligibility registered in it (a registration only ever pushes the expiry
 *    out, never pulls it in under an earlier waiter still eligible), so a key nobody waits for leaves
 *    nothing behind.
 * 4. ACQUIRE (granting) and RELEASE take the owner out of the queue, if there is one (its terms only
 *    if it was queued): a grant is no longer waited for, and a release is also how a waiter that gives
 *    up withdraws.
 * 5. **RELEASE** frees the lock if this owner holds it (reply `0` otherwise: nothing changed but the
 *    queue), keeps the fence, and hands the lock to the first eligible queued waiter: if there is a queue
 *    and the fence counter exists (nothing in the script deletes it; without it no token could be
 *    proven higher than every earlier one), queued owners `p` are taken in order of arrival, dropping those
 *    whose eligibility (`d`, from their terms `v`) ran out, and the first eligible one is granted the
 *    lock as ACQUIRE would (its TTL `y`, the fence counter + {@link FENCE_STEP}, raised to the
 *    releasing client's clock floor minus {@link FLOOR_LAG_MS} if it lags further behind). The grant is
 *    published as `g<sha1hex(owner)>:<token>` (the token written with `%.0f`: Lua's own number
 *    formatting keeps 14 digits and would round it): the waiter recognises itself without its owner
 *    id going over the channel. With nobody to hand to, the released token is published: the wake-up
 *    for every waiter (a withdrawing waiter, which sends token 0, publishes the fence counter instead:
 *    above every holder token its peers have seen, so they wake). Both publish with `redis.pcall`: the
 *    release is applied by then and scripts do not roll back, so a publish the server refused (Upstash
 *    does not document `PUBLISH` under `allow-key-locking`) must not turn it into an error; waiters
 *    then learn at their next re-check. Reply: `1`.
 * 6. **ACQUIRE** of a free lock, or of one this owner holds already, replies `{1, token}`. When the
 *    lock is held by this same owner (the retry of an applied-but-unanswered acquire), the expiry is
 *    pushed (never moved back, as by EXTEND: a late copy of an earlier attempt must not cut short the
 *    lease its holder counts on) and the current fence is returned, so the retry resolves as acquired
 *    with the same token instead of "held"; if its fence counter is gone (evicted, or deleted by an
 *    operator), a new counter is made as below and the expiry is still only pushed, never set: a late
 *    copy of the holder's first acquire would otherwise cut short an extension it was granted, and
 *    the lock could be granted to another owner while the holder counts on it. Otherwise the fence
 *    counter advances with `INCRBY` {@link FENCE_STEP} (core
 *    hands the tokens in between to local successors). A reply of exactly FENCE_STEP means there was
 *    no counter (FLUSHALL, a restart without persistence, a failover that lost it; a live counter is
 *    never below the clock floor of its creation): the NEW counter starts at the clock floor,
 *    "now × 1000", above every token issued before. When the advanced counter of an existing one is
 *    still more than {@link FLOOR_LAG_MS} behind the floor (a stale copy after a failover to a lagging
 *    replica), the token is the floor minus that lag instead, so it is the greater of the two, never less
 *    than counter + FENCE_STEP (written with `%.0f`: a Lua number this large would otherwise be
 *    formatted in exponent notation).
 *
 * The floor must not be applied at full height to every grant: a client whose clock runs ahead would
 * then lift the counter to ITS clock, and if the counter were lost right after, a client with a
 * slower clock would re-create it below the tokens just issued. With the floor at creation only,
 * tokens keep increasing as long as fewer than 1000 / FENCE_STEP acquisitions per millisecond hit one
 * key, clients' clocks agree within the lag, and the counter is not lost twice within their
 * disagreement, an acquire's time in flight counting as clock lag (the floor is read when it is sent;
 * the script reads no clock, as Upstash asks of scripts). A stale copy is caught only once the lag raise governs its tokens (from
 * {@link FLOOR_LAG_MS} after the counter's creation): a copy missing grants of a younger counter
 * issues their tokens again (README: Guarantees).
 */
export const SCRIPT = `#!lua flags=allow-key-locking
--lh store v1
local r,l,f,q,w,c=redis.call,unpack(KEYS)
local o,x,s,n,a=unpack(ARGV)
local function g(k,m)if r('PTTL',k)<m+0 then r('PEXPIRE',k,m)end end
local h=r('GET',l)
if not f then
if h~=o then return 0 end
g(l,x)
return 1
end
if not q then return{r('PTTL',l),tonumber(r('GET',f)) or 0} end
if h and h~=o and not c then
if n+0>0 then
r('ZADD',q,'NX',a,o)
r('HSET',w,o,x..':'..a+n)
g(q,n+1000)
g(w,n+1000)
end
return{0,r('PTTL',l),tonumber(r('GET',f)) or 0}
end
local e=r('EXISTS',q)==1
if e and r('ZREM',q,o)==1 then r('HDEL',w,o) end
local t
if c then
if h~=o then return 0 end
r('DEL',l)
if e and r('EXISTS',f)==1 then
while true do
local p=r('ZPOPMIN',q)[1]
if not p then break end
local v=r('HGET',w,p)
r('HDEL',w,p)
if v then
local y,d=string.match(v,'(%d+):(%d+)')
if d-s>=0 then
t=r('INCRBY',f,${FENCE_STEP})
if t<s*1000-${FLOOR_LAG_MS * 1000} then
t=s*1000-${FLOOR_LAG_MS * 1000}
r('SET',f,string.format('%.0f',t))
end
r('SET',l,p,'PX',y)
redis.pcall('PUBLISH',c,string.format('g%s:%.0f',redis.sha1hex(p),t))
return 1
end
end
end
end
redis.pcall('PUBLISH',c,x+0>0 and x or r('GET',f) or 0)
return 1
end
if h==o then
t=tonumber(r('GET',f))
if t then
g(l,x)
return{1,t}
end
end
t=r('INCRBY',f,${FENCE_STEP})
if t==${FENCE_STEP} then
t=s+0
r('SET',f,s)
elseif t<s-${FLOOR_LAG_MS * 1000} then
t=s-${FLOOR_LAG_MS * 1000}
r('SET',f,string.format('%.0f',t))
end
if h==o then g(l,x) else r('SET',l,o,'PX',x) end
return{1,t}`;

/**
 * {@link SCRIPT} without its first line, the `allow-key-locking` flag: for a server that refuses the
 * flag (a plain Redis behind an Upstash-compatible REST proxy). On Upstash the flag makes the script
 * lock only its keys' hash tag (all of one lock's keys share it) instead of the whole database, so
 * operations on different locks run in parallel; every key the script touches is in `KEYS`, as the
 * flag requires.
 */
export const PLAIN_SCRIPT = SCRIPT.slice(SCRIPT.indexOf('\n') + 1);

/**
 * The hex SHA-1s of {@link SCRIPT} and {@link PLAIN_SCRIPT}, written out rather than computed when a
 * store is created: the first use of WebCrypto in a process loads it, ~2 ms of every Lambda cold start
 * (what `createScript` of `@upstash/redis` would cost at import). A test checks them against the
 * scripts: change them together.
 */
export const SCRIPT_SHA1 = 'db2b39b8014936b7ed10749b1bab627b3a3a70b1';
export const PLAIN_SCRIPT_SHA1 = '58456f20a5b97c6990abf4b2cb1cd3d87161c48d';

/** Hex SHA-1 of a text (WebCrypto), as Lua's `redis.sha1hex` computes it. */
export async function sha1hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
