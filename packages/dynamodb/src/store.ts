import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { FENCE_STEP, InvalidArgumentError, type LockStore, StoreError } from '@leasehold/core';
import { isConditionalCheckFailed, toStoreError } from './errors.js';

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
   * another owner's lease as expired only when `expiresAt < now - clockSkewMs`. Default `0`.
   */
  readonly clockSkewMs?: number;
  /**
   * How long after a lease's expiry DynamoDB TTL may delete an idle lock row, in seconds (the `ttl`
   * attribute is `expiresAt` + this). Default `86_400` (one day). Fencing tokens stay increasing even
   * after a deletion; a long grace also keeps them safe against client clocks that are behind.
   */
  readonly ttlAttributeGraceSeconds?: number;
  /**
   * Upper bound for one store call in ms, the SDK's retries included; past it the call fails with a
   * `StoreError` of kind `'timeout'` (outcome unknown). Default: none, the client's own settings apply —
   * note that the SDK's `requestHandler: { requestTimeout }` only logs a warning unless
   * `throwOnRequestTimeout: true` is set as well.
   */
  readonly requestTimeoutMs?: number;
  /** Wall clock in epoch ms, for tests and clock-offset experiments. Default `Date.now`. */
  readonly now?: () => number;
}

type Row = Record<string, AttributeValue>;

/** Throws an {@link InvalidArgumentError} naming `option` unless `ok`. */
function check(ok: boolean, option: string, expected: string): void {
  if (!ok) throw new InvalidArgumentError(option, `must be ${expected}`);
}

const num = (n: number): AttributeValue => ({ N: String(n) });

/** Reads a safe integer out of an `N` attribute; `undefined` when absent or malformed. */
function int(value: AttributeValue | undefined): number | undefined {
  const n = Number(value?.N);
  return Number.isSafeInteger(n) ? n : undefined;
}

// A lock row: `pk` (the key), `owner`, `expiresAt` (epoch ms), `fence`, `ttl` (epoch s, for DynamoDB
// TTL) and `released` (the nonce of the last release, see release). `owner` and `ttl` are DynamoDB
// reserved words, hence the `#owner` and `#ttl` aliases; the others are used as they are.
const OWNER = { '#owner': 'owner' };
const OWNER_AND_TTL = { ...OWNER, '#ttl': 'ttl' };
/** The condition of extend and release: `:owner` holds the lease with `:token`, unexpired at `:now`. */
const HELD = '#owner = :owner AND fence = :token AND expiresAt >= :now';

