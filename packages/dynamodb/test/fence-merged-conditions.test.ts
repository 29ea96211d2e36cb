// How withFence merges with the user's own condition, placeholders and update expression, shown against
// DynamoDB Local (started by the global setup): a stale write is refused in every case, and the item
// keeps the newer holder's data and fence.
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { InvalidArgumentError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FenceableInput, sendFenced, withFence } from '../src/index.js';
import { freshResourceTable, localClient } from './support/dynamo.js';

let client: DynamoDBClient;
let table: string;
let n = 0;

beforeAll(async () => {
  client = localClient();
  table = await freshResourceTable(client, 'review-fence');
});
afterAll(() => client.destroy());

/** A fresh item written by a newer holder: fence `fence` (attribute `attribute`), status free. */
async function seeded(fence: number, attribute = 'fence'): Promise<{ id: { S: string } }> {
  const Key = { id: { S: `item-${Date.now()}-${n++}` } };
  await client.send(
    new PutItemCommand({
      TableName: table,
      Item: { ...Key, status: { S: 'free' }, [attribute]: { N: String(fence) }, by: { S: 'newer' } },
    }),
  );
  return Key;
}

async function stored(Key: { id: { S: string } }) {
  return (await client.send(new GetItemCommand({ TableName: table, Key, ConsistentRead: true }))).Item;
}

describe('withFence', () => {
  it('refuses a stale write whose own condition is an OR without parentheses that holds', async () => {
    const Key = await seeded(100);
    const input: UpdateItemCommandInput = {
      TableName: table,
      Key,
      UpdateExpression: 'SET #by = :me',
      // True for the item: if the fence were ANDed without grouping, `... AND #s = :free OR attribute_exists(id)`
      // would let this write through.
      ConditionExpression: '#s = :free OR attribute_exists(id)',
      ExpressionAttributeNames: { '#s': 'status', '#by': 'by' },
      ExpressionAttributeValues: { ':me': { S: 'stale' }, ':free': { S: 'free' } },
    };
    await expect(client.send(new UpdateItemCommand(withFence({ token: 5 }, input)))).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    expect(await stored(Key)).toMatchObject({ by: { S: 'newer' }, fence: { N: '100' } });
    // The same condition with a current token writes.
    await client.send(new UpdateItemCommand(withFence({ token: 100 }, input)));
    expect(await stored(Key)).toMatchObject({ by: { S: 'stale' }, fence: { N: '100' } });
  });

  it('keeps its placeholders apart from user placeholders that differ only in case', async () => {
    const Key = await seeded(100);
    const input = (token: number): UpdateItemCommandInput =>
      withFence(
        { token },
        {
          TableName: table,
          Key,
          UpdateExpression: 'SET #LHFENCE = :LHTOKEN, #lhfence = :lhtoken',
          ExpressionAttributeNames: { '#LHFENCE': 'mine', '#lhfence': 'mine2' },
          ExpressionAttributeValues: { ':LHTOKEN': { N: '1' }, ':lhtoken': { N: '2' } },
        },
      );
    expect(input(5).ExpressionAttributeNames?.['#lhFence']).toBe('fence');
    await expect(client.send(new UpdateItemCommand(input(5)))).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    expect(await stored(Key)).not.toHaveProperty('mine');
    await client.send(new UpdateItemCommand(input(200)));
    expect(await stored(Key)).toMatchObject({ mine: { N: '1' }, mine2: { N: '2' }, fence: { N: '200' } });
  });

  it('cannot be undone by a user update that also writes the fence attribute: DynamoDB rejects the request', async () => {
    const updates: [string, Record<string, string> | undefined][] = [
      ['SET fence = :v', undefined],
      ['SET #f = :v', { '#f': 'fence' }],
      ['REMOVE fence', undefined],
      ['REMOVE #f', { '#f': 'fence' }],
      ['ADD fence :v', undefined],
      ['SET fence.x = :v', undefined],
    ];
    for (const [UpdateExpression, names] of updates) {
      const Key = await seeded(100);
      const input = withFence(
        // A current token: the request would pass the fence, then lower or drop it.
        { token: 200 },
        {
          TableName: table,
          Key,
          UpdateExpression,
          ...(names && { ExpressionAttributeNames: names }),
          ...(UpdateExpression.includes(':v') && { ExpressionAttributeValues: { ':v': { N: '1' } } }),
        },
      );
      await expect(client.send(new UpdateItemCommand(input)), UpdateExpression).rejects.toMatchObject({
        name: 'ValidationException',
      });
      expect(await stored(Key), UpdateExpression).toMatchObject({ by: { S: 'newer' }, fence: { N: '100' } });
    }
  });

  it('with a configured attribute, fences by that attribute only', async () => {
    const Key = await seeded(100, 'lockFence');
    const write = (token: number, by: string) =>
      sendFenced(
        client,
        { token },
        new UpdateItemCommand({
          TableName: table,
          Key,
          UpdateExpression: 'SET #by = :by',
          ExpressionAttributeNames: { '#by': 'by' },
          ExpressionAttributeValues: { ':by': { S: by } },
        }),
        { attribute: 'lockFence' },
      );
    await expect(write(99, 'stale')).rejects.toMatchObject({ code: 'STALE_TOKEN', currentToken: 100 });
    await write(100, 'equal');
    expect(await stored(Key)).toMatchObject({ by: { S: 'equal' }, lockFence: { N: '100' } });
    expect(await stored(Key)).not.toHaveProperty('fence');
  });

  it('lets the first write to an existing item without a fence through, storing its token', async () => {
    const Key = { id: { S: `legacy-${Date.now()}` } };
    await client.send(
      new PutItemCommand({ TableName: table, Item: { ...Key, by: { S: 'before fencing' } } }),
    );
    const put = (token: number) =>
      sendFenced(
        client,
        { token },
        new PutItemCommand({ TableName: table, Item: { ...Key, by: { S: `t${token}` } } }),
      );
    await put(40);
    expect(await stored(Key)).toEqual({ ...Key, by: { S: 't40' }, fence: { N: '40' } });
    await expect(put(39)).rejects.toMatchObject({ code: 'STALE_TOKEN', token: 39, currentToken: 40 });
    expect(await stored(Key)).toEqual({ ...Key, by: { S: 't40' }, fence: { N: '40' } });
  });

  it('refuses every write while the fence attribute holds a non-number; sendFenced then rethrows the condition failure', async () => {
    const Key = { id: { S: `odd-${Date.now()}` } };
    await client.send(
      new PutItemCommand({ TableName: table, Item: { ...Key, fence: { S: '100' }, by: { S: 'newer' } } }),
    );
    const err = await sendFenced(
      client,
      { token: 10 ** 15 },
      new PutItemCommand({ TableName: table, Item: { ...Key, by: { S: 'any' } } }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect(await stored(Key)).toMatchObject({ fence: { S: '100' }, by: { S: 'newer' } });
  });

  it('rejects a token that is not a safe integer >= 0 before sending anything', () => {
    const input: FenceableInput = { TableName: table, Key: { id: { S: 'x' } } };
    for (const token of [2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, '7', 7n, null]) {
      expect(() => withFence({ token } as never, input), String(token)).toThrow(InvalidArgumentError);
    }
    expect(withFence({ token: 2 ** 53 - 1 }, input).ExpressionAttributeValues).toEqual({
      ':lhToken': { N: '9007199254740991' },
    });
  });
});
