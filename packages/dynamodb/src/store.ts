import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import {
  InvalidArgumentError,
  type LockState,
  type LockStore,
  type StoreAcquireRequest,
  type StoreAcquireResult,
  StoreError,
  type StoreExtendRequest,
  type StoreLeaseRequest,
} from '@leasehold/core';
import { isConditionalCheckFailed, toStoreError } from './errors.js';
import { checkTableName, LOCK_TABLE_PARTITION_KEY, LOCK_TABLE_TTL_ATTRIBUTE } from './table.js';

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

/** Largest DynamoDB partition key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 2048;
const DEFAULT_TTL_GRACE_SECONDS = 86_400;

/**
 * Names of the item's attributes (besides the key `pk`). `ttl` is fixed by the table's TTL setting.
 * `released` holds a per-call nonce of the last release, so that the SDK's retry of an applied but
 * unanswered release still resolves `true`.
 */
const NAMES = {
  '#owner': 'owner',
  '#expiresAt': 'expiresAt',
  '#fence': 'fence',
  '#ttl': LOCK_TABLE_TTL_ATTRIBUTE,
  '#released': 'released',
} as const;

type Name = keyof typeof NAMES;
const names = (...used: Name[]): Record<string, string> =>
  Object.fromEntries(used.map((n) => [n, NAMES[n]] as const));

const num = (n: number): AttributeValue => ({ N: String(n) });
const str = (s: string): AttributeValue => ({ S: s });
const utf8 = new TextEncoder();