/**
 * A {@link LockStore} over one DynamoDB table, for `createLocker` from `@leasehold/core`. Every
 * acquire, extend and release is ONE conditional `UpdateItem`; inspect is one strongly consistent
 * `GetItem`. Fencing tokens strictly increase per key, also across releases, expiries and deletion
 * of the row (a new row's counter starts from a clock floor: epoch ms × 1000).
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
  check(typeof options === 'object' && options !== null, 'options', 'an object: { client, tableName }');
  const { client, tableName, requestTimeoutMs } = options;
  const clockSkewMs = options.clockSkewMs ?? 0;
  const graceSeconds = options.ttlAttributeGraceSeconds ?? 86_400;
  const clock = options.now ?? Date.now;
  check(typeof (client as { send?: unknown } | null)?.send === 'function', 'client', 'a DynamoDBClient');
  // The rule of checkTableName in table.ts, repeated so that the store does not pull table.ts into bundles.
  check(
    typeof tableName === 'string' && /^[\w.-]{3,255}$/.test(tableName),
    'tableName',
    'a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ - .)',
  );
  check(Number.isFinite(clockSkewMs) && clockSkewMs >= 0, 'clockSkewMs', 'ms >= 0');
  check(
    Number.isSafeInteger(graceSeconds) && graceSeconds >= 0,
    'ttlAttributeGraceSeconds',
    'whole seconds >= 0',
  );
  check(
    requestTimeoutMs === undefined || (Number.isSafeInteger(requestTimeoutMs) && requestTimeoutMs > 0),
    'requestTimeoutMs',
    'whole ms > 0',
  );
  check(typeof clock === 'function', 'now', 'a function returning epoch ms');

  const now = (): number => {
    const t = Math.floor(clock());
    // t * 1000 (the fence floor) must stay a safe integer: true until the year 2255.
    check(Number.isSafeInteger(t * 1000) && t >= 0, 'now', 'a clock returning epoch ms');
    return t;
  };
  /** The new expiry (epoch ms) of a lease of `ttlMs` from `t`, and the `ttl` attribute (epoch s) that goes with it. */
  const expiry = (t: number, ttlMs: number) => ({
    ':expiresAt': num(t + ttlMs),
    ':ttl': num(Math.ceil((t + ttlMs) / 1000) + graceSeconds),
  });

  /**
   * Sends one request about `key`'s row: a `GetItem` for inspect, an `UpdateItem` otherwise. Resolves
   * `[true, row]` with the row DynamoDB returned, or `[false, row]` with the stored row when it refused
   * a write's condition. Other failures reject with a `StoreError` (`secrets` redacted from its
   * message); with `requestTimeoutMs`, the whole call (SDK retries included) is abandoned after that long.
   */
  const send = async (
    operation: string,
    key: string,
    input: Omit<UpdateItemCommandInput, 'TableName' | 'Key'> & Omit<GetItemCommandInput, 'TableName' | 'Key'>,
    ...secrets: string[]
  ): Promise<[boolean, Row | undefined]> => {
    const request = { TableName: tableName, Key: { pk: { S: key } }, ...input };
    const abortSignal = requestTimeoutMs === undefined ? undefined : AbortSignal.timeout(requestTimeoutMs);
    try {
      // No options at all without a timeout: the client then keeps its cached middleware stack.
      const out: { Attributes?: Row | undefined; Item?: Row | undefined } = await client.send(
        (operation === 'inspect'
          ? new GetItemCommand(request)
          : new UpdateItemCommand(request)) as UpdateItemCommand,
        abortSignal && { abortSignal },
      );
      return [true, out.Attributes ?? out.Item];
    } catch (err) {
      if (isConditionalCheckFailed(err)) return [false, err.Item as Row | undefined];
      throw toStoreError(err, { operation, tableName, secrets, timedOut: abortSignal?.aborted });
    }
  };

  return {
    name: 'dynamodb',

    async acquire({ key, owner, ttlMs }) {
      const t = now();
      const [granted, row] = await send(
        'acquire',
        key,
        {
          // `#owner = :owner` lets the SDK's own retry of an applied-but-unanswered attempt succeed:
          // the retry sees our own lease and re-grants it (and bumps the fence once more).
          ConditionExpression: 'attribute_not_exists(#owner) OR expiresAt < :expired OR #owner = :owner',
          UpdateExpression:
            'SET #owner = :owner, expiresAt = :expiresAt, #ttl = :ttl, fence = if_not_exists(fence, :floor) + :step REMOVE released',
          ExpressionAttributeNames: OWNER_AND_TTL,
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':expired': num(t - clockSkewMs),
            ...expiry(t, ttlMs),
            // A counter (re)created after the row was lost starts above every earlier token.
            ':floor': num(t * 1000),
            ':step': num(FENCE_STEP),
          },
          ReturnValues: 'UPDATED_NEW',
          // A refused acquire returns the holder's row: its expiry and token, without another read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
        owner,
      );
      if (!granted) {
        const expiresAt = int(row?.expiresAt);
        const holderToken = int(row?.fence);
        return {
          acquired: false,
          // Time until this store will grant the key: the holder's remaining time plus the skew margin.
          ...(expiresAt === undefined
            ? {}
            : { holderRemainingMs: Math.max(0, Math.ceil(expiresAt + clockSkewMs - now())) }),
          ...(holderToken === undefined ? {} : { holderToken }),
        };
      }
      // The token is the fence as stored by the attempt that answered: if the SDK retried an applied
      // attempt, that is the re-incremented value, the one extend and release must present.
      const token = int(row?.fence);
      if (token === undefined) {
        throw new StoreError(
          'dynamodb',
          'bad-response',
          `acquire: DynamoDB returned no fence: is table "${tableName}" used by something else?`,
        );
      }
      return { acquired: true, token };
    },

    async extend({ key, owner, token, ttlMs }) {
      const t = now();
      const [extended, row] = await send(
        'extend',
        key,
        {
          // Never moves the expiry back: a delayed extension with a shorter TTL (one whose answer was
          // lost, overtaken by a newer one) must not cut short what the holder was told it has.
          ConditionExpression: `${HELD} AND expiresAt <= :expiresAt`,
          UpdateExpression: 'SET expiresAt = :expiresAt, #ttl = :ttl',
          ExpressionAttributeNames: OWNER_AND_TTL,
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':token': num(token),
            ':now': num(t),
            ...expiry(t, ttlMs),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
        owner,
      );
      // Refused only because the lease already runs longer: still held, and extended "enough".
      return (
        extended ||
        (row?.owner?.S === owner && int(row.fence) === token && (int(row.expiresAt) ?? 0) >= t + ttlMs)
      );
    },

    async release({ key, owner, token }) {
      const nonce = crypto.randomUUID();
      const [released] = await send(
        'release',
        key,
        {
          // First branch: we hold it, unexpired. Second branch: this very call already released it
          // (an SDK retry of an applied but unanswered attempt); the next acquire removes the nonce.
          ConditionExpression: `(${HELD}) OR (released = :nonce AND attribute_not_exists(#owner))`,
          // Keep the row and its fence: the next acquire continues the counter.
          UpdateExpression: 'SET released = :nonce REMOVE #owner, expiresAt',
          ExpressionAttributeNames: OWNER,
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':token': num(token),
            ':now': num(now()),
            ':nonce': { S: nonce },
          },
        },
        owner,
        nonce,
      );
      return released;
    },

    async inspect(key) {
      // Never read the owner id: inspect is for operators and logs.
      const [, row] = await send('inspect', key, {
        ConsistentRead: true,
        ProjectionExpression: 'expiresAt, fence',
      });
      const t = now();
      const token = int(row?.fence);
      const expiresAt = int(row?.expiresAt);
      const held = expiresAt !== undefined && expiresAt >= t;
      return {
        key,
        held,
        ...(token === undefined ? {} : { token }),
        ...(held ? { expiresAt, remainingMs: expiresAt - t } : {}),
      };
    },
  };
}
