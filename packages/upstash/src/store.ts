import { InvalidArgumentError, type LockState, type LockStore, type StoreClaim } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { type Operation, STORE_NAME, toStoreError } from './errors.js';
import { DEFAULT_PREFIX, isPlainPrefix, type UpstashKeyNames, upstashKeyNames } from './keys.js';
import { PLAIN_SCRIPT, PLAIN_SCRIPT_SHA1, SCRIPT, SCRIPT_SHA1, sha1hex } from './scripts.js';

/**
 * The part of an `@upstash/redis` client the store uses: pass any `Redis` instance (from
 * `@upstash/redis`, `@upstash/redis/cloudflare` or `@upstash/redis/fastly`), with any settings. Its
 * `evalsha` runs the store's script (and `eval` after a `NOSCRIPT` answer), `subscribe` and `get`
 * serve `waitForRelease`.
 *
 * @example
 * ```ts
 * import { Redis } from '@upstash/redis';
 * import type { UpstashRedisClient } from '@leasehold/upstash';
 * const redis: UpstashRedisClient = Redis.fromEnv();
 * ```
 */
export type UpstashRedisClient = Pick<Redis, 'evalsha' | 'eval' | 'get' | 'subscribe'>;

/**
 * Options of {@link upstashStore}: either an `@upstash/redis` client you configured, or the REST `url`
 * and `token` of the database (the store then creates a client with the settings documented on
 * {@link upstashStore}). `prefix` (default `'leasehold:'`; letters, digits and `_ . : @ = -`) starts
 * every key and channel name.
 *
 * @example
 * ```ts
 * const viaClient: UpstashStoreOptions = { redis: Redis.fromEnv() };
 * const viaUrl: UpstashStoreOptions = {
 *   url: process.env.UPSTASH_REDIS_REST_URL!,
 *   token: process.env.UPSTASH_REDIS_REST_TOKEN!,
 *   prefix: 'myapp:locks:',
 * };
 * ```
 */
export type UpstashStoreOptions = (
  | {
      /** Your `@upstash/redis` client, used as configured; leave out `url` and `token` then. */
      readonly redis: UpstashRedisClient;
    }
  | {
      /** The database's REST URL (`UPSTASH_REDIS_REST_URL`; `http://` for a local one), no credentials. */
      readonly url: string;
      /** The database's read-write REST token (`UPSTASH_REDIS_REST_TOKEN`); never echoed in errors. */
      readonly token: string;
    }
) & {
  /**
   * Starts every Redis key and channel name: stores with different prefixes never share a lock.
   * Letters, digits and `_ . : @ = -` only. Default `'leasehold:'` ({@link DEFAULT_PREFIX}).
   */
  readonly prefix?: string;
  /**
   * Upper bound for one store call in ms, the client's retries included; past it the call fails with a
   * `StoreError` of kind `'timeout'` (outcome unknown: core withdraws a timed-out acquire). Default:
   * none (a request the network swallows waits for fetch's own limits). 1 to 2 147 483 647.
   */
  readonly requestTimeoutMs?: number;
};

/**
 * The store returned by {@link upstashStore}: a {@link LockStore} with pub/sub wake-ups
 * (`waitForRelease`) and a helper giving the Redis names used for a key.
 *
 * @example
 * ```ts
 * const store: UpstashLockStore = upstashStore({ redis });
 * store.keyNames('k').channel; // 'leasehold:{k}:released'
 * ```
 */
export interface UpstashLockStore extends LockStore {
  /** Always `'upstash'`: the `store` of its `StoreError`s. */
  readonly name: 'upstash';
  /** The prefix of every key and channel this store uses. */
  readonly prefix: string;
  /** The Redis key names and release channel of a lock key. */
  keyNames(key: string): UpstashKeyNames;
  /**
   * Resolve when a release of `key` is announced on its channel (or was, since this store last saw the
   * key held), when the lock is found free right after subscribing, when `timeoutMs` has passed, or
   * when `signal` aborts (it resolves then too; the caller checks its signal). With a `claim`, resolve
   * with the token when the release handed the lock to `claim.owner` (queued by its acquire) with a
   * token above `claim.above`; a hand-over to another owner wakes nobody else: the lock is held again.
   * Never rejects: if the subscription fails it falls back to polling, resolving after at most 250 ms
   * (or `timeoutMs`, if shorter). Waits on one key share one server-sent-events stream, which stays open
   * 500 ms after the last of them ends so that the next wait needs no new request; `close()` ends it
   * at once.
   */
  waitForRelease(
    key: string,
    timeoutMs: number,
    signal?: AbortSignal,
    claim?: StoreClaim,
  ): Promise<number | undefined>;
  /** Leave the hand-over queue of `key`; release the lock if it was handed to `owner` meanwhile. */
  withdraw(key: string, owner: string): Promise<void>;
  /** Ends every pending `waitForRelease` (they resolve) and closes their streams. */
  close(): Promise<void>;
}

