import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { StaleTokenError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFenced } from '../src/index.js';
import { freshResourceTable, localClient } from './support/dynamo.js';

let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let table: string;

beforeAll(async () => {
  client = localClient();
  doc = DynamoDBDocumentClient.from(client);
  table = await freshResourceTable(client, 'orders');
});
afterAll(() => client.destroy());

describe('sendFenced when the user condition fails for the lease that wrote last', () => {
  // The item's fence equals the lease's token: the lease is not stale, only the caller's own condition
  // failed. A StaleTokenError would tell the caller its lease was overtaken when it was not.
  it('rethrows the ConditionalCheckFailedException, not a StaleTokenError, when the stored fence equals the token', async () => {
    const id = `order-${Date.now()}`;
    const guarded = (note: string) =>
      new UpdateCommand({
        TableName: table,
        Key: { id },
        UpdateExpression: 'SET note = :note',
        ConditionExpression: 'attribute_not_exists(note)',
        ExpressionAttributeValues: { ':note': note },
      });
    await sendFenced(doc, { token: 7 }, guarded('once'));

    const err = await sendFenced(doc, { token: 7 }, guarded('twice')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect(err).not.toBeInstanceOf(StaleTokenError);
    const item = await doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }));
    expect(item.Item).toEqual({ id, note: 'once', fence: 7 });
  });
});

describe('sendFenced rethrowing the caller’s own condition failure', () => {
  const order = async () => {
    const id = `order-${Date.now()}-${Math.random()}`;
    await sendFenced(
      doc,
      { token: 3 },
      new UpdateCommand({
        TableName: table,
        Key: { id },
        UpdateExpression: 'SET email = :email',
        ExpressionAttributeValues: { ':email': 'buyer@example.com' },
      }),
    );
    return id;
  };
  const refused = (id: string, asked: 'ALL_OLD' | undefined) =>
    new UpdateCommand({
      TableName: table,
      Key: { id },
      UpdateExpression: 'SET paid = :yes',
      ConditionExpression: 'attribute_exists(paid)',
      ExpressionAttributeValues: { ':yes': true },
      ...(asked && { ReturnValuesOnConditionCheckFailure: asked }),
    });

  it('leaves the stored item off the exception when the command did not ask for it', async () => {
    const id = await order();
    const err = await sendFenced(doc, { token: 3 }, refused(id, undefined)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect((err as ConditionalCheckFailedException).Item).toBeUndefined();
    expect(JSON.stringify(err)).not.toContain('buyer@example.com');
  });

  it('keeps the stored item on the exception when the command asked for it (ALL_OLD)', async () => {
    const id = await order();
    const err = await sendFenced(doc, { token: 3 }, refused(id, 'ALL_OLD')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect((err as ConditionalCheckFailedException).Item).toMatchObject({
      email: { S: 'buyer@example.com' },
    });
  });
});
