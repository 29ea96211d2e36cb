/**
 * The default prefix of every Redis key and channel Leasehold writes.
 *
 * @example
 * ```ts
 * import { DEFAULT_PREFIX, upstashStore } from '@leasehold/upstash';
 * const store = upstashStore({ redis, prefix: `${DEFAULT_PREFIX}tenant-a:` });
 * ```
 */
export const DEFAULT_PREFIX = 'leasehold:';

/**
 * The Redis names used for one lock key (see {@link upstashKeyNames}).
 *
 * @example
 * ```ts
 * const { lock, fence, channel }: UpstashKeyNames = upstashKeyNames('job:nightly');
 * await redis.pttl(lock); // remaining lease time, for a dashboard
 * ```
 */
export interface UpstashKeyNames {
  /** The lock itself: a string holding the owner id, with a millisecond (`PX`) expiry. */
  readonly lock: string;
  /** The fence counter: the last fencing token issued for the key. Never expires. */
  readonly fence: string;
  /** The waiters queued for a hand-over: a sorted set of owner ids by arrival (expires when idle). */
  readonly queue: string;
  /** Each queued waiter's TTL and eligibility: a hash of owner id → `ttl:until` (expires when idle). */
  readonly waiters: string;
  /**
   * The pub/sub channel on which a release publishes the released token, or `g<sha1 of the owner
   * id>:<token>` when it handed the lock to a queued waiter.
   */
  readonly channel: string;
}

/** What a prefix and a key keep as they are in the Redis names: see {@link upstashKeyNames}. */
const PLAIN = /^[\w.:@=-]*$/;
const encoder = new TextEncoder();

/**
 * `key` with every character but `A-Z a-z 0-9 _ . : @ = -` written as `~XX`, one per UTF-8 byte (`~`
 * too, so distinct keys keep distinct names). The release channel travels in the `/subscribe/<channel>`
 * URL path, which @upstash/redis does not encode, and comes back in `message,<channel>,<payload>` lines
 * that it splits at commas: a `/`, `?`, `#`, `%`, `\` or `,` in it sent the subscription elsewhere or
 * garbled the messages, and waiters slept until their next check.
 */
const escapeKey = (key: string): string =>
  PLAIN.test(key)
    ? key
    : Array.from(encoder.encode(key), (byte) => {
        const char = String.fromCharCode(byte);
        return PLAIN.test(char) ? char : `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }).join('');

/**
 * True when `prefix` may prefix the Redis names: only `A-Z a-z 0-9 _ . : @ = -` (see
 * {@link upstashKeyNames}).
 */
export const isPlainPrefix = (prefix: string): boolean => PLAIN.test(prefix);

/**
 * The Redis key names and release channel for a lock key. All share the `{key}` hash tag, so a
 * clustered Redis keeps them in one slot: `${prefix}{${key}}`, `…:fence`, `…:queue`, `…:waiters`
 * and `…:released`, where a key's characters other than `A-Z a-z 0-9 _ . : @ = -` are written as
 * `~XX`, one per UTF-8 byte (`'tenant/7'` → `{tenant~2F7}`): the names then travel unchanged in an
 * Upstash REST URL path and server-sent-events line.
 *
 * @example
 * ```ts
 * import { upstashKeyNames } from '@leasehold/upstash';
 * upstashKeyNames('payment:order-42');
 * // { lock: 'leasehold:{payment:order-42}', fence: 'leasehold:{payment:order-42}:fence',
 * //   queue: '…:queue', waiters: '…:waiters', channel: 'leasehold:{payment:order-42}:released' }
 * ```
 */
export function upstashKeyNames(key: string, prefix: string = DEFAULT_PREFIX): UpstashKeyNames {
  const lock = `${prefix}{${escapeKey(key)}}`;
  // In the order of the scripts' KEYS: each script takes a prefix of `Object.values` of this object.
  return {
    lock,
    fence: `${lock}:fence`,
    queue: `${lock}:queue`,
    waiters: `${lock}:waiters`,
    channel: `${lock}:released`,
  };
}

/**
 * The pub/sub channel on which releasing `key` publishes the released fencing token. Subscribe to it
 * (e.g. `redis.subscribe(releaseChannel(key))`) to learn that a lock was freed without polling.
 *
 * @example
 * ```ts
 * import { releaseChannel } from '@leasehold/upstash';
 * const sub = redis.subscribe(releaseChannel('booking:e1/s12'));
 * sub.on('message', ({ message }) => console.log('released, token', message));
 * ```
 */
export function releaseChannel(key: string, prefix: string = DEFAULT_PREFIX): string {
  return upstashKeyNames(key, prefix).channel;
}