function isNonNegativeFinite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Reads a safe integer out of an `N` attribute; `undefined` when absent or malformed. */
function readInt(value: AttributeValue | undefined): number | undefined {
  if (value === undefined || !('N' in value) || typeof value.N !== 'string') return undefined;
  const n = Number(value.N);
  return Number.isSafeInteger(n) ? n : undefined;
}

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * A {@link LockStore} over one DynamoDB table, for `createLocker` from `@leasehold/core`. Every
 * acquire, extend and release is ONE conditional `UpdateItem`; inspect is one strongly consistent
 * `GetItem`. Fencing tokens strictly increase per key, also across releases, expiries and deletion
 * of the row (a new row's counter starts from a clock floor: epoch ms × 1000).
 *
 * Requires `dynamodb:UpdateItem` and `dynamodb:GetItem` on the table. Invalid options throw an
 * `InvalidArgumentError` here, not on first use.
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
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'must be an object: { client, tableName }');
  }
  const { client, tableName } = options;
  const clockSkewMs = options.clockSkewMs ?? 0;
  const graceSeconds = options.ttlAttributeGraceSeconds ?? DEFAULT_TTL_GRACE_SECONDS;
  const clock = options.now ?? Date.now;
  const { requestTimeoutMs } = options;
  if (typeof (client as { send?: unknown } | null | undefined)?.send !== 'function') {
    throw new InvalidArgumentError('client', 'must be a DynamoDBClient from @aws-sdk/client-dynamodb');
  }
  checkTableName(tableName);
  if (!isNonNegativeFinite(clockSkewMs)) {
    throw new InvalidArgumentError('clockSkewMs', 'must be a finite number of milliseconds >= 0');
  }
  if (!Number.isSafeInteger(graceSeconds) || graceSeconds < 0) {
    throw new InvalidArgumentError('ttlAttributeGraceSeconds', 'must be a whole number of seconds >= 0');
  }
  if (requestTimeoutMs !== undefined && (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs <= 0)) {
    throw new InvalidArgumentError('requestTimeoutMs', 'must be a whole number of milliseconds > 0');
  }
  if (typeof clock !== 'function')
    throw new InvalidArgumentError('now', 'must be a function returning epoch ms');

  const now = (): number => {
    const t = Math.floor(clock());
    // t * 1000 (the fence floor) must stay a safe integer: true until the year 2255.
    if (!Number.isSafeInteger(t * 1000) || t < 0) {
      throw new InvalidArgumentError('now', 'the clock must return epoch milliseconds');
    }
    return t;
  };
  const ttlFor = (expiresAt: number) => Math.ceil(expiresAt / 1000) + graceSeconds;

  const checkKey = (key: unknown): string => {
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidArgumentError('key', 'must be a non-empty string');
    }
    if (utf8.encode(key).length > MAX_KEY_BYTES) {
      throw new InvalidArgumentError('key', `must be at most ${MAX_KEY_BYTES} bytes (UTF-8) for DynamoDB`);
    }
    return key;
  };
  const checkOwner = (owner: unknown): string => {
    if (typeof owner !== 'string' || owner.length === 0) {
      throw new InvalidArgumentError('owner', 'must be a non-empty string');
    }
    return owner;
  };
  const checkTtl = (ttlMs: unknown): number => {
    if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) <= 0) {
      throw new InvalidArgumentError('ttlMs', 'must be a whole number of milliseconds > 0');
    }
    return ttlMs as number;
  };
  const checkToken = (token: unknown): number => {
    if (!Number.isSafeInteger(token) || (token as number) < 0) {
      throw new InvalidArgumentError('token', 'must be a fencing token (a safe integer >= 0)');
    }
    return token as number;
  };
  /**
   * Sends one command; with `requestTimeoutMs`, the whole call (SDK retries included) is abandoned
   * after that long. Failures other than a condition check become `StoreError`s.
   */
  async function send<Output>(
    operation: string,
    command: UpdateItemCommand | GetItemCommand,
    secrets: readonly string[],
  ): Promise<Output> {
    const signal = requestTimeoutMs === undefined ? undefined : AbortSignal.timeout(requestTimeoutMs);
    try {
      const sendCommand = client.send.bind(client) as (
        c: typeof command,
        o?: { abortSignal: AbortSignal },
      ) => Promise<Output>;
      return await (signal === undefined
        ? sendCommand(command)
        : sendCommand(command, { abortSignal: signal }));
    } catch (err) {
      if (isConditionalCheckFailed(err)) throw err;
      if (signal?.aborted === true) {
        throw new StoreError(
          'dynamodb',
          'timeout',
          `${operation} failed: no answer within requestTimeoutMs (${requestTimeoutMs} ms); the outcome is unknown: retry later, and check the network path to DynamoDB`,
          { cause: err },
        );
      }
      throw toStoreError(err, { operation, tableName, secrets });
    }
  }
  const badResponse = (operation: string, what: string) =>
    new StoreError(
      'dynamodb',
      'bad-response',
      `${operation}: DynamoDB's answer had ${what}: is table "${tableName}" used by something else than Leasehold?`,
    );

  return {
    name: 'dynamodb',

    async acquire(request: StoreAcquireRequest): Promise<StoreAcquireResult> {
      const key = checkKey(request.key);
      const owner = checkOwner(request.owner);
      const ttlMs = checkTtl(request.ttlMs);
      const t = now();
      const expiresAt = t + ttlMs;
      let attributes: Record<string, AttributeValue> | undefined;
      try {
        const out = await send<UpdateItemCommandOutput>(
          'acquire',
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [LOCK_TABLE_PARTITION_KEY]: str(key) },
            // `#owner = :owner` lets the SDK's own retry of an applied-but-unanswered attempt succeed:
            // the retry sees our own lease and re-grants it (and bumps the fence once more).
            ConditionExpression: 'attribute_not_exists(#owner) OR #expiresAt < :expired OR #owner = :owner',
            UpdateExpression:
              'SET #owner = :owner, #expiresAt = :expiresAt, #ttl = :ttl, #fence = if_not_exists(#fence, :floor) + :one REMOVE #released',
            ExpressionAttributeNames: names('#owner', '#expiresAt', '#ttl', '#fence', '#released'),
            ExpressionAttributeValues: {
              ':owner': str(owner),
              ':expired': num(t - clockSkewMs),
              ':expiresAt': num(expiresAt),
              ':ttl': num(ttlFor(expiresAt)),
              // A counter (re)created after the row was lost starts above every earlier token.
              ':floor': num(t * 1000),
              ':one': num(1),
            },
            ReturnValues: 'UPDATED_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
          [owner],
        );
        attributes = out.Attributes;
      } catch (err) {
        if (isConditionalCheckFailed(err))
          return heldBy(err.Item as Record<string, AttributeValue> | undefined);
        throw err;
      }
      // The token is the fence as stored by the attempt that answered: if the SDK retried an applied
      // attempt, that is the re-incremented value, the one extend and release must present.
      const token = readInt(attributes?.[NAMES['#fence']]);
      if (token === undefined) throw badResponse('acquire', 'no numeric fence');
      return { acquired: true, token };
    },

    async extend(request: StoreExtendRequest): Promise<boolean> {
      const key = checkKey(request.key);
      const owner = checkOwner(request.owner);
      const token = checkToken(request.token);
      const ttlMs = checkTtl(request.ttlMs);
      const t = now();
      const expiresAt = t + ttlMs;
      try {
        await send<UpdateItemCommandOutput>(
          'extend',
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [LOCK_TABLE_PARTITION_KEY]: str(key) },
            ConditionExpression: '#owner = :owner AND #fence = :token AND #expiresAt >= :now',
            UpdateExpression: 'SET #expiresAt = :expiresAt, #ttl = :ttl',
            ExpressionAttributeNames: names('#owner', '#fence', '#expiresAt', '#ttl'),
            ExpressionAttributeValues: {
              ':owner': str(owner),
              ':token': num(token),
              ':now': num(t),
              ':expiresAt': num(expiresAt),
              ':ttl': num(ttlFor(expiresAt)),
            },
            ReturnValues: 'NONE',
          }),
          [owner],
        );
        return true;
      } catch (err) {
        if (isConditionalCheckFailed(err)) return false;
        throw err;
      }
    },

    async release(request: StoreLeaseRequest): Promise<boolean> {
      const key = checkKey(request.key);
      const owner = checkOwner(request.owner);
      const token = checkToken(request.token);
      const nonce = randomId();
      try {
        await send<UpdateItemCommandOutput>(
          'release',
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [LOCK_TABLE_PARTITION_KEY]: str(key) },
            // First branch: we hold it, unexpired. Second branch: this very call already released it
            // (an SDK retry of an applied but unanswered attempt); a later acquire removes the nonce.
            ConditionExpression:
              '(#owner = :owner AND #fence = :token AND #expiresAt >= :now) OR (#released = :nonce AND attribute_not_exists(#owner))',
            // Keep the row and its fence: the next acquire continues the counter.
            UpdateExpression: 'SET #released = :nonce REMOVE #owner, #expiresAt',
            ExpressionAttributeNames: names('#owner', '#fence', '#expiresAt', '#released'),
            ExpressionAttributeValues: {
              ':owner': str(owner),
              ':token': num(token),
              ':now': num(now()),
              ':nonce': str(nonce),
            },
            ReturnValues: 'NONE',
          }),
          [owner, nonce],
        );
        return true;
      } catch (err) {
        if (isConditionalCheckFailed(err)) return false;
        throw err;
      }
    },

    async inspect(rawKey: string): Promise<LockState> {
      const key = checkKey(rawKey);
      const out = await send<GetItemCommandOutput>(
        'inspect',
        new GetItemCommand({
          TableName: tableName,
          Key: { [LOCK_TABLE_PARTITION_KEY]: str(key) },
          ConsistentRead: true,
          // Never read the owner id: inspect is for operators and logs.
          ProjectionExpression: '#expiresAt, #fence',
          ExpressionAttributeNames: names('#expiresAt', '#fence'),
        }),
        [],
      );
      const item = out.Item;
      const t = now();
      const token = readInt(item?.[NAMES['#fence']]);
      const expiresAt = readInt(item?.[NAMES['#expiresAt']]);
      const held = expiresAt !== undefined && expiresAt >= t;
      return {
        key,
        held,
        ...(token === undefined ? {} : { token }),
        ...(held ? { expiresAt, remainingMs: expiresAt - t } : {}),
      };
    },
  };

  /** The "held by someone else" answer, from the holder's row returned by the failed condition. */
  function heldBy(item: Record<string, AttributeValue> | undefined): StoreAcquireResult {
    const expiresAt = readInt(item?.[NAMES['#expiresAt']]);
    const holderToken = readInt(item?.[NAMES['#fence']]);
    // Time until this store will grant the key: the holder's remaining time plus the skew margin.
    const holderRemainingMs =
      expiresAt === undefined ? undefined : Math.max(0, Math.ceil(expiresAt + clockSkewMs - now()));
    return {
      acquired: false,
      ...(holderRemainingMs === undefined ? {} : { holderRemainingMs }),
      ...(holderToken === undefined ? {} : { holderToken }),
    };
  }
}