const noop = () => undefined;
/** Read once: every `Number.isSafeInteger(` would cost its full length in every bundle. */
const { isSafeInteger } = Number;

/**
 * A reply item as a number: itself if it is a number, the number it spells if it is the canonical text
 * of one ("12", "-2"; not "012", "1e3" or " 1"), else NaN.
 */
const integer = (item: unknown): number =>
  typeof item === 'number' ? item : typeof item === 'string' && String(+item) === item ? +item : NaN;

/** EXTEND and RELEASE answer `1` (done) or `0` (not held by this owner). */
const isFlag = (reply: number[]) => reply.length === 1 && (reply[0] === 0 || reply[0] === 1);
/** ACQUIRE answers `1, <token ≥ 1>` (acquired) or `0, <pttl>, <fence>` (held). */
const isAcquireReply = (reply: number[]) =>
  reply[0] === 1 ? reply.length === 2 && reply[1]! > 0 : reply[0] === 0 && reply.length === 3;
/** INSPECT answers `<pttl>, <fence>`. */
const isPair = (reply: number[]) => reply.length === 2;

/** Poll interval when the release subscription fails (stream refused or dropped). */
const POLL_FALLBACK_MS = 250;
/** How long a key's release subscription outlives its last waiter, ready for the next wait. */
const SUBSCRIPTION_LINGER_MS = 500;
/**
 * A subscription that has carried nothing for this long is renewed by the next wait: @upstash/redis
 * tells no listener when a stream ends or breaks after it opened (a server restart, a proxy's idle
 * cut), and its waiters would otherwise sleep through every release and hand-over, on a key that
 * always has waiters for as long as it has them.
 */
export const SUBSCRIPTION_SILENCE_MS = 10_000;

/** Hand-overs remembered per channel, for waits that start after their message arrived. */
const REMEMBERED_GRANTS = 8;

/**
 * A waiter's claim as the channel sees it: its owner id, `g` + the SHA-1 of the owner id (as a grant
 * message starts) and the token to beat.
 */
interface Claim {
  readonly owner: string;
  readonly sha: string;
  readonly above: number;
}

/** A key's shared release subscription, and the waits it wakes. */
interface ReleaseChannel {
  /** The holder's token from this store's last "held" answer for the key while subscribed. */
  held: number;
  /**
   * Resolves on a release of the key (with the token when it was handed to `claim`), after
   * `timeoutMs`, or when `signal` aborts.
   */
  wait(timeoutMs: number, signal?: AbortSignal, claim?: Claim): Promise<number | undefined>;
  /** True when the subscription has carried nothing for {@link SUBSCRIPTION_SILENCE_MS}. */
  silent(): boolean;
  /** Ends every pending wait and the subscription. */
  close(): void;
}

/**
 * Create a Leasehold store over Upstash Redis (REST). Every `acquire`, `extend`, `release` and
 * `inspect` is one `EVALSHA` request (one `EVAL` more, once, after the server's script cache was
 * flushed); expiry is decided by Redis's clock in milliseconds; fencing tokens come from a per-key
 * counter that starts from a clock floor, so they keep increasing even after the data is lost; a
 * release publishes on the key's channel to wake waiters in other processes.
 *
 * With `{ url, token }` the store creates `new Redis({ url, token, automaticDeserialization: false,
 * enableAutoPipelining: false, retry: { retries: 2, backoff: 25 ms then 100 ms } })`:
 * - auto-pipelining off: each operation is its own HTTP request, so it is not delayed to batch with
 *   unrelated calls and a failed batch cannot fail unrelated operations together;
 * - a short retry only for requests that got no HTTP answer at all (connection refused/reset, e.g. a
 *   stale keep-alive socket after a Lambda thaw) instead of the client's default of 5 retries over
 *   about 4 s: a lease's clock is already running, and core owns waiting and backoff. Retrying is safe:
 *   acquire by the same owner and extend are idempotent; a retried release that had already been
 *   applied reports `false`;
 * - no automatic deserialization: the replies are integers and need none.
 * A client you pass in is used as configured (auto-pipelining and deserialization on work too).
 *
 * @example
 * ```ts
 * import { createLocker } from '@leasehold/core';
 * import { upstashStore } from '@leasehold/upstash';
 *
 * const locker = createLocker({
 *   store: upstashStore({
 *     url: process.env.UPSTASH_REDIS_REST_URL!,
 *     token: process.env.UPSTASH_REDIS_REST_TOKEN!,
 *   }),
 *   ttlMs: 10_000,
 * });
 * await locker.withLock('payment:order-42', async (lease) => charge(lease.token));
 * ```
 */
