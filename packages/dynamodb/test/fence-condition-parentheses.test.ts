// The fence guard ANDs its own condition with the user's, in parentheses. A user condition whose
// parentheses do not balance on their own (a `)` closing a group it never opened) ends the fence's
// grouping early: `(fence) AND (a = :x) OR (b = :y)` parses as `((fence) AND a = :x) OR b = :y`, so
// the user's OR branch lets a stale holder write — and lower the item's fence for every stale holder
// after it. Such a condition is a syntax error when sent unfenced, so only the fence guard can make
// it "work". Against DynamoDB Local (started by the global setup).
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { InvalidArgumentError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFenced, withFence } from '../src/index.js';
import { freshResourceTable, localClient } from './support/dynamo.js';

let client: DynamoDBClient;
let table: string;

beforeAll(async () => {
  client = localClient();
  table = await freshResourceTable(client, 'seats');
});
afterAll(() => client.destroy());

describe('a user condition whose parentheses do not balance on their own', () => {
  it('cannot end the fence grouping early: a stale holder is not let through by its OR branch', async () => {
    const Key = { id: { S: `seat-${Date.now()}` } };
    // A newer holder (token 100) booked the seat.
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: { ...Key, status: { S: 'free' }, fence: { N: '100' }, customer: { S: 'new-holder' } },
      }),
    );
    const staleWrite = new UpdateItemCommand({
      TableName: table,
      Key,
      UpdateExpression: 'SET customer = :me',
      // Unbalanced: the first `)` closes the fence's group, the OR escapes it.
      ConditionExpression: '#s = :free) OR (#s = :free',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':me': { S: 'stale-holder' }, ':free': { S: 'free' } },
    });

    await expect(sendFenced(client, { token: 5 }, staleWrite)).rejects.toBeInstanceOf(InvalidArgumentError);

    const item = (await client.send(new GetItemCommand({ TableName: table, Key, ConsistentRead: true })))
      .Item;
    expect(item?.customer).toEqual({ S: 'new-holder' });
    expect(item?.fence).toEqual({ N: '100' });
  });

  it('is rejected by withFence, whatever the shape of the imbalance', () => {
    const input = (ConditionExpression: string) => ({
      TableName: table,
      Key: { id: { S: 'x' } },
      UpdateExpression: 'SET a = :a',
      ConditionExpression,
      ExpressionAttributeValues: { ':a': { S: 'a' }, ':b': { S: 'b' } },
    });
    for (const condition of ['a = :a) OR (a = :b', 'a = :a) OR attribute_exists(id', '(a = :a', 'a = :a)']) {
      expect(() => withFence({ token: 1 }, input(condition))).toThrow(InvalidArgumentError);
    }
    // Balanced conditions, nested or not, are fenced as before.
    for (const condition of ['a = :a OR a = :b', '(a = :a) OR (size(a) > :b AND (a <> :b))']) {
      expect(withFence({ token: 1 }, input(condition)).ConditionExpression).toBe(
        `(attribute_not_exists(#lhFence) OR #lhFence <= :lhToken) AND (${condition})`,
      );
    }
  });
});
