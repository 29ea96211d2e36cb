import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { InvalidArgumentError, StoreError } from '@leasehold/core';
import { toStoreError } from './errors.js';

/**
 * Name of the lock table's partition key (type `S`): the lock key.
 *
 * @example
 * ```ts
 * new dynamodb.Table(this, 'Locks', {
 *   partitionKey: { name: LOCK_TABLE_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
 *   timeToLiveAttribute: LOCK_TABLE_TTL_ATTRIBUTE,
 *   billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
 * });
 * ```
 */
export const LOCK_TABLE_PARTITION_KEY = 'pk';

/**
 * Name of the lock table's TTL attribute (type `N`, epoch seconds). Enable DynamoDB TTL on it so that
 * rows of locks nobody uses any more are deleted; fencing tokens stay increasing even then.
 *
 * @example
 * ```ts
 * await client.send(new UpdateTimeToLiveCommand({
 *   TableName: 'leasehold-locks',
 *   TimeToLiveSpecification: { AttributeName: LOCK_TABLE_TTL_ATTRIBUTE, Enabled: true },
 * }));
 * ```
 */
export const LOCK_TABLE_TTL_ATTRIBUTE = 'ttl';

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** Throws {@link InvalidArgumentError} unless `tableName` is a valid DynamoDB table name. */
export function checkTableName(tableName: unknown, argument = 'tableName'): asserts tableName is string {
  if (typeof tableName !== 'string' || !TABLE_NAME.test(tableName)) {
    throw new InvalidArgumentError(
      argument,
      'must be a DynamoDB table name: 3 to 255 characters from a-z, A-Z, 0-9, "_", "-" and "."',
    );
  }
}

/**
 * The lock table's definition as a `CreateTableCommand` input: a string partition key `pk`, on-demand
 * (`PAY_PER_REQUEST`) billing. Use it in scripts, or mirror it in infrastructure code; enable TTL on
 * {@link LOCK_TABLE_TTL_ATTRIBUTE} as well (a separate call, see {@link createLockTable}).
 *
 * @example
 * ```ts
 * import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
 * await client.send(new CreateTableCommand(lockTableDefinition('leasehold-locks')));
 * ```
 */
