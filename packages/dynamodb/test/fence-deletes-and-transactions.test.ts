// Fenced deletes and multi-item transactions against DynamoDB Local (started by the global setup): a
// stale holder's delete, or any stale entry of a transaction, changes nothing.
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { StaleTokenError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFenced, withFence } from '../src/index.js';
import { freshResourceTable, localClient } from './support/dynamo.js';

let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let table: string;
let n = 0;

beforeAll(async () => {
  client = localClient();
  doc = DynamoDBDocumentClient.from(client);
  table = await freshResourceTable(client, 'review-fence-tx');
});
afterAll(() => client.destroy());

const newId = () => `item-${Date.now()}-${n++}`;

/** Writes an item as a newer holder with `fence` would have. */
async function seed(id: string, fence: number): Promise<void> {
  await client.send(
    new PutItemCommand({
      TableName: table,
      Item: { id: { S: id }, fence: { N: String(fence) }, v: { S: 'newer' } },
    }),
  );
}

async function stored(id: string) {
  return (
    await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))
  ).Item;
}

describe('sendFenced with a delete', () => {
  it('refuses a stale DeleteItemCommand and DeleteCommand with a StaleTokenError, and deletes with a current token', async () => {
    const id = newId();
    await seed(id, 100);
    await expect(
      sendFenced(client, { token: 99 }, new DeleteItemCommand({ TableName: table, Key: { id: { S: id } } })),
    ).rejects.toMatchObject({ code: 'STALE_TOKEN', token: 99, currentToken: 100 });
    const err = await sendFenced(
      doc,
      { token: 99 },
      new DeleteCommand({ TableName: table, Key: { id } }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleTokenError);
    expect(await stored(id)).toMatchObject({ fence: { N: '100' }, v: { S: 'newer' } });

    await sendFenced(doc, { token: 100 }, new DeleteCommand({ TableName: table, Key: { id } }));
    expect(await stored(id)).toBeUndefined();
  });

  it('a bare DeleteItem input fenced by withFence is refused when stale (the added SET is not sent)', async () => {
    const id = newId();
    await seed(id, 100);
    const fenced = withFence({ token: 7 }, { TableName: table, Key: { id: { S: id } } });
    await expect(client.send(new DeleteItemCommand(fenced))).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    expect(await stored(id)).toMatchObject({ fence: { N: '100' } });
    await client.send(
      new DeleteItemCommand(withFence({ token: 101 }, { TableName: table, Key: { id: { S: id } } })),
    );
    expect(await stored(id)).toBeUndefined();
  });

  it('removes the fence with the item: a stale write afterwards is let through (the documented limit)', async () => {
    const id = newId();
    await seed(id, 100);
    await sendFenced(
      client,
      { token: 100 },
      new DeleteItemCommand({ TableName: table, Key: { id: { S: id } } }),
    );
    await sendFenced(client, { token: 3 }, new PutItemCommand({ TableName: table, Item: { id: { S: id } } }));
    expect(await stored(id)).toEqual({ id: { S: id }, fence: { N: '3' } });
  });
});

describe('withFence in a TransactWriteItems request with several items', () => {
  it('cancels the whole transaction when one entry is stale, for every entry kind (low-level client)', async () => {
    const [fresh, stale, gone, checked] = [newId(), newId(), newId(), newId()];
    await seed(stale, 100);
    await seed(gone, 100);
    await seed(checked, 100);
    const tx = (staleToken: number): TransactWriteItemsCommandInput => ({
      TransactItems: [
        { Put: withFence({ token: 200 }, { TableName: table, Item: { id: { S: fresh }, v: { S: 'tx' } } }) },
        {
          Update: withFence(
            { token: staleToken },
            {
              TableName: table,
              Key: { id: { S: stale } },
              UpdateExpression: 'SET v = :v',
              ExpressionAttributeValues: { ':v': { S: 'tx' } },
            },
          ),
        },
        { Delete: withFence({ token: staleToken }, { TableName: table, Key: { id: { S: gone } } }) },
        {
          ConditionCheck: withFence({ token: staleToken }, { TableName: table, Key: { id: { S: checked } } }),
        },
      ],
    });
    const err = await client.send(new TransactWriteItemsCommand(tx(99))).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TransactionCanceledException' });
    expect(
      (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons?.map((r) => r.Code),
    ).toEqual(['None', 'ConditionalCheckFailed', 'ConditionalCheckFailed', 'ConditionalCheckFailed']);
    expect(await stored(fresh)).toBeUndefined();
    expect(await stored(stale)).toMatchObject({ v: { S: 'newer' }, fence: { N: '100' } });
    expect(await stored(gone)).toMatchObject({ fence: { N: '100' } });

    await client.send(new TransactWriteItemsCommand(tx(100)));
    expect(await stored(fresh)).toEqual({ id: { S: fresh }, v: { S: 'tx' }, fence: { N: '200' } });
    expect(await stored(stale)).toMatchObject({ v: { S: 'tx' }, fence: { N: '100' } });
    expect(await stored(gone)).toBeUndefined();
  });

  it('cancels the whole transaction when one entry is stale (DocumentClient)', async () => {
    const [a, b] = [newId(), newId()];
    await seed(b, 100);
    const tx = (tokenB: number) =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: withFence({ token: 200 }, { TableName: table, Item: { id: a, v: 'tx' } }) },
            {
              Update: withFence(
                { token: tokenB },
                {
                  TableName: table,
                  Key: { id: b },
                  UpdateExpression: 'SET v = :v',
                  ExpressionAttributeValues: { ':v': 'tx' },
                },
              ),
            },
          ],
        }),
      );
    await expect(tx(50)).rejects.toMatchObject({ name: 'TransactionCanceledException' });
    expect(await stored(a)).toBeUndefined();
    expect(await stored(b)).toMatchObject({ v: { S: 'newer' }, fence: { N: '100' } });
    await tx(150);
    expect(await stored(a)).toEqual({ id: { S: a }, v: { S: 'tx' }, fence: { N: '200' } });
    expect(await stored(b)).toMatchObject({ v: { S: 'tx' }, fence: { N: '150' } });
  });

  it('refuses a whole TransactWriteItems input (it has no TableName): fence its entries instead', async () => {
    const input = { TransactItems: [{ Put: { TableName: table, Item: { id: { S: newId() } } } }] };
    expect(() => withFence({ token: 1 }, input as never)).toThrow(/TableName/);
    await expect(
      sendFenced(client, { token: 1 }, new TransactWriteItemsCommand(input) as never),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
