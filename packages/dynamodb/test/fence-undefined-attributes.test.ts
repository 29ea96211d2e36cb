// A low-level input may carry attributes whose value is `undefined` (an item built with optional
// fields): the SDK leaves them out of the request and DynamoDB writes the item. withFence must still see
// the input as low level; taking it for a DocumentClient input puts a bare number where an
// AttributeValue belongs, and every fenced write of that item fails (DynamoDB Local: InternalFailure,
// a 500 that the SDK even retries). Against DynamoDB Local (started by the global setup).
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FenceableInput, sendFenced, withFence } from '../src/index.js';
import { freshResourceTable, localClient } from './support/dynamo.js';

let client: DynamoDBClient;
let table: string;

beforeAll(async () => {
  client = localClient({ maxAttempts: 1 });
  table = await freshResourceTable(client, 'review-fence-undefined');
});
afterAll(() => client.destroy());

describe('withFence on a low-level input with undefined attribute values', () => {
  it('detects the low-level shape and writes a Number token', () => {
    const put: FenceableInput = withFence(
      { token: 5 },
      { TableName: table, Item: { id: { S: 'a' }, note: undefined } },
    );
    expect(put.ExpressionAttributeValues).toEqual({ ':lhToken': { N: '5' } });
    expect(put.Item).toEqual({ id: { S: 'a' }, note: undefined, fence: { N: '5' } });
    // An AttributeValue whose other members are spelled out as undefined (`{ ...av, N: undefined }`).
    const update: FenceableInput = withFence(
      { token: 5 },
      { TableName: table, Key: { id: { S: 'a', N: undefined } } },
    );
    expect(update.ExpressionAttributeValues).toEqual({ ':lhToken': { N: '5' } });
  });

  it('fences the write: a current token writes, a stale one is a StaleTokenError', async () => {
    const id = `item-${Date.now()}`;
    const put = (token: number, note?: string) =>
      sendFenced(
        client,
        { token },
        new PutItemCommand({
          TableName: table,
          Item: { id: { S: id }, note: note === undefined ? undefined : { S: note } },
        } as PutItemCommandInput),
      );
    await put(10);
    await sendFenced(
      client,
      { token: 11 },
      new UpdateItemCommand({
        TableName: table,
        Key: { id: { S: id }, other: undefined } as never,
        UpdateExpression: 'SET note = :n',
        ExpressionAttributeValues: { ':n': { S: 'by 11' } },
      }),
    );
    await expect(put(10)).rejects.toMatchObject({ code: 'STALE_TOKEN', currentToken: 11 });
    const item = await client.send(
      new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }),
    );
    expect(item.Item).toEqual({ id: { S: id }, note: { S: 'by 11' }, fence: { N: '11' } });
  });
});
