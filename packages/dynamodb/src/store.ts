import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { FENCE_STEP, InvalidArgumentError, type LockStore, StoreError } from '@leasehold/core';
import { isConditionalCheckFailed, STORE, toStoreError } from './errors.js';

/**
 * Options of {@link dynamoDbStore}.
 *
 * @example
 * ```ts
 * const options: DynamoDbStoreOptions = { client, tableName: 'leasehold-locks', clockSkewMs: 200 };
 * ```
 */
export interface DynamoDbStoreOptions {
  /**
   * The low-level `DynamoDBClient` (not the DocumentClient). Its region, credentials and retry
   * settings apply to every call; see `requestTimeoutMs` to bound a hung request.
   */
  readonly client: DynamoDBClient;
  /** The lock table: string partition key `pk`, TTL on `ttl` (see `lockTableDefinition`). */
  readonly tableName: string;
  /**
   * How far apart the wall clocks of the processes sharing the table may be, in ms. An acquire treats
   * another owner's lease as expired only when `expiresAt < now - clockSkewMs`. Whole ms, at most one
   * day. Default `0`.
   */
  readonly clockSkewMs?: number;
  /**
   * How long after a lease's expiry DynamoDB TTL may delete an idle lock row, in seconds (the `ttl`
   * attribute is `expiresAt` + `clockSkewMs`, in epoch seconds rounded up, + this). Default `86_400` (one day). Fencing tokens stay increasing even
   * after a deletion; a long grace also keeps them safe against client clocks that are behind.
   */
  readonly ttlAttributeGraceSeconds?: number;
  /**
   * Upper bound for one store call in ms, the SDK's retries included; past it the call fails with a
   * `StoreError` of kind `'timeout'` (outcome unknown). Default: none, the client's own settings apply —
   * note that the SDK's `requestHandler: { requestTimeout }` only logs a warning unless
   * `throwOnRequestTimeout: true` is set as well. At most 2 147 483 647 (what a timer can hold).
   */
  readonly requestTimeoutMs?: number;
  /** Wall clock in epoch ms, for tests and clock-offset experiments. Default `Date.now`. */
  readonly now?: () => number;
}

type Row = Record<string, AttributeValue>;
/**
 * What one request learned about a lock row: whether the write was applied (always true for a read),
 * then the fence, expiry, owner and `sentAt` of the row DynamoDB returned, when present and well-formed.
 */
type Answer = [
  applied: boolean,
  fence: number | undefined,
  expiresAt: number | undefined,
  owner: string | undefined,
  sentAt: number | undefined,
];

/** Throws an {@link InvalidArgumentError} naming `option` unless `ok`. */
function check(ok: boolean, option: string, expected: string): void {
  if (!ok) throw new InvalidArgumentError(option, `must be ${expected}`);
}

const CLOCK = 'a function returning epoch ms';

/**
 * `request`, or a rejection with `signal`'s reason as soon as it aborts. The SDK hands its abort
 * signal to the HTTP handler only: what runs before the request is sent (resolving credentials, e.g.
 * an STS, SSO or container-metadata call that hangs) would otherwise hold the call past
 * requestTimeoutMs.
 */
