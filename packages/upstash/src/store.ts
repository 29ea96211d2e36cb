import {
  InvalidArgumentError,
  type LockState,
  type LockStore,
  type StoreAcquireRequest,
  type StoreAcquireResult,
  type StoreExtendRequest,
  type StoreLeaseRequest,
} from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { badReply, type Operation, STORE_NAME, toStoreError } from './errors.js';
import { DEFAULT_PREFIX, type UpstashKeyNames, upstashKeyNames } from './keys.js';
import { type LuaScript, runScript, SCRIPTS } from './scripts.js';

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
export type UpstashRedisClient = Pick<Redis, 'eval' | 'evalsha' | 'exists' | 'subscribe'>;

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
   * when `signal` aborts (it resolves then too; the caller checks its signal). Never rejects: if the
   * subscription fails it falls back to polling, resolving after at most 250 ms (or `timeoutMs`, if
   * shorter). Waits on one key share one server-sent-events stream, which stays open 500 ms after the
   * last of them ends so that the next wait needs no new request; `close()` ends it at once.
   */
  waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Ends every pending `waitForRelease` (they resolve) and closes their streams. */
  close(): Promise<void>;
}

/** Retries of a request whose fetch itself failed (no HTTP answer): 2 more tries after 25 and 100 ms. */
const FETCH_RETRY = { retries: 2, backoff: (retryCount: number) => 25 * 4 ** retryCount };
const MAX_TIMER_MS = 2_147_483_647;
/** Poll interval when the release subscription fails (stream refused or dropped). */
const POLL_FALLBACK_MS = 250;
/** How long a key's release subscription outlives its last waiter, ready for the next wait. */
const SUBSCRIPTION_LINGER_MS = 500;

/** A key's shared release subscription and the waiters it wakes. */
interface ReleaseChannel {
  readonly waiters: Set<() => void>;
  /** Highest token announced as released since the subscription started. */
  released: number;
  /** The holder's token from this store's last "held" answer for the key while subscribed. */
  held: number;
  linger: ReturnType<typeof setTimeout> | undefined;
  wake(): void;
  drop(): void;
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
  const { redis, prefix, secrets } = resolveOptions(options);
  const names = (key: string) => upstashKeyNames(key, prefix);
  const scriptTexts = Object.values(SCRIPTS).map((s) => s.text);
  const secretsWith = (owner?: string) =>
    owner === undefined ? [...secrets, ...scriptTexts] : [owner, ...secrets, ...scriptTexts];
  /** One release subscription per key with waiters, shared by them and kept briefly for the next wait. */
  const channels = new Map<string, ReleaseChannel>();

  function openChannel(key: string): ReleaseChannel {
    const n = names(key);
    let subscriber: ReturnType<UpstashRedisClient['subscribe']> | undefined;
    const channel: ReleaseChannel = {
      waiters: new Set(),
      released: 0,
      held: 0,
      linger: undefined,
      wake: () => {
        for (const finish of [...channel.waiters]) finish();
      },
      drop: () => {
        clearTimeout(channel.linger);
        if (channels.get(key) === channel) channels.delete(key);
        if (subscriber !== undefined) {
          subscriber.removeAllListeners();
          // Aborts the server-sent-events request; never throws in practice, but stay safe.
          subscriber.unsubscribe().catch(() => undefined);
          subscriber = undefined;
        }
      },
    };
    channels.set(key, channel);
    // A failed subscription falls back to polling: the current waiters wake after a short interval
    // (or their own, shorter timeout) so the caller's next attempt sees an outage or a free lock
    // promptly, without turning into a hot retry loop; the next wait subscribes afresh.
    const fallBack = () => {
      const stranded = [...channel.waiters];
      channel.drop();
      setTimeout(() => {
        for (const finish of stranded) finish();
      }, POLL_FALLBACK_MS);
    };
    try {
      subscriber = redis.subscribe(n.channel);
    } catch {
      fallBack();
      return channel;
    }
    subscriber.on('message', ({ message }) => {
      const token = Number(message);
      if (Number.isSafeInteger(token) && token > channel.released) channel.released = token;
      // An older holder's release says nothing about the one last seen; anything else wakes everyone.
      if (!(token < channel.held)) channel.wake();
    });
    // Close the race with a release that happened before the subscription was active: once the
    // server confirms it, one EXISTS tells whether the lock is already free.
    subscriber.on('subscribe', () => {
      redis.exists(n.lock).then(
        (count) => {
          if (Number(count) === 0) channel.wake();
        },
        () => undefined,
      );
    });
    subscriber.on('error', fallBack);
    return channel;
  }

