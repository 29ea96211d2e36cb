import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { createLockTable } from '../../src/index.js';
import './global-setup.js';

/** The DynamoDB Local endpoint started by the global setup. */
export function dynamoDbLocal() {
  return inject('dynamoDb');
}

/** A low-level client pointed at DynamoDB Local; `config` overrides (retries, handler, credentials). */
export function localClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const ddb = dynamoDbLocal();
  return new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: ddb.region,
    credentials: ddb.credentials,
    ...config,
  });
}

/** A unique table name, so test files and tests never share state. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

/** Creates a fresh lock table and returns its name. */
export async function freshLockTable(client: DynamoDBClient): Promise<string> {
  const tableName = uniqueName('locks');
  await createLockTable(client, tableName);
  return tableName;
}

/** Creates a fresh table of a user's own resource (string key `id`), to fence writes to; returns its name. */
export async function freshResourceTable(client: DynamoDBClient, prefix: string): Promise<string> {
  const tableName = uniqueName(prefix);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return tableName;
}

/** A fresh random owner id, like core's per-lease 128-bit id. */
export function ownerId(): string {
  return randomUUID().replaceAll('-', '');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Counts the HTTP requests a client sends, retries included (a middleware in the `deserialize` step runs
 * once per attempt, inside the SDK's retry loop), with the DynamoDB operation of each.
 */
export function countRequests(client: DynamoDBClient): {
  readonly operations: string[];
  /** The input of each request sent, in order. */
  readonly inputs: Record<string, unknown>[];
  reset(): void;
} {
  const operations: string[] = [];
  const inputs: Record<string, unknown>[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      const target = headers['x-amz-target'] ?? headers['X-Amz-Target'] ?? '?';
      operations.push(target.replace('DynamoDB_20120810.', ''));
      inputs.push(args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'deserialize', name: 'leaseholdTestRequestCounter', priority: 'low' },
  );
  return {
    operations,
    inputs,
    reset: () => {
      operations.length = 0;
      inputs.length = 0;
    },
  };
}