export function upstashStore(options: UpstashStoreOptions): UpstashLockStore {
  const [redis, prefix, secrets, requestTimeoutMs] = resolveOptions(options);
  const names = (key: string) => upstashKeyNames(key, prefix);
  /** The script this store runs: with the `allow-key-locking` flag until a server refuses the flag. */
  let [script, sha] = [SCRIPT, SCRIPT_SHA1];
  /**
   * The server's error text: without the command @upstash/redis appends (`, command was: [...]`), which
   * repeats the script (shebang included) and the key names, so they can never match a pattern.
   */
  const message = (err: unknown) => String((err as Error | undefined)?.message).split(', command was:')[0]!;
  /**
   * `EVALSHA`, and `EVAL` (which caches the script again) after a `NOSCRIPT` answer. A server that
   * refuses the flag's shebang ran nothing: the store switches to the plain script for good.
   */
  const exec = (keys: string[], args: unknown[]): Promise<unknown> =>
    redis.evalsha(sha, keys, args).catch((err: unknown) => {
      if (!/\bNOSCRIPT\b/.test(message(err))) throw err;
      // The script this call sends: another call's refusal may switch the store's meanwhile.
      const sent = script;
      return redis.eval(sent, keys, args).catch((refused: unknown) => {
        const text = message(refused);
        // Refused before it ran (an unknown shebang flag, or no shebangs at all): only then is it safe
        // to send the other script. A server that says the flag "is set" knows it: that is Upstash
        // stopping the script, perhaps part-run, under the flag's rules ("Dynamic keys are not allowed
        // in Lua scripts when 'allow-key-locking' flag is set"), not a refusal.
        if (
          sent === PLAIN_SCRIPT ||
          !/shebang|allow-key-locking|near '#'/i.test(text) ||
          /flag is set/i.test(text)
        ) {
          throw refused;
        }
        [script, sha] = [PLAIN_SCRIPT, PLAIN_SCRIPT_SHA1];
        return redis.eval(PLAIN_SCRIPT, keys, args);
      });
    });
  /** How many times close() was called: a wait that started before one ends at once. */
  let closes = 0;
  /** One release subscription per key with waiters, shared by them and kept briefly for the next wait. */
  const channels = new Map<string, ReleaseChannel>();
  /**
   * Channels whose subscription failed: out of `channels` (the next wait subscribes afresh), but their
   * waiters, woken by the next poll, are still pending, and close() must end them too.
   */
  const polling = new Set<ReleaseChannel>();

  function openChannel(key: string): ReleaseChannel {
    const { lock, channel: name } = names(key);
    /** The `finish` of each pending wait, with its claim. */
    const waiters = new Map<() => void, Claim | undefined>();
    /** Highest token announced as released since the subscription started. */
    let released = 0;
    /** The latest hand-overs seen, newest first (a message can beat the "held" reply that precedes the wait). */
    const grants: Array<[sha: string, token: number]> = [];
    let linger: ReturnType<typeof setTimeout> | undefined;
    let subscriber: ReturnType<UpstashRedisClient['subscribe']> | undefined;
    /** When the subscription was opened or last carried anything (`Date.now()`). */
    let heard = Date.now();
    /** The token of a hand-over seen to `claim`'s owner, above the holder token it saw. */
    const handed = (claim?: Claim) =>
      claim && grants.find(([sha, token]) => sha === claim.sha && token > claim.above)?.[1];
    /** Finishes the waits whose claim passes `test`: every wait by default. */
    const wake = (test: (claim?: Claim) => unknown = () => 1) => {
      // Each `finish` deletes itself, which a Map's iteration allows.
      for (const [finish, claim] of waiters) if (test(claim)) finish();
    };
    /** Ends the subscription and forgets the channel (once); its waiters keep their own timers. */
    const drop = () => {
      clearTimeout(linger);
      if (channels.get(key) === channel) {
        channels.delete(key);
        // Aborts the server-sent-events request and removes the listeners; never rejects in
        // practice, but stay safe.
        subscriber?.unsubscribe().catch(noop);
      }
    };
    // A failed subscription falls back to polling: its waiters (including the one about to join, if
    // subscribing failed at once) wake after a short interval, or their own shorter timeout, so the
    // caller's next attempt sees an outage or a free lock promptly without a hot retry loop. The
    // channel is dropped at once, so the next wait subscribes afresh.
    const fallBack = () => {
      drop();
      polling.add(channel);
      poll = setTimeout(() => {
        polling.delete(channel);
        wake();
      }, POLL_FALLBACK_MS);
    };
    let poll: ReturnType<typeof setTimeout> | undefined;
    const channel: ReleaseChannel = {
      held: 0,
      silent: () => Date.now() - heard > SUBSCRIPTION_SILENCE_MS,
      wait: (timeoutMs, signal, claim) =>
        new Promise<number | undefined>((resolve) => {
          /** Every way a wait ends; it answers the hand-over to its claim, if one was seen. */
          const finish = () => {
            if (!waiters.delete(finish)) return;
            clearTimeout(timer);
            signal?.removeEventListener('abort', finish);
            // Only for the live subscription: a dropped one (polling) has nothing to keep, and its
            // timer would outlive close().
            if (!waiters.size && channels.get(key) === channel)
              linger = setTimeout(drop, SUBSCRIPTION_LINGER_MS);
            resolve(handed(claim));
          };
          clearTimeout(linger);
          waiters.set(finish, claim);
          // Core asks for about a second at most; a direct caller's longer wait is capped at
          // setTimeout's limit (2^31 - 1 ms) instead of overflowing into an immediate wake-up.
          const timer = setTimeout(finish, Math.min(timeoutMs, 2 ** 31 - 1));
          signal?.addEventListener('abort', finish);
          // Already handed over to this claim, or announced: the holder this store last saw has
          // released since (messages can beat the "held" reply, which comes back on another connection).
          // An abort before the listener was added never fires it.
          if (signal?.aborted || handed(claim) || (channel.held > 0 && released >= channel.held)) finish();
        }),
      close() {
        // A channel polling after a failed subscription keeps no timer running after close().
        clearTimeout(poll);
        polling.delete(channel);
        wake();
        drop();
      },
    };
    channels.set(key, channel);
    try {
      subscriber = redis.subscribe(name);
      subscriber.on('message', ({ message }) => {
        heard = Date.now();
        const text = String(message);
        if (text[0] === 'g') {
          // Handed over (`g<sha>:<token>`): only the waiter it was handed to wakes; for everyone else
          // it is held again.
          const [sha, t] = text.split(':') as [string, string?];
          const token = Number(t);
          if (isSafeInteger(token)) {
            grants.unshift([sha, token]);
            grants.splice(REMEMBERED_GRANTS);
            wake(handed);
          }
        } else {
          const token = Number(text);
          if (isSafeInteger(token) && token > released) released = token;
          // An older holder's release says nothing about the one last seen; anything else wakes everyone.
          if (!(token < channel.held)) wake();
        }
      });
      subscriber.on('subscribe', () => {
        heard = Date.now();
        // A release or hand-over published before the subscription was active was missed: one GET
        // tells whether the lock is free (everyone asks again) or was handed to one of these waiters
        // (it asks again, and its acquire finds the lock its own).
        redis
          .get(lock)
          .then((holder) => wake((claim) => holder === null || claim?.owner === String(holder)), noop);
      });
      subscriber.on('error', fallBack);
    } catch {
      fallBack();
    }
    return channel;
  }

  /**
   * Run an operation: the script on the first `keyCount` names of `key` (their number picks the
   * operation, see {@link SCRIPT}). Any failure becomes a {@link StoreError} without secrets. The reply
   * (a bare integer is taken as a list of one) must be safe integers, or their canonical text (a proxy
   * may stringify numbers), for which `valid` holds, else it is a `bad-response`; it is returned as
   * numbers. `args` are strings, sent verbatim: a JSON number such as the 16-digit clock floor would
   * rely on the REST server writing it back as exact integer text (not `1.7e+15`), which the script
   * stores in the fence counter.
   */
  async function run(
    op: Operation,
    key: string,
    keyCount: number,
    args: string[],
    valid: (reply: number[]) => boolean,
  ): Promise<number[]> {
    let reply: unknown;
    try {
      const sent = exec(Object.values(names(key)).slice(0, keyCount), args);
      reply = await (requestTimeoutMs ? bounded(sent, requestTimeoutMs) : sent);
    } catch (err) {
      // The first argument, when there is one, is the owner id: a secret.
      throw toStoreError(err, op, key, [args[0] as string | undefined, ...secrets]);
    }
    // A `signal` given to the client (not its function form) that aborted makes @upstash/redis answer
    // with a made-up reply holding the abort reason, without sending anything: a timeout, whatever the
    // reason reads like (an abort with reason `1` would otherwise read as "extended", `[1, 7]` as
    // "acquired with token 7"). A real answer that came just before the abort is reported the same:
    // outcome unknown, never a grant nobody made.
    const { signal } =
      (redis as { client?: { options?: { signal?: { aborted?: unknown } } } }).client?.options ?? {};
    if (signal?.aborted === true) throw toStoreError('aborted by the client signal', op, key, [], 'timeout');
    // Checked field by field, not as text against a pattern: joining the reply and running a regular
    // expression on it measured ~2.5% of an uncontended cycle on its own. Not `[reply].flat()` either.
    const numbers = (Array.isArray(reply) ? reply : [reply]).map(integer);
    // Without echoing the reply.
    if (!numbers.every(isSafeInteger) || !valid(numbers)) {
      throw toStoreError('unexpected reply', op, key, [], 'bad-response');
    }
    return numbers;
  }

  /** An operation that answers `1` (done) or `0` (not held by this owner). */
  const flag = async (op: Operation, key: string, keyCount: number, args: string[]) =>
    (await run(op, key, keyCount, args, isFlag))[0] === 1;

  /** Runs RELEASE (also how a waiter withdraws); a plain function, so detached methods work too. */
  const release = (key: string, owner: string, token: number) =>
    flag('release', key, 5, [owner, `${token}`, `${Date.now()}`]);

  // Core validates keys, owners, tokens and durations before it calls a store: no second check here.
  return {
    name: STORE_NAME,
    prefix,
    keyNames: names,

    async acquire({ key, owner, ttlMs, queueMs = 0 }) {
      const now = Date.now();
      // ARGV[3] is the clock floor of a new fence counter: this client's epoch ms × 1000. The reply
      // is `1,<token ≥ 1>` (acquired) or `0,<pttl>,<fence>` (held).
      const [acquired, a, b] = (await run(
        'acquire',
        key,
        4,
        [owner, `${ttlMs}`, `${now * 1000}`, `${queueMs}`, `${now}`],
        isAcquireReply,
      )) as [number, number, number?];
      if (acquired) return { acquired: true, token: a };
      const channel = channels.get(key);
      if (channel) channel.held = b!;
      return { acquired: false, ...(a >= 0 && { holderRemainingMs: a }), ...(b! > 0 && { holderToken: b! }) };
    },

    extend: ({ key, owner, ttlMs }) => flag('extend', key, 1, [owner, `${ttlMs}`]),

    release: ({ key, owner, token }) => release(key, owner, token),

    async withdraw(key, owner) {
      // RELEASE leaves the queue first, and frees the lock if it was handed to this owner meanwhile.
      await release(key, owner, 0);
    },

    async inspect(key): Promise<LockState> {
      const sentAt = Date.now();
      const [pttl, token] = (await run('inspect', key, 2, [], isPair)) as [number, number];
      return {
        key,
        // -2: free; -1: held without expiry (never written by Leasehold); else the remaining ms.
        held: pttl >= -1,
        ...(token > 0 && { token }),
        // PTTL was measured at some instant after `sentAt`: this estimate is never later than the
        // real expiry (give or take the skew between this clock and Redis's).
        ...(pttl >= 0 && { expiresAt: sentAt + pttl, remainingMs: pttl }),
      };
    },

    async waitForRelease(key, timeoutMs, signal, claim) {
      if (signal?.aborted || !(timeoutMs > 0)) return undefined;
      const closesBefore = closes;
      const mine = claim && { ...claim, sha: `g${await sha1hex(claim.owner)}` };
      // Closed while the SHA-1 was computed: no new subscription after close().
      if (closes !== closesBefore) return undefined;
      let channel = channels.get(key);
      // Renewed after a silence (see SUBSCRIPTION_SILENCE_MS): its waiters wake and ask again.
      if (channel?.silent()) {
        channel.close();
        channel = undefined;
      }
      return (channel ?? openChannel(key)).wait(timeoutMs, signal, mine);
    },

    async close() {
      closes++;
      for (const channel of [...channels.values(), ...polling]) channel.close();
    },
  };
}