  async function run(
    op: Operation,
    key: string,
    script: LuaScript,
    keys: string[],
    args: string[],
    owner?: string,
  ) {
    try {
      return await runScript(redis, script, keys, args);
    } catch (err) {
      throw toStoreError(err, op, key, secretsWith(owner));
    }
  }

  return {
    name: STORE_NAME,
    prefix,
    keyNames: names,

    async acquire(request: StoreAcquireRequest): Promise<StoreAcquireResult> {
      const { key, owner, ttlMs } = request;
      checkKey(key);
      checkOwner(owner);
      checkTtl(ttlMs);
      const n = names(key);
      const floor = Date.now() * 1000;
      const reply = await run(
        'acquire',
        key,
        SCRIPTS.acquire,
        [n.lock, n.fence],
        [owner, String(ttlMs), String(floor)],
        owner,
      );
      const values = integers(reply);
      if (values?.[0] === 1 && values.length === 2) {
        const token = values[1]!;
        if (token < 1) throw badReply('acquire', key, 'the token is not a positive integer');
        return { acquired: true, token };
      }
      if (values?.[0] === 0 && values.length === 3) {
        const pttl = values[1]!;
        const fence = values[2]!;
        const channel = channels.get(key);
        if (channel !== undefined) channel.held = fence;
        return {
          acquired: false,
          ...(pttl >= 0 ? { holderRemainingMs: pttl } : {}),
          ...(fence > 0 ? { holderToken: fence } : {}),
        };
      }
      throw badReply('acquire', key, 'expected [1, token] or [0, pttl, fence]');
    },

    async extend(request: StoreExtendRequest): Promise<boolean> {
      const { key, owner, token, ttlMs } = request;
      checkKey(key);
      checkOwner(owner);
      checkToken(token);
      checkTtl(ttlMs);
      const reply = await run(
        'extend',
        key,
        SCRIPTS.extend,
        [names(key).lock],
        [owner, String(ttlMs)],
        owner,
      );
      return flag(reply, 'extend', key);
    },

    async release(request: StoreLeaseRequest): Promise<boolean> {
      const { key, owner, token } = request;
      checkKey(key);
      checkOwner(owner);
      checkToken(token);
      const n = names(key);
      const reply = await run(
        'release',
        key,
        SCRIPTS.release,
        [n.lock, n.channel],
        [owner, String(token)],
        owner,
      );
      return flag(reply, 'release', key);
    },

    async inspect(key: string): Promise<LockState> {
      checkKey(key);
      const n = names(key);
      const sentAt = Date.now();
      const reply = await run('inspect', key, SCRIPTS.inspect, [n.lock, n.fence], []);
      const values = integers(reply);
      if (values === undefined || values.length !== 2)
        throw badReply('inspect', key, 'expected [pttl, fence]');
      const pttl = values[0]!;
      const fence = values[1]!;
      return {
        key,
        held: pttl >= 0 || pttl === -1,
        ...(fence > 0 ? { token: fence } : {}),
        // PTTL was measured at some instant after `sentAt`: this estimate is never later than the
        // real expiry (give or take the skew between this clock and Redis's).
        ...(pttl >= 0 ? { expiresAt: sentAt + pttl, remainingMs: pttl } : {}),
      };
    },

    waitForRelease(key: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
      checkKey(key);
      return new Promise<void>((resolve) => {
        let ch = channels.get(key);
        // Already announced: the holder this store last saw has released since (the message can beat
        // the "held" reply, which comes back on another connection).
        if (signal?.aborted || !(timeoutMs > 0) || (ch && ch.held > 0 && ch.released >= ch.held)) {
          resolve();
          return;
        }
        ch ??= openChannel(key);
        const channel = ch;
        clearTimeout(channel.linger);
        const finish = () => {
          if (!channel.waiters.delete(finish)) return;
          clearTimeout(timer);
          signal?.removeEventListener('abort', finish);
          if (channel.waiters.size === 0 && channels.get(key) === channel) {
            channel.linger = setTimeout(channel.drop, SUBSCRIPTION_LINGER_MS);
          }
          resolve();
        };
        channel.waiters.add(finish);
        // A subscription that failed at once means polling: wake after a short interval.
        const ms = channels.get(key) === channel ? timeoutMs : Math.min(timeoutMs, POLL_FALLBACK_MS);
        const timer = setTimeout(finish, Math.min(ms, MAX_TIMER_MS));
        signal?.addEventListener('abort', finish, { once: true });
      });
    },

    async close(): Promise<void> {
      for (const channel of [...channels.values()]) {
        channel.wake();
        channel.drop();
      }
    },
  };
}

