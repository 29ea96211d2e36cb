import { existsSync } from 'node:fs';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJavaMajorVersion } from '../src/dynamodb.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../src/index.js';
import { childPids, isAlive, javaTmpDir, portAcceptsConnections, settlesWithin } from './helpers.js';

describe('startDynamoDbLocal', () => {
  let ddb: DynamoDbLocal;
  let client: DynamoDBClient;

  beforeAll(async () => {
    ddb = await startDynamoDbLocal();
    client = new DynamoDBClient({
      endpoint: ddb.endpoint,
      region: ddb.region,
      credentials: ddb.credentials,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await ddb?.stop();
  });

  it('describes a loopback endpoint with a region and fake credentials', () => {
    expect(ddb.endpoint).toBe(`http://127.0.0.1:${ddb.port}`);
    expect(ddb.region).toBe('us-east-1');
    expect(ddb.credentials.accessKeyId).toMatch(/^[A-Za-z0-9]+$/);
    expect(ddb.credentials.secretAccessKey.length).toBeGreaterThan(0);
    expect(isAlive(ddb.pid)).toBe(true);
  });

  it('answers CreateTable, PutItem, conditional UpdateItem and GetItem from the AWS SDK', async () => {
    await client.send(
      new CreateTableCommand({
        TableName: 'leasehold-locks',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const table = await client.send(new DescribeTableCommand({ TableName: 'leasehold-locks' }));
    expect(table.Table?.TableStatus).toBe('ACTIVE');

    await client.send(
      new PutItemCommand({
        TableName: 'leasehold-locks',
        Item: { pk: { S: 'payment:order-42' }, owner: { S: 'a' }, fence: { N: '1' } },
      }),
    );
    await client.send(
      new UpdateItemCommand({
        TableName: 'leasehold-locks',
        Key: { pk: { S: 'payment:order-42' } },
        UpdateExpression: 'SET fence = fence + :one',
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':one': { N: '1' }, ':me': { S: 'a' } },
      }),
    );
    await expect(
      client.send(
        new UpdateItemCommand({
          TableName: 'leasehold-locks',
          Key: { pk: { S: 'payment:order-42' } },
          UpdateExpression: 'SET fence = fence + :one',
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':one': { N: '1' }, ':me': { S: 'someone-else' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });

    const got = await client.send(
      new GetItemCommand({
        TableName: 'leasehold-locks',
        Key: { pk: { S: 'payment:order-42' } },
        ConsistentRead: true,
      }),
    );
    expect(got.Item).toEqual({ pk: { S: 'payment:order-42' }, owner: { S: 'a' }, fence: { N: '2' } });
  });

  it('shares one database across regions and credentials', async () => {
    const other = new DynamoDBClient({
      endpoint: ddb.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'other', secretAccessKey: 'other' },
      maxAttempts: 1,
    });
    try {
      const tables = await other.send(new ListTablesCommand({}));
      expect(tables.TableNames).toContain('leasehold-locks');
    } finally {
      other.destroy();
    }
  });

  it('hangs requests while paused and serves them after resume', async () => {
    ddb.pause();
    try {
      const pending = client.send(new ListTablesCommand({}));
      expect(await settlesWithin(pending, 500)).toBe('pending');
      ddb.resume();
      expect((await pending).TableNames).toContain('leasehold-locks');
    } finally {
      ddb.resume();
    }
  });
});

describe('DynamoDbLocal.stop', () => {
  it('kills the java process, its watchdog and its temp directory, and frees the port', async () => {
    const before = childPids();
    const ddb = await startDynamoDbLocal();
    const { pid, port } = ddb;
    const dir = javaTmpDir(pid);
    expect(dir).toMatch(/leasehold-dynamodb-/);
    expect(existsSync(dir!)).toBe(true);
    expect(await portAcceptsConnections(port)).toBe(true);
    await Promise.all([ddb.stop(), ddb.stop()]);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(isAlive(pid)).toBe(false);
    expect(await portAcceptsConnections(port)).toBe(false);
    expect(existsSync(dir!)).toBe(false);
    expect(childPids()).toEqual(before);
    await ddb.stop();
  });
});

describe('parseJavaMajorVersion', () => {
  it('reads modern and legacy version strings', () => {
    expect(parseJavaMajorVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaMajorVersion('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaMajorVersion('java version "1.8.0_292"')).toBe(8);
    expect(parseJavaMajorVersion('no version here')).toBeUndefined();
  });
});