export function lockTableDefinition(tableName: string): CreateTableCommandInput {
  checkTableName(tableName);
  return {
    TableName: tableName,
    AttributeDefinitions: [{ AttributeName: LOCK_TABLE_PARTITION_KEY, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: LOCK_TABLE_PARTITION_KEY, KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/**
 * Options of {@link createLockTable}.
 *
 * @example
 * ```ts
 * await createLockTable(client, 'leasehold-locks', { ifNotExists: true, maxWaitMs: 60_000 });
 * ```
 */
export interface CreateLockTableOptions {
  /** Reuse an existing table of that name (after checking its key schema). Default `true`. */
  readonly ifNotExists?: boolean;
  /** How long to wait for the table to become `ACTIVE`, in ms. Default 300 000 (5 minutes). */
  readonly maxWaitMs?: number;
}

/**
 * Outcome of {@link createLockTable}.
 *
 * @example
 * ```ts
 * const { created } = await createLockTable(client, 'leasehold-locks');
 * if (created) console.log('lock table created');
 * ```
 */
export interface CreateLockTableResult {
  /** The lock table's name, as given. */
  readonly tableName: string;
  /** False when the table already existed (`ifNotExists`). */
  readonly created: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Create the lock table (see {@link lockTableDefinition}), wait until it is `ACTIVE` and enable TTL on
 * {@link LOCK_TABLE_TTL_ATTRIBUTE}. Meant for local development, tests and scripts; in production,
 * deploy the table with your infrastructure code.
 *
 * With `ifNotExists` (the default) an existing table is reused when its key schema matches, and an
 * {@link InvalidArgumentError} is thrown when it does not. Network, credential and throttling failures
 * are thrown as `StoreError`s; with `ifNotExists: false` an existing table raises DynamoDB's own
 * `ResourceInUseException`.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * const client = new DynamoDBClient({ endpoint: 'http://127.0.0.1:8000', region: 'us-east-1' });
 * await createLockTable(client, 'leasehold-locks');
 * ```
 */
export async function createLockTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateLockTableOptions = {},
): Promise<CreateLockTableResult> {
  // Bad input is refused before anything is sent, never reported as a store failure.
  if (typeof (client as { send?: unknown } | null)?.send !== 'function') {
    throw new InvalidArgumentError('client', 'must be a DynamoDBClient');
  }
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options', 'must be an object');
  const definition = lockTableDefinition(tableName);
  // Defaults for undefined only: null is refused below.
  const { ifNotExists = true, maxWaitMs = 300_000 } = options;
  if (typeof ifNotExists !== 'boolean') throw new InvalidArgumentError('ifNotExists', 'must be a boolean');
  if (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new InvalidArgumentError('maxWaitMs', 'must be a finite number of milliseconds >= 0');
  }
  const fail = (operation: string) => (err: unknown) => {
    throw toStoreError(err, { operation: `createLockTable (${operation})`, tableName });
  };

  let created = true;
  try {
    await client.send(new CreateTableCommand(definition));
  } catch (err) {
    const name = (err as { name?: unknown } | null)?.name;
    if (name !== 'ResourceInUseException') fail('CreateTable')(err);
    if (!ifNotExists) throw err;
    created = false;
  }

  const table = await waitUntilActive(client, tableName, maxWaitMs).catch(fail('DescribeTable'));
  const key = table.KeySchema ?? [];
  const keyType = table.AttributeDefinitions?.find((d) => d.AttributeName === LOCK_TABLE_PARTITION_KEY);
  if (
    key.length !== 1 ||
    key[0]?.AttributeName !== LOCK_TABLE_PARTITION_KEY ||
    key[0]?.KeyType !== 'HASH' ||
    keyType?.AttributeType !== 'S'
  ) {
    throw new InvalidArgumentError(
      'tableName',
      `table "${tableName}" exists but is not a lock table: it needs exactly one key, a string partition key named "${LOCK_TABLE_PARTITION_KEY}"`,
    );
  }

  /** The table's TTL setting: on (enabled or being enabled) for `ttl`, off, or throws if on for another attribute. */
  const ttlOn = async (): Promise<boolean> => {
    const ttl = await client
      .send(new DescribeTimeToLiveCommand({ TableName: tableName }))
      .catch(fail('DescribeTimeToLive'));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    const attribute = ttl.TimeToLiveDescription?.AttributeName;
    if (status !== 'ENABLED' && status !== 'ENABLING') return false;
    if (attribute !== LOCK_TABLE_TTL_ATTRIBUTE) {
      throw new InvalidArgumentError(
        'tableName',
        `table "${tableName}" has TTL enabled on "${attribute}", but lock rows expire through "${LOCK_TABLE_TTL_ATTRIBUTE}": change the table's TTL attribute`,
      );
    }
    return true;
  };
  if (!(await ttlOn())) {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: LOCK_TABLE_TTL_ATTRIBUTE, Enabled: true },
        }),
      );
    } catch (err) {
      // Another process setting the table up may have enabled it in between ("TimeToLive is already
      // enabled"): fine if it is on for the lock rows' attribute.
      const on = await ttlOn().catch((e: unknown) => {
        if (e instanceof InvalidArgumentError) throw e;
        return false;
      });
      if (!on) fail('UpdateTimeToLive')(err);
    }
  }
  return { tableName, created };
}

async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  maxWaitMs: number,
): Promise<TableDescription> {
  const deadline = Date.now() + maxWaitMs;
  let delay = 100;
  for (;;) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') return Table;
    } catch (err) {
      // Right after CreateTable, DescribeTable may briefly not see the table yet.
      if ((err as { name?: unknown } | null)?.name !== 'ResourceNotFoundException') throw err;
    }
    if (Date.now() + delay > deadline) {
      throw new StoreError(
        'dynamodb',
        'timeout',
        `createLockTable: table "${tableName}" was not ACTIVE after ${maxWaitMs} ms: check it in the console, or raise maxWaitMs`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2_000);
  }
}