interface ResolvedOptions {
  readonly redis: UpstashRedisClient;
  readonly prefix: string;
  readonly secrets: readonly string[];
}

function resolveOptions(options: UpstashStoreOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'expected { redis } or { url, token }');
  }
  const raw = options as { redis?: unknown; url?: unknown; token?: unknown; prefix?: unknown };
  let prefix = DEFAULT_PREFIX;
  if (raw.prefix !== undefined) {
    if (typeof raw.prefix !== 'string') throw new InvalidArgumentError('prefix', 'must be a string');
    prefix = raw.prefix;
  }
  if (raw.redis !== undefined) {
    if (raw.url !== undefined || raw.token !== undefined) {
      throw new InvalidArgumentError('options', 'pass either redis or url and token, not both');
    }
    const r = raw.redis as Partial<Record<keyof UpstashRedisClient, unknown>> | null;
    if (
      r === null ||
      typeof r !== 'object' ||
      typeof r.evalsha !== 'function' ||
      typeof r.eval !== 'function'
    ) {
      throw new InvalidArgumentError('redis', 'must be an @upstash/redis Redis instance');
    }
    return { redis: raw.redis as UpstashRedisClient, prefix, secrets: [] };
  }
  if (typeof raw.url !== 'string' || raw.url.trim().length === 0) {
    throw new InvalidArgumentError(
      'url',
      'missing: pass the database REST URL (UPSTASH_REDIS_REST_URL) or a redis client',
    );
  }
  let protocol: string;
  try {
    protocol = new URL(raw.url).protocol;
  } catch {
    throw new InvalidArgumentError('url', 'is not a valid URL; expected https://<database>.upstash.io');
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new InvalidArgumentError(
      'url',
      `must be an http(s) URL (the REST URL, not a redis:// one), got a ${protocol} URL`,
    );
  }
  if (typeof raw.token !== 'string' || raw.token.length === 0) {
    throw new InvalidArgumentError(
      'token',
      'missing: pass the database REST token (UPSTASH_REDIS_REST_TOKEN) or a redis client',
    );
  }
  if (/\s/.test(raw.token)) {
    throw new InvalidArgumentError('token', 'contains whitespace or a line break; check how it was loaded');
  }
  const redis = new Redis({
    url: raw.url.trim(),
    token: raw.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    retry: FETCH_RETRY,
  });
  return { redis, prefix, secrets: [raw.token] };
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError('key', 'must be a non-empty string');
  }
}

function checkOwner(owner: unknown): asserts owner is string {
  if (typeof owner !== 'string' || owner.length === 0) {
    throw new InvalidArgumentError('owner', 'must be a non-empty string');
  }
}

function checkTtl(ttlMs: unknown): void {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new InvalidArgumentError('ttlMs', 'must be a positive integer number of milliseconds');
  }
}

function checkToken(token: unknown): void {
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token <= 0) {
    throw new InvalidArgumentError('token', 'must be a positive integer');
  }
}

/** A script's integer reply, as a number; numeric strings accepted (a proxy may stringify). */
function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^-?\d{1,16}$/.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function integers(reply: unknown): number[] | undefined {
  if (!Array.isArray(reply)) return undefined;
  const out: number[] = [];
  for (const item of reply) {
    const n = integer(item);
    if (n === undefined) return undefined;
    out.push(n);
  }
  return out;
}

function flag(reply: unknown, op: Operation, key: string): boolean {
  const n = integer(reply);
  if (n === 1) return true;
  if (n === 0) return false;
  throw badReply(op, key, 'expected 1 or 0');
}
