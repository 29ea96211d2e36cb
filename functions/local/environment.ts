import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { createLockTable } from '@leasehold/dynamodb';
import { createExampleTables, type ExampleTableNames } from '../shared/tables.js';

/**
 * Runs the example functions on a developer machine: the endpoints of `@leasehold/local`
 * (`startLocalStores()`), the tables created locally, and the environment a deployed function gets
 * from the CDK stack. Used by the e2e tests and the `npm start` demo.
 */
export interface LocalEndpoints {
  readonly dynamodb: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  readonly upstash?: { url: string; token: string };
}

export type LockStoreKind = 'dynamodb' | 'upstash';

export interface LocalTables extends ExampleTableNames {
  readonly locks: string;
}

export const localTableNames = (suffix: string): LocalTables => ({
  locks: `locks-${suffix}`,
  orders: `orders-${suffix}`,
  charges: `charges-${suffix}`,
  seats: `seats-${suffix}`,
});

/** Creates the lock table and the example tables (idempotent). */
export async function createLocalTables(endpoints: LocalEndpoints, tables: LocalTables): Promise<void> {
  const client = localDynamoDbClient(endpoints);
  await createLockTable(client, tables.locks);
  await createExampleTables(client, tables);
  client.destroy();
}

export function localDynamoDbClient(endpoints: LocalEndpoints): DynamoDBClient {
  const { endpoint, region, credentials } = endpoints.dynamodb;
  return new DynamoDBClient({ endpoint, region, credentials });
}

/**
 * The environment a function gets from the stack, pointed at the local services. The AWS SDK picks
 * `AWS_ENDPOINT_URL_DYNAMODB` up by itself, so the handlers' code has no local special case.
 */
export function localFunctionEnv(
  endpoints: LocalEndpoints,
  tables: LocalTables,
  store: LockStoreKind,
  lock: { ttlMs?: number; waitMs?: number } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb.endpoint,
    AWS_REGION: endpoints.dynamodb.region,
    AWS_ACCESS_KEY_ID: endpoints.dynamodb.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoints.dynamodb.credentials.secretAccessKey,
    LOCK_TABLE_NAME: tables.locks,
    ORDERS_TABLE_NAME: tables.orders,
    CHARGES_TABLE_NAME: tables.charges,
    SEATS_TABLE_NAME: tables.seats,
    LOCK_STORE: store,
    LOG_LEVEL: 'warn',
  };
  if (lock.ttlMs !== undefined) env.LOCK_TTL_MS = String(lock.ttlMs);
  if (lock.waitMs !== undefined) env.LOCK_WAIT_MS = String(lock.waitMs);
  if (store === 'upstash') {
    if (!endpoints.upstash) throw new Error('the upstash lock store needs the local Upstash endpoint');
    env.UPSTASH_REDIS_REST_URL = endpoints.upstash.url;
    env.UPSTASH_REDIS_REST_TOKEN = endpoints.upstash.token;
  }
  return env;
}

/**
 * Points this process's AWS SDK at DynamoDB Local through the standard variables, as a function's
 * environment does on Lambda: handlers built in-process then find it with no local special case.
 */
export function useLocalAwsEnv(endpoints: LocalEndpoints): void {
  const { endpoint, region, credentials } = endpoints.dynamodb;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
  process.env.AWS_REGION = region;
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
}

/** Test/demo data access over the example tables. */
export class LocalData {
  readonly db: DynamoDBDocumentClient;

  constructor(
    endpoints: LocalEndpoints,
    readonly tables: LocalTables,
  ) {
    this.db = DynamoDBDocumentClient.from(localDynamoDbClient(endpoints));
  }

  async seedOrder(orderId: string, amount: number, currency: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tables.orders,
        Item: { orderId, amount, currency, status: 'pending' },
      }),
    );
  }

  async seedSeats(eventId: string, seatIds: string[]): Promise<void> {
    for (let i = 0; i < seatIds.length; i += 25) {
      const batch = seatIds.slice(i, i + 25).map((seatId) => ({
        PutRequest: { Item: { eventId, seatId, status: 'available' } },
      }));
      await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tables.seats]: batch } }));
    }
  }

  /** Every charge recorded for an order: more than one is a double charge. */
  async chargesFor(orderId: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.tables.charges,
          FilterExpression: 'orderId = :o',
          ExpressionAttributeValues: { ':o': orderId },
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  async order(orderId: string): Promise<Record<string, unknown> | undefined> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tables.orders,
        KeyConditionExpression: 'orderId = :o',
        ExpressionAttributeValues: { ':o': orderId },
        ConsistentRead: true,
      }),
    );
    return page.Items?.[0];
  }

  async seats(eventId: string): Promise<Array<Record<string, unknown>>> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tables.seats,
        KeyConditionExpression: 'eventId = :e',
        ExpressionAttributeValues: { ':e': eventId },
        ConsistentRead: true,
      }),
    );
    return page.Items ?? [];
  }

  close(): void {
    this.db.destroy();
  }
}
