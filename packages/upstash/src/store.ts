import { InvalidArgumentError, type LockState, type LockStore, type StoreClaim } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { badReply, type Operation, STORE_NAME, toStoreError } from './errors.js';
import { DEFAULT_PREFIX, type UpstashKeyNames, upstashKeyNames } from './keys.js';
import { runScript, SCRIPTS, sha1hex } from './scripts.js';

/**
 * The part of an `@upstash/redis` client the store uses: pass any `Redis` instance (from
 * `@upstash/redis`, `@upstash/redis/cloudflare` or `@upstash/redis/fastly`), with any settings.
 *
 * @example
 * ```ts
 * import { Redis } from '@upstash/redis';
 * import type { UpstashRedisClient } from '@leasehold/upstash';
 * const redis: UpstashRedisClient = Redis.fromEnv();
 * ```
 */
export type UpstashRedisClient = Pick<Redis, 'eval' | 'evalsha' | 'get' | 'subscribe'>;

/**
 * Options of {@link upstashStore}: either an `@upstash/redis` client you configured, or the REST `url`
 * and `token` of the database (the store then creates a client with the settings documented on
 * {@link upstashStore}). `prefix` (default `'leasehold:'`) starts every key and channel name.
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
  | { readonly redis: UpstashRedisClient }
  | { readonly url: string; readonly token: string }
) & { readonly prefix?: string };

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

/** Longest delay `setTimeout` takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Poll interval when the release subscription fails (stream refused or dropped). */
const POLL_FALLBACK_MS = 250;
/** How long a key's release subscription outlives its last waiter, ready for the next wait. */
const SUBSCRIPTION_LINGER_MS = 500;

/** Hand-overs remembered per channel, for waits that start after their message arrived. */
const REMEMBERED_GRANTS = 8;