/**
 * `request`, or a rejection named `TimeoutError` (a `'timeout'` StoreError) after `ms`. The request
 * itself goes on (the client has no way to cancel it): its late answer is dropped, and a late grant
 * is what core's withdraw of the timed-out acquire frees.
 */
function bounded<T>(request: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new Error(`no answer within requestTimeoutMs (${ms} ms)`);
      error.name = 'TimeoutError';
      reject(error);
    }, ms);
    request.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/**
 * Validate the options (user input: each failure names the option and what it expects, and never
 * echoes the token), and create the client if needed. Returns the client, the prefix and the texts no
 * error may contain.
 */
function resolveOptions(
  options: UpstashStoreOptions,
): [UpstashRedisClient, string, string[], number | undefined] {
  const {
    redis,
    url,
    token,
    prefix = DEFAULT_PREFIX,
    requestTimeoutMs,
  } = (options ?? {}) as Record<string, unknown>;
  const check = (ok: unknown, argument: string, message: string) => {
    if (!ok) throw new InvalidArgumentError(argument, message);
  };
  check(
    typeof options === 'object' &&
      options &&
      (redis === undefined || (url === undefined && token === undefined)),
    'options',
    'expected { redis } or { url, token }',
  );
  check(
    typeof prefix === 'string' && isPlainPrefix(prefix),
    'prefix',
    'must be a string of A-Z a-z 0-9 _ . : @ = -',
  );
  check(
    // A timer cannot hold more than 2^31 - 1 ms: a longer one fires after 1 ms.
    requestTimeoutMs === undefined ||
      (Number.isSafeInteger(requestTimeoutMs) &&
        (requestTimeoutMs as number) > 0 &&
        (requestTimeoutMs as number) < 2 ** 31),
    'requestTimeoutMs',
    'must be an integer from 1 to 2147483647 (ms)',
  );
  const timeout = requestTimeoutMs as number | undefined;
  if (redis !== undefined) {
    const r = redis as Partial<Record<keyof UpstashRedisClient, unknown>> | null;
    check(typeof r?.evalsha === 'function', 'redis', 'must be an @upstash/redis client');
    return [redis as UpstashRedisClient, prefix as string, [], timeout];
  }
  // The rule @upstash/redis applies, checked here so that a bad URL (a redis:// one holds the
  // password) fails as an InvalidArgumentError that does not echo it.
  const restUrl = String(url).trim();
  check(
    /^https?:\/\/[^\s#$./?]\S+$/.test(restUrl),
    'url',
    'must be the https:// REST URL (UPSTASH_REDIS_REST_URL)',
  );
  check(
    // Credentials in it (`https://user:password@…`): fetch refuses the URL, quoting it whole.
    !/^https?:\/\/[^/?#]*@/.test(restUrl),
    'url',
    'must not carry credentials (user:password@): the REST URL has none, the REST token goes in `token`',
  );
  check(
    typeof token === 'string' && /^\S+$/.test(token),
    'token',
    'must be the REST token (UPSTASH_REDIS_REST_TOKEN), no spaces',
  );
  const client = new Redis({
    url: restUrl,
    token: token as string,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    // Retries of a request whose fetch itself failed (no HTTP answer): 2 more tries after 25 and 100 ms.
    retry: { retries: 2, backoff: (retryCount) => 25 * 4 ** retryCount },
  });
  return [client, prefix as string, [token as string], timeout];
}
