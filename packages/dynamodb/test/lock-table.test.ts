import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { InvalidArgumentError, StoreError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLockTable,
  dynamoDbStore,
  LOCK_TABLE_PARTITION_KEY,
  LOCK_TABLE_TTL_ATTRIBUTE,
  lockTableDefinition,
} from '../src/index.js';
import { localClient, ownerId, uniqueName } from './support/dynamo.js';
import { closedPort } from './support/fault-proxy.js';

let client: DynamoDBClient;
beforeAll(() => {
  client = localClient();
});
afterAll(() => client.destroy());

describe('lockTableDefinition', () => {
  it('is a string partition key "pk", on demand', () => {
    expect(lockTableDefinition('leasehold-locks')).toEqual({
      TableName: 'leasehold-locks',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(LOCK_TABLE_PARTITION_KEY).toBe('pk');
    expect(LOCK_TABLE_TTL_ATTRIBUTE).toBe('ttl');
  });

  it('rejects names DynamoDB would reject', () => {
    for (const name of ['', 'ab', 'has space', 'a'.repeat(256), 'slash/name']) {
      expect(() => lockTableDefinition(name)).toThrow(InvalidArgumentError);
    }
  });
});

describe('createLockTable', () => {
  it('creates an ACTIVE table with TTL on "ttl" that the store can use', async () => {
    const tableName = uniqueName('locks');
    expect(await createLockTable(client, tableName)).toEqual({ tableName, created: true });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
    const result = await dynamoDbStore({ client, tableName }).acquire({
      key: 'k',
      owner: ownerId(),
      ttlMs: 1_000,
    });
    expect(result.acquired).toBe(true);
  });

  it('reuses an existing lock table (ifNotExists, the default) and enables TTL if it was off', async () => {
    const tableName = uniqueName('locks');
    await client.send(new CreateTableCommand(lockTableDefinition(tableName)));
    expect(await createLockTable(client, tableName)).toEqual({ tableName, created: false });
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription?.TimeToLiveStatus).toBe('ENABLED');
    // And again: nothing left to do, no error.
    expect(await createLockTable(client, tableName)).toEqual({ tableName, created: false });
  });

  it('with ifNotExists: false, an existing table raises ResourceInUseException', async () => {
    const tableName = uniqueName('locks');
    await createLockTable(client, tableName);
    await expect(createLockTable(client, tableName, { ifNotExists: false })).rejects.toMatchObject({
      name: 'ResourceInUseException',
    });
  });

  it('refuses to adopt a table with another key schema or another TTL attribute', async () => {
    const wrongKey = uniqueName('orders');
    await client.send(
      new CreateTableCommand({
        TableName: wrongKey,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await expect(createLockTable(client, wrongKey)).rejects.toThrow(/not a lock table/);

    const wrongTtl = uniqueName('locks');
    await client.send(new CreateTableCommand(lockTableDefinition(wrongTtl)));
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: wrongTtl,
        TimeToLiveSpecification: { AttributeName: 'expires', Enabled: true },
      }),
    );
    const err = await createLockTable(client, wrongTtl).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('"expires"');
  });

  it('maps an unreachable endpoint to a StoreError', async () => {
    const port = await closedPort();
    const offline = localClient({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    const err = await createLockTable(offline, 'leasehold-locks').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind: 'unreachable' });
    offline.destroy();
  });
});
