import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { StaleTokenError } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendFenced } from '../src/index.js';
import { dynamoDbLocal, freshResourceTable, localClient } from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

// Found by the fault soak: a fenced write is applied, its answer is lost, a newer holder writes the item,
// and the SDK's retry of the first write is refused by the fence. The refusal of that last copy says
// nothing about the first one, which did land: the error must not claim the write never happened.

let direct: DynamoDBClient;
let viaProxy: DynamoDBClient;
let proxy: FaultProxy;
let table: string;
let n = 0;

/** A fenced write of `writer` to item `id` (its id goes into a string set, to see whether it landed). */
const write = (id: string, writer: string) =>
  new UpdateItemCommand({
    TableName: table,
    Key: { id: { S: id } },
    UpdateExpression: 'SET #w = :w ADD #ids :id',
    ExpressionAttributeNames: { '#w': 'writer', '#ids': 'writeIds' },
    ExpressionAttributeValues: { ':w': { S: writer }, ':id': { SS: [writer] } },
  });

async function writeIds(id: string): Promise<string[]> {
  const { Item } = await direct.send(
    new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }),
  );
  return [...(Item?.writeIds?.SS ?? [])].sort();
}

beforeAll(async () => {
  direct = localClient();
  table = await freshResourceTable(direct, 'fenced');
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
  viaProxy = localClient({ endpoint: proxy.endpoint, maxAttempts: 3 });
});
beforeEach(() => proxy.reset());
afterAll(async () => {
  viaProxy.destroy();
  direct.destroy();
  await proxy.close();
});

describe('sendFenced, when the SDK retries a write whose answer was lost', () => {
  it('a newer token arriving between the copies: StaleTokenError with maybeApplied, and the first copy did land', async () => {
    const id = `order-${n++}`;
    proxy.inject(
      { kind: 'apply-then-drop' },
      // Before the retry reaches DynamoDB, a newer holder (token 8) writes the item.
      { kind: 'forward', before: () => sendFenced(direct, { token: 8 }, write(id, 'newer')) },
    );
    const error = await sendFenced(viaProxy, { token: 7 }, write(id, 'older')).catch((e: unknown) => e);
    expect(proxy.seen.map((r) => r.fault)).toEqual(['apply-then-drop', 'forward']);
    expect(error).toBeInstanceOf(StaleTokenError);
    expect(error).toMatchObject({ token: 7, currentToken: 8, maybeApplied: true });
    expect((error as Error).message).toMatch(/may have been applied/);
    expect(await writeIds(id)).toEqual(['newer', 'older']);
  });

  it('a write refused at its first and only copy: StaleTokenError without maybeApplied, and nothing landed', async () => {
    const id = `order-${n++}`;
    await sendFenced(direct, { token: 8 }, write(id, 'newer'));
    const error = await sendFenced(viaProxy, { token: 7 }, write(id, 'older')).catch((e: unknown) => e);
    expect(proxy.seen).toHaveLength(1);
    expect(error).toBeInstanceOf(StaleTokenError);
    expect(error).toMatchObject({ token: 7, currentToken: 8, maybeApplied: false });
    expect((error as Error).message).not.toMatch(/may have been applied/);
    expect(await writeIds(id)).toEqual(['newer']);
  });

  it('a retry the fence lets through (its own token stored by the first copy) resolves: the write landed once', async () => {
    const id = `order-${n++}`;
    proxy.inject({ kind: 'apply-then-drop' });
    await sendFenced(viaProxy, { token: 7 }, write(id, 'older'));
    expect(proxy.seen).toHaveLength(2);
    expect(await writeIds(id)).toEqual(['older']);
  });
});