function abortable<T>(request: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    request.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Reads a safe integer out of an `N` attribute; `undefined` when absent or malformed. */
function int(value: AttributeValue | undefined): number | undefined {
  const n = Number(value?.N);
  return Number.isSafeInteger(n) ? n : undefined;
}

// A lock row: `pk` (the key), `owner`, `sentAt` and `expiresAt` (epoch ms: when the granted acquire
// was sent, by the sender's store, and the lease's end), `fence`, `ttl` (epoch s, for DynamoDB TTL)
// and `released` (the nonce of the last release, see release, or the bare owner id of a withdraw). `owner` and `ttl` are DynamoDB reserved
// words: expressions name them `#owner` and `#ttl` (see send).
/** The SET clause of a new expiry: the values of {@link dynamoDbStore}'s `expiry`. */
const EXPIRY = 'expiresAt = :expiresAt, #ttl = :ttl';
/** The condition of extend and release: `:owner` holds the lease with `:token`, unexpired at `:now`. */
const HELD = '#owner = :owner AND fence = :token AND expiresAt >= :now';

/**
 * A {@link LockStore} over one DynamoDB table, for `createLocker` from `@leasehold/core`. Every
 * acquire, extend and release is ONE conditional `UpdateItem`; inspect is one strongly consistent
 * `GetItem`; withdraw (sent by core after an acquire failed with its outcome unknown) is one more
 * conditional `UpdateItem`. Fencing tokens strictly increase per key, also across releases, expiries
 * and deletion of the row (a new row's counter starts from a clock floor: epoch ms × 1000).
 *
 * Requires `dynamodb:UpdateItem` and `dynamodb:GetItem` on the table. Invalid options throw an
 * `InvalidArgumentError` here, not on first use. Store calls are not validated again: `createLocker`
 * checks keys, ttls and tokens before it calls the store.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { createLocker } from '@leasehold/core';
 * import { dynamoDbStore } from '@leasehold/dynamodb';
 *
 * const locker = createLocker({
 *   store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: 'leasehold-locks' }),
 *   ttlMs: 10_000,
 * });
 * await locker.withLock('payment:order-42', async (lease) => charge(lease.token));
 * ```
 */
export function dynamoDbStore(options: DynamoDbStoreOptions): LockStore {
  check(typeof options === 'object' && options !== null, 'options', 'an object');
  // Defaults for undefined only: a null (a config value that failed to parse) is refused below.
  const {
    client,
    tableName,
    requestTimeoutMs,
    clockSkewMs = 0,
    ttlAttributeGraceSeconds: graceSeconds = 86_400,
    now: clock = Date.now,
  } = options;
  check(typeof (client as { send?: unknown } | null)?.send === 'function', 'client', 'a DynamoDBClient');
  // The rule of checkTableName in table.ts, repeated so that the store does not pull table.ts into bundles.
  check(
    typeof tableName === 'string' && /^[\w.-]{3,255}$/.test(tableName),
    'tableName',
    '3 to 255 of a-z A-Z 0-9 _ - .',
  );
  check(
    Number.isSafeInteger(clockSkewMs) && clockSkewMs >= 0 && clockSkewMs <= 86_400_000,
    'clockSkewMs',
    'an integer from 0 to 86400000 ms (one day)',
  );
  check(
    Number.isSafeInteger(graceSeconds) && graceSeconds >= 0,
    'ttlAttributeGraceSeconds',
    'an integer >= 0',
  );
  check(
    // A timer cannot hold more than 2^31 - 1 ms: Node fires a longer one after 1 ms.
    requestTimeoutMs === undefined ||
      (Number.isSafeInteger(requestTimeoutMs) && requestTimeoutMs > 0 && requestTimeoutMs < 2 ** 31),
    'requestTimeoutMs',
    'an integer from 1 to 2147483647',
  );
  check(typeof clock === 'function', 'now', CLOCK);

  const now = (): number => {
    const t = Math.floor(clock());
    // t * 1000 (the fence floor) must stay a safe integer: true until the year 2255.
    check(Number.isSafeInteger(t * 1000) && t >= 0, 'now', CLOCK);
    return t;
  };
  // When this store last sent an acquire, in epoch µs (the clock's ms × 1000, then + 1 per acquire
  // within one ms), kept strictly increasing: it orders the attempts of one owner (see acquire) even
  // when the wall clock steps back or two are sent within one millisecond, and stays within a few ms
  // of the clock under any real load (a thousand acquires per ms from one store move it 1 ms ahead).
  let lastSentAt = 0;
  /** The new expiry (epoch ms) of a lease of `ttlMs` from `t`, and the `ttl` attribute (epoch s) that goes with it. */
  const expiry = (t: number, ttlMs: number) => ({
    expiresAt: t + ttlMs,
    // Past the skew margin too: TTL deletion must never free a row an acquirer would still wait for.
    ttl: Math.ceil((t + ttlMs + clockSkewMs) / 1000) + graceSeconds,
  });

  /**
   * Sends the one request of `operation` about `key`'s row: given an `update`, a conditional
   * `UpdateItem` in which each of `values` is the placeholder `:name` and each `#name` stands for the
   * attribute `name`; without, the strongly consistent `GetItem` of inspect. Resolves the {@link Answer}
   * read from the row DynamoDB returned: the new one, or the stored one when it refused the condition.
   * Other failures reject with a `StoreError`; with `requestTimeoutMs`, the whole call (SDK retries
   * included) is abandoned after that long.
   */
  const send = async (
    operation: string,
    key: string,
    condition?: string,
    update?: string,
    values: Record<string, string | number> = {},
  ): Promise<Answer> => {
    const request = { TableName: tableName, Key: { pk: { S: key } } };
    const abortSignal = requestTimeoutMs ? AbortSignal.timeout(requestTimeoutMs) : undefined;
    let applied = true;
    let row: Row | undefined;
    try {
      // No options at all without a timeout: the client then keeps its cached middleware stack.
      const sent: Promise<{ Attributes?: Row | undefined; Item?: Row | undefined }> = client.send(
        (update
          ? new UpdateItemCommand({
              ...request,
              ConditionExpression: condition,
              UpdateExpression: update,
              ExpressionAttributeNames: Object.fromEntries(
                `${condition} ${update}`.match(/#\w+/g)?.map((name) => [name, name.slice(1)]) ?? [],
              ),
              ExpressionAttributeValues: Object.fromEntries(
                Object.entries(values).map(([name, v]) => [
                  `:${name}`,
                  typeof v === 'string' ? { S: v } : { N: String(v) },
                ]),
              ),
              // Only what the caller reads, each value returned costs time on every call: an applied
              // acquire returns its row (its new fence); a refused acquire or extend the stored row
              // (the holder's expiry and token, or why the extension was not needed, without another
              // read). A release or withdraw only needs to know whether it was applied. The applied
              // acquire asks for ALL_NEW, not UPDATED_NEW: the same values plus the key and a small row,
              // and ~3% less time per acquire + release cycle on DynamoDB Local, which otherwise works
              // out which attributes the update changed (DynamoDB charges both alike).
              ...(operation === 'acquire' && { ReturnValues: 'ALL_NEW' }),
              ...((operation === 'acquire' || operation === 'extend') && {
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              }),
            })
          : // Never read the owner id: inspect is for operators and logs.
            new GetItemCommand({
              ...request,
              ConsistentRead: true,
              ProjectionExpression: 'expiresAt, fence',
            })) as UpdateItemCommand,
        abortSignal && { abortSignal },
      );
      const out = await (abortSignal ? abortable(sent, abortSignal) : sent);
      row = out.Attributes ?? out.Item;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) {
        // The string values are owner ids and nonces: secrets, kept out of the message.
        const secrets = Object.values(values).filter((v) => typeof v === 'string');
        throw toStoreError(err, { operation, tableName, secrets, timedOut: abortSignal?.aborted });
      }
      applied = false;
      row = err.Item as Row | undefined;
    }
    return [applied, int(row?.fence), int(row?.expiresAt), row?.owner?.S, int(row?.sentAt)];
  };

  return {
    name: STORE,

    async acquire({ key, owner, ttlMs }) {
      const t = now();
      lastSentAt = Math.max(t * 1000, lastSentAt + 1);
      // The fence as stored by the attempt that answered (if the SDK retried an applied attempt, the
      // re-incremented value: the one extend and release must present), or the holder's when refused.
      const values = {
        owner,
        expired: t - clockSkewMs,
        sentAt: lastSentAt,
        ...expiry(t, ttlMs),
        // A counter (re)created after the row was lost starts above every earlier token.
        floor: t * 1000,
        step: FENCE_STEP,
      };
      const [applied, token, expiresAt, holder, holderSentAt] = await send(
        'acquire',
        key,
        // `#owner = :owner` re-grants our own lease only to an attempt sent later (`sentAt`) than the
        // one that holds it, and asking for a later expiry. A late copy of an earlier attempt (sent
        // before a later one was granted, applied after it) must not bump the fence or move the
        // expiry under the holder, who counts from the later attempt and presents its token. A copy
        // of this very attempt (the SDK's retry of an applied-but-unanswered request, or the late
        // original after the retry was answered) is refused, and recognised below: the fence is not
        // bumped under the holder, whose extend and release present the token of the copy that was
        // answered. The expired branch is for other owners' leases: our own expired one is re-granted
        // by the `sentAt` branch, so that a late copy of an earlier attempt cannot take it over a
        // later grant as "expired" either (its clock read ahead, before the clock stepped back).
        // A free row last released by this very owner is refused too: the owner is spent, and this is
        // a copy of its acquire that reached DynamoDB only after the release (it would take the key for
        // an owner nobody uses, blocking everyone for a TTL).
        '(attribute_not_exists(#owner) AND NOT begins_with(released, :owner)) OR (expiresAt < :expired AND #owner <> :owner) OR (#owner = :owner AND sentAt < :sentAt AND expiresAt < :expiresAt)',
        `SET #owner = :owner, sentAt = :sentAt, ${EXPIRY}, fence = if_not_exists(fence, :floor) + :step REMOVE released`,
        values,
      );
      // Refused, but held by this owner from an attempt sent no later than this one, until at least
      // when this one asks: a copy of this attempt applied first, or an earlier attempt applied unseen
      // (its answer lost, or a refused copy answered instead). Either is the caller's own lease:
      // granted, with the stored token. Answering "held" would make it wait for itself (up to a TTL
      // when this attempt was capped by a Lambda deadline to an earlier expiry). The expiry check
      // keeps the answer true for a caller that sends one owner through two store instances, whose
      // `sentAt`s are not ordered against each other (core never does).
      const granted =
        applied ||
        (holder === owner &&
          holderSentAt !== undefined &&
          holderSentAt <= values.sentAt &&
          expiresAt !== undefined &&
          expiresAt >= values.expiresAt);
      if (!granted) {
        return {
          acquired: false,
          // The holder's remaining time plus the skew margin: this store grants the key 1 ms after that
          // (the condition is strict), which core's wait of the reported time + 1 ms covers.
          ...(expiresAt !== undefined && {
            holderRemainingMs: Math.max(0, Math.ceil(expiresAt + clockSkewMs - now())),
          }),
          ...(token !== undefined && { holderToken: token }),
        };
      }
      if (token === undefined) {
        throw new StoreError(
          STORE,
          'bad-response',
          `acquire failed on table "${tableName}": bad-response, no fence returned (is the table used by something else?)`,
        );
      }
      return { acquired: true, token };
    },

    async extend({ key, owner, token, ttlMs }) {
      const t = now();
      const [extended, fence, expiresAt, holder] = await send(
        'extend',
        key,
        // Never moves the expiry back: a delayed extension with a shorter TTL (one whose answer was
        // lost, overtaken by a newer one) must not cut short what the holder was told it has.
        `${HELD} AND expiresAt <= :expiresAt`,
        `SET ${EXPIRY}`,
        { owner, token, now: t, ...expiry(t, ttlMs) },
      );
      // Refused only because the lease already runs longer: still held, and extended "enough".
      return extended || (holder === owner && fence === token && (expiresAt ?? 0) >= t + ttlMs);
    },

    async release({ key, owner, token }) {
      const [released] = await send(
        'release',
        key,
        // First branch: we hold it, unexpired. Second branch: this very call already released it
        // (an SDK retry of an applied but unanswered attempt); the next acquire removes the nonce.
        `(${HELD}) OR (released = :nonce AND attribute_not_exists(#owner))`,
        // Keep the row and its fence: the next acquire continues the counter.
        'SET released = :nonce REMOVE #owner, expiresAt',
        // The nonce starts with the owner id: an acquire copy that lands after this release is refused.
        { owner, token, now: now(), nonce: `${owner}:${crypto.randomUUID()}` },
      );
      return released;
    },

    // Core withdraws the owner of an acquire that failed with its outcome unknown (a timeout, a reset
    // connection): if DynamoDB applied it, nobody would use that lease and the key would stay blocked
    // for its whole TTL. The owner id names that one lease, so releasing by owner alone is safe. The
    // `released` mark refuses a copy of the acquire that reaches DynamoDB after this (see acquire).
    // Best effort: a copy still in flight when this is refused is not stopped, and blocks a TTL.
    async withdraw(key, owner) {
      await send('withdraw', key, '#owner = :owner', 'SET released = :owner REMOVE #owner, expiresAt', {
        owner,
      });
    },

    async inspect(key) {
      const [, token, expiresAt] = await send('inspect', key);
      const t = now();
      const held = expiresAt !== undefined && expiresAt >= t;
      return {
        key,
        held,
        ...(token !== undefined && { token }),
        ...(held && { expiresAt, remainingMs: expiresAt - t }),
      };
    },
  };
}