/** A waiter's claim as the channel sees it: the SHA-1 of its owner id and the token to beat. */
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
  const [redis, prefix, secrets] = resolveOptions(options);
  const names = (key: string) => upstashKeyNames(key, prefix);
  /** One release subscription per key with waiters, shared by them and kept briefly for the next wait. */
  const channels = new Map<string, ReleaseChannel>();

  function openChannel(key: string): ReleaseChannel {
    const { lock, channel: name } = names(key);
    /** The `finish` of each pending wait, with its claim. */
    const waiters = new Map<(token?: number) => void, Claim | undefined>();
    /** Highest token announced as released since the subscription started. */
    let released = 0;
    /** The latest hand-overs seen (a message can beat the "held" reply that precedes the wait). */
    const grants: Array<[sha: string, token: number]> = [];
    let linger: ReturnType<typeof setTimeout> | undefined;
    let subscriber: ReturnType<UpstashRedisClient['subscribe']> | undefined;
    const wake = () => {
      // Each `finish` deletes itself, which a Map's iteration allows.
      for (const finish of waiters.keys()) finish();
    };
    /** Ends the subscription and forgets the channel; its waiters keep their own timers. */
    const drop = () => {
      clearTimeout(linger);
      if (channels.get(key) === channel) channels.delete(key);
      // Aborts the server-sent-events request and removes the listeners; never rejects in practice,
      // but stay safe.
      subscriber?.unsubscribe().catch(() => undefined);
    };
    // A failed subscription falls back to polling: its waiters (including the one about to join, if
    // subscribing failed at once) wake after a short interval, or their own shorter timeout, so the
    // caller's next attempt sees an outage or a free lock promptly without a hot retry loop. The
    // channel is dropped at once, so the next wait subscribes afresh.
    const fallBack = () => {
      drop();
      setTimeout(wake, POLL_FALLBACK_MS);
    };
    const channel: ReleaseChannel = {
      held: 0,
      wait: (timeoutMs, signal, claim) =>
        new Promise<number | undefined>((resolve) => {
          // Already handed over to this claim, or announced: the holder this store last saw has
          // released since (messages can beat the "held" reply, which comes back on another connection).
          const handed = claim && grants.find(([sha, token]) => sha === claim.sha && token > claim.above);
          if (handed) return resolve(handed[1]);
          if (channel.held > 0 && released >= channel.held) return resolve(undefined);
          clearTimeout(linger);
          const finish = (token?: number) => {
            if (!waiters.delete(finish)) return;
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            if (waiters.size === 0 && channels.get(key) === channel) {
              linger = setTimeout(drop, SUBSCRIPTION_LINGER_MS);
            }
            resolve(token);
          };
          const onAbort = () => finish();
          waiters.set(finish, claim);
          const timer = setTimeout(onAbort, Math.min(timeoutMs, MAX_TIMER_MS));
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      close() {
        wake();
        drop();
      },
    };
    channels.set(key, channel);
    try {
      subscriber = redis.subscribe(name);
      subscriber.on('message', ({ message }) => {
        const text = String(message);
        if (text[0] === 'g') {
          // Handed over: only the waiter it was handed to wakes; for everyone else it is held again.
          const [sha = '', t] = text.slice(1).split(':');
          const token = Number(t);
          if (!Number.isSafeInteger(token)) return;
          grants.unshift([sha, token]);
          grants.length = Math.min(grants.length, REMEMBERED_GRANTS);
          for (const [finish, claim] of waiters) {
            if (claim?.sha === sha && token > claim.above) finish(token);
          }
          return;
        }
        const token = Number(text);
        if (Number.isSafeInteger(token) && token > released) released = token;
        // An older holder's release says nothing about the one last seen; anything else wakes everyone.
        if (!(token < channel.held)) wake();
      });
      subscriber.on('subscribe', () => {
        // A release or hand-over published before the subscription was active was missed: one GET
        // tells whether the lock is free (everyone asks again) or was handed to one of these waiters
        // (it asks again, and its acquire finds the lock its own).
        redis.get(lock).then((holder) => {
          for (const [finish, claim] of waiters)
            if (holder === null || claim?.owner === String(holder)) finish();
        }, noop);
      });
      subscriber.on('error', fallBack);
    } catch {
      fallBack();
    }
    return channel;
  }

  /**
   * Run an operation's script; any failure becomes a {@link StoreError} without secrets. Numbers in
   * `args` travel as JSON numbers and reach the script as strings, like every `ARGV`.
   */
  async function run(op: Operation, key: string, keys: string[], args: unknown[] = []) {
    try {
      return await runScript(redis, SCRIPTS[op], keys, args);
    } catch (err) {
      // The first argument, when there is one, is the owner id: a secret.
      throw toStoreError(err, op, key, [args[0] as string | undefined, ...secrets]);
    }
  }

  /** Run a script that answers `1` (done) or `0` (not held by this owner). */
  async function runFlag(op: Operation, key: string, keys: string[], args: unknown[]): Promise<boolean> {
    const [n] = integers([await run(op, key, keys, args)]);
    if (n !== 0 && n !== 1) throw badReply(op, key);
    return n === 1;
  }

  /** Runs RELEASE (also how a waiter withdraws); a plain function, so detached methods work too. */
  const release = (key: string, owner: string, token: number) => {
    const { lock, channel, queue, waiters, fence } = names(key);
    return runFlag('release', key, [lock, channel, queue, waiters, fence], [owner, token, Date.now()]);
  };

  // Core validates keys, owners, tokens and durations before it calls a store: no second check here.
  return {
    name: STORE_NAME,
    prefix,
    keyNames: names,

    async acquire({ key, owner, ttlMs, queueMs = 0 }) {
      const { lock, fence, queue, waiters } = names(key);
      const now = Date.now();
      // ARGV[3] is the clock floor of a new fence counter: this client's epoch ms × 1000.
      const reply = await run(
        'acquire',
        key,
        [lock, fence, queue, waiters],
        [owner, ttlMs, now * 1000, queueMs, now],
      );
      const v = integers(reply);
      if (v[0] === 1 && v.length === 2 && v[1]! > 0) return { acquired: true, token: v[1]! };
      if (v[0] !== 0 || v.length !== 3) throw badReply('acquire', key);
      const [, pttl, token] = v as [0, number, number];
      const channel = channels.get(key);
      if (channel) channel.held = token;
      return {
        acquired: false,
        ...(pttl >= 0 ? { holderRemainingMs: pttl } : {}),
        ...(token > 0 ? { holderToken: token } : {}),
      };
    },

    extend({ key, owner, ttlMs }) {
      return runFlag('extend', key, [names(key).lock], [owner, ttlMs]);
    },

    release: ({ key, owner, token }) => release(key, owner, token),

    async withdraw(key, owner) {
      // RELEASE leaves the queue first, and frees the lock if it was handed to this owner meanwhile.
      await release(key, owner, 0);
    },

    async inspect(key): Promise<LockState> {
      const { lock, fence } = names(key);
      const sentAt = Date.now();
      const v = integers(await run('inspect', key, [lock, fence]));
      if (v.length !== 2) throw badReply('inspect', key);
      const [pttl, token] = v as [number, number];
      return {
        key,
        // -2: free; -1: held without expiry (never written by Leasehold); else the remaining ms.
        held: pttl >= -1,
        ...(token > 0 ? { token } : {}),
        // PTTL was measured at some instant after `sentAt`: this estimate is never later than the
        // real expiry (give or take the skew between this clock and Redis's).
        ...(pttl >= 0 ? { expiresAt: sentAt + pttl, remainingMs: pttl } : {}),
      };
    },

    async waitForRelease(key, timeoutMs, signal, claim) {
      if (signal?.aborted || !(timeoutMs > 0)) return undefined;
      const mine = claim && { ...claim, sha: await sha1hex(claim.owner) };
      return (channels.get(key) ?? openChannel(key)).wait(timeoutMs, signal, mine);
    },

    async close() {
      for (const channel of channels.values()) channel.close();
    },
  };
}

/**
 * Validate the options (user input: each failure names the option and what it expects, and never
 * echoes the token), and create the client if needed. Returns the client, the prefix and the texts no
 * error may contain.
 */
function resolveOptions(options: UpstashStoreOptions): [UpstashRedisClient, string, string[]] {
  const { redis, url, token, prefix = DEFAULT_PREFIX } = (options ?? {}) as Record<string, unknown>;
  if (
    typeof options !== 'object' ||
    !options ||
    (redis !== undefined && (url !== undefined || token !== undefined))
  ) {
    throw new InvalidArgumentError('options', 'expected { redis } or { url, token }');
  }
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string');
  if (redis !== undefined) {
    const r = redis as Partial<Record<keyof UpstashRedisClient, unknown>> | null;
    if (typeof r?.evalsha !== 'function' || typeof r.eval !== 'function') {
      throw new InvalidArgumentError('redis', 'must be an @upstash/redis client');
    }
    return [redis as UpstashRedisClient, prefix, []];
  }
  // The rule @upstash/redis applies, checked here so that a bad URL (a redis:// one holds the
  // password) fails as an InvalidArgumentError that does not echo it.
  const restUrl = String(url).trim();
  if (!/^https?:\/\/[^\s#$./?]\S+$/.test(restUrl)) {
    throw new InvalidArgumentError('url', 'must be the https:// REST URL (UPSTASH_REDIS_REST_URL)');
  }
  if (typeof token !== 'string' || !/^\S+$/.test(token)) {
    throw new InvalidArgumentError('token', 'must be the REST token (UPSTASH_REDIS_REST_TOKEN), no spaces');
  }
  const client = new Redis({
    url: restUrl,
    token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    // Retries of a request whose fetch itself failed (no HTTP answer): 2 more tries after 25 and 100 ms.
    retry: { retries: 2, backoff: (retryCount) => 25 * 4 ** retryCount },
  });
  return [client, prefix, [token]];
}

/**
 * A script's reply as integers, or `[]` when it is not an array of safe integers only (numeric
 * strings accepted: a proxy may stringify numbers).
 */
function integers(reply: unknown): number[] {
  const values = (Array.isArray(reply) ? reply : []).map((v) =>
    typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v,
  );
  return values.every(Number.isSafeInteger) ? values : [];
}
