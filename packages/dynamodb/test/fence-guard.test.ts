import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { InvalidArgumentError, isLeaseholdError, StaleTokenError } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dynamoDbStore,
  type FenceableInput,
  type FenceOptions,
  sendFenced,
  withFence,
} from '../src/index.js';
import { freshLockTable, freshResourceTable, localClient, ownerId, sleep } from './support/dynamo.js';

let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let table: string;
let idCounter = 0;
const newId = () => `order-${Date.now()}-${idCounter++}`;

/** Deep-freezes a value so any mutation by the code under test throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

async function storedItem(id: string) {
  return (await doc.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }))).Item;
}

beforeAll(async () => {
  client = localClient();
  doc = DynamoDBDocumentClient.from(client);
  // The user's own table, not a lock table.
  table = await freshResourceTable(client, 'orders');
});
afterAll(() => client.destroy());

/** withFence on an input typed as the general shape, so the test can read every field back. */
const fence = (token: number, input: FenceableInput, options?: FenceOptions): FenceableInput =>
  withFence({ token }, { TableName: 't', ...input }, options);

describe('withFence (input transformation)', () => {
  it('adds the fence to a low-level update without mutating the input', () => {
    const input: UpdateItemCommandInput = deepFreeze({
      TableName: 'orders',
      Key: { id: { S: 'o-1' } },
      UpdateExpression: 'SET #s = :paid REMOVE pending',
      ConditionExpression: '#s = :new',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':paid': { S: 'PAID' }, ':new': { S: 'NEW' } },
    });
    const snapshot = structuredClone(input);
    const out = withFence({ token: 42 }, input);
    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
    expect(out).toEqual({
      TableName: 'orders',
      Key: { id: { S: 'o-1' } },
      UpdateExpression: 'SET #lhFence = :lhToken, #s = :paid REMOVE pending',
      ConditionExpression: '(attribute_not_exists(#lhFence) OR #lhFence <= :lhToken) AND (#s = :new)',
      ExpressionAttributeNames: { '#s': 'status', '#lhFence': 'fence' },
      ExpressionAttributeValues: { ':paid': { S: 'PAID' }, ':new': { S: 'NEW' }, ':lhToken': { N: '42' } },
    });
  });

  it('adds the fence to a DocumentClient put as a plain number, without mutating the input', () => {
    const input: PutCommandInput = deepFreeze({
      TableName: 'orders',
      Item: { id: 'o-1', total: 12, tags: { S: 'not an AttributeValue here' } },
    });
    const snapshot = structuredClone(input);
    const out = withFence({ token: 7 }, input, { attribute: 'writerToken' });
    expect(input).toEqual(snapshot);
    expect(out).toEqual({
      TableName: 'orders',
      Item: { id: 'o-1', total: 12, tags: { S: 'not an AttributeValue here' }, writerToken: 7 },
      ConditionExpression: '(attribute_not_exists(#lhFence) OR #lhFence <= :lhToken)',
      ExpressionAttributeNames: { '#lhFence': 'writerToken' },
      ExpressionAttributeValues: { ':lhToken': 7 },
    });
  });

  it('creates a SET clause when the update has none, and finds a lowercase one', () => {
    expect(fence(1, { Key: { id: 'a' } }).UpdateExpression).toBe('SET #lhFence = :lhToken');
    expect(fence(1, { Key: { id: 'a' }, UpdateExpression: 'ADD n :one' }).UpdateExpression).toBe(
      'SET #lhFence = :lhToken ADD n :one',
    );
    expect(fence(1, { Key: { id: 'a' }, UpdateExpression: 'REMOVE #set set a = :a' }).UpdateExpression).toBe(
      'REMOVE #set set #lhFence = :lhToken, a = :a',
    );
  });

  it('picks placeholders the input does not use', () => {
    const out = fence(3, {
      Key: { id: 'a' },
      UpdateExpression: 'SET #lhFence = :lhToken, #lhFence1 = :lhToken1',
      ExpressionAttributeNames: { '#lhFence': 'mine', '#lhFence1': 'mine2' },
      ExpressionAttributeValues: { ':lhToken': 'x', ':lhToken1': 'y' },
    });
    expect(out.ExpressionAttributeNames).toEqual({
      '#lhFence': 'mine',
      '#lhFence1': 'mine2',
      '#lhFence2': 'fence',
    });
    expect(out.ExpressionAttributeValues).toEqual({ ':lhToken': 'x', ':lhToken1': 'y', ':lhToken2': 3 });
    expect(out.UpdateExpression).toBe(
      'SET #lhFence2 = :lhToken2, #lhFence = :lhToken, #lhFence1 = :lhToken1',
    );
  });

  it('detects the shape from the key or item, and honours an explicit { marshalled }', () => {
    const low = fence(5, { Key: { id: { S: 'a' } } });
    expect(low.ExpressionAttributeValues).toEqual({ ':lhToken': { N: '5' } });
    const plain = fence(5, { Key: { id: 'a' } });
    expect(plain.ExpressionAttributeValues).toEqual({ ':lhToken': 5 });
    const binaryKey = fence(5, { Key: { id: new Uint8Array([1]) } });
    expect(binaryKey.ExpressionAttributeValues).toEqual({ ':lhToken': 5 });
    const forced = fence(5, { Key: { id: { S: 'a' } } }, { marshalled: false });
    expect(forced.ExpressionAttributeValues).toEqual({ ':lhToken': 5 });
    const forcedPut = fence(5, { Item: { id: 'a' } }, { marshalled: true });
    expect(forcedPut.Item).toEqual({ id: 'a', fence: { N: '5' } });
  });

  it('rejects what it cannot fence', () => {
    const T = 't';
    const bad: [unknown, unknown, unknown?][] = [
      [{ token: -1 }, { TableName: T, Key: { id: 'a' } }],
      [{ token: 1.5 }, { TableName: T, Key: { id: 'a' } }],
      [{}, { TableName: T, Key: { id: 'a' } }],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' } }, { attribute: '' }],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' } }, { marshalled: 'yes' }],
      [{ token: 1 }, { TableName: T }],
      [{ token: 1 }, { TableName: T, Key: {} }],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' }, Item: { id: 'a' } }],
      [
        { token: 1 },
        { TableName: T, Key: { id: 'a' }, AttributeUpdates: { n: { Action: 'PUT', Value: 1 } } },
      ],
      [{ token: 1 }, { TableName: T, Item: { id: 'a' }, Expected: { id: { Exists: false } } }],
      [{ token: 1 }, null],
      // A BatchWriteItem PutRequest: no table, and DynamoDB would ignore a condition on it.
      [{ token: 1 }, { Item: { id: 'a' } }],
      [{ token: 1 }, { TableName: '', Key: { id: 'a' } }],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' } }, null],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' }, ConditionExpression: 42 }],
      [{ token: 1 }, { TableName: T, Key: { id: 'a' }, UpdateExpression: ['SET a = :a'] }],
    ];
    for (const [lease, input, options] of bad) {
      expect(() => withFence(lease as never, input as never, options as never)).toThrow(InvalidArgumentError);
    }
  });
});

describe('fenced writes against DynamoDB Local', () => {
  const update = (id: string, note: string): UpdateCommandInput => ({
    TableName: table,
    Key: { id },
    UpdateExpression: 'SET note = :note',
    ExpressionAttributeValues: { ':note': note },
  });

  it('a first write stores the token; equal and newer tokens write; an older one is a StaleTokenError', async () => {
    const id = newId();
    await sendFenced(doc, { token: 100 }, new UpdateCommand(update(id, 'first')));
    expect(await storedItem(id)).toEqual({ id, note: 'first', fence: 100 });

    await sendFenced(doc, { token: 100 }, new UpdateCommand(update(id, 'same token')));
    expect(await storedItem(id)).toMatchObject({ note: 'same token', fence: 100 });

    await sendFenced(doc, { token: 101 }, new UpdateCommand(update(id, 'newer')));
    expect(await storedItem(id)).toMatchObject({ note: 'newer', fence: 101 });

    const err = await sendFenced(doc, { token: 100 }, new UpdateCommand(update(id, 'stale'))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StaleTokenError);
    expect(isLeaseholdError(err, 'STALE_TOKEN')).toBe(true);
    expect(err).toMatchObject({ token: 100, currentToken: 101 });
    expect((err as Error).message).toContain(table);
    expect(await storedItem(id)).toMatchObject({ note: 'newer', fence: 101 });
  });

  it('rethrows the original ConditionalCheckFailedException when the user condition fails', async () => {
    const id = newId();
    const guarded = (note: string): UpdateCommandInput => ({
      ...update(id, note),
      ConditionExpression: 'attribute_not_exists(note)',
    });
    await sendFenced(doc, { token: 5 }, new UpdateCommand(guarded('once')));
    const err = await sendFenced(doc, { token: 6 }, new UpdateCommand(guarded('twice'))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect(err).not.toBeInstanceOf(StaleTokenError);
    expect(await storedItem(id)).toEqual({ id, note: 'once', fence: 5 });
  });

  it('reports a stale token even when the user condition fails too', async () => {
    const id = newId();
    await sendFenced(doc, { token: 9 }, new UpdateCommand(update(id, 'x')));
    const err = await sendFenced(
      doc,
      { token: 8 },
      new UpdateCommand({ ...update(id, 'y'), ConditionExpression: 'attribute_not_exists(note)' }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleTokenError);
  });

  it('fences low-level UpdateItemCommand and PutItemCommand through a DynamoDBClient', async () => {
    const id = newId();
    const put = (token: number, note: string) =>
      sendFenced(
        client,
        { token },
        new PutItemCommand({ TableName: table, Item: { id: { S: id }, note: { S: note } } }),
      );
    const upd = (token: number, note: string) =>
      sendFenced(
        client,
        { token },
        new UpdateItemCommand({
          TableName: table,
          Key: { id: { S: id } },
          UpdateExpression: 'SET note = :n',
          ExpressionAttributeValues: { ':n': { S: note } },
          ReturnValues: 'ALL_NEW',
        }),
      );
    await put(10, 'put');
    const out = await upd(11, 'update');
    // The output keeps its command's type: low-level AttributeValues here.
    expect(out.Attributes).toEqual({ id: { S: id }, note: { S: 'update' }, fence: { N: '11' } });
    await expect(put(10, 'stale put')).rejects.toMatchObject({ code: 'STALE_TOKEN', currentToken: 11 });
    await expect(upd(10, 'stale update')).rejects.toBeInstanceOf(StaleTokenError);
    const raw = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } } }));
    expect(raw.Item).toEqual({ id: { S: id }, note: { S: 'update' }, fence: { N: '11' } });
  });

  it('fences a DocumentClient PutCommand, replacing a fence copied in from a read', async () => {
    const id = newId();
    await sendFenced(doc, { token: 20 }, new PutCommand({ TableName: table, Item: { id, v: 1 } }));
    const read = await storedItem(id);
    expect(read).toEqual({ id, v: 1, fence: 20 });
    // Read-modify-write with a newer lease: the old fence in the copied item is replaced.
    await sendFenced(doc, { token: 21 }, new PutCommand({ TableName: table, Item: { ...read, v: 2 } }));
    expect(await storedItem(id)).toEqual({ id, v: 2, fence: 21 });
    await expect(
      sendFenced(doc, { token: 20 }, new PutCommand({ TableName: table, Item: { id, v: 3 } })),
    ).rejects.toBeInstanceOf(StaleTokenError);
  });

  it('withFence output works when sent directly, and the fence rejection is a plain condition failure', async () => {
    const id = newId();
    const input: PutItemCommandInput = { TableName: table, Item: { id: { S: id }, n: { N: '1' } } };
    await client.send(new PutItemCommand(withFence({ token: 50 }, input)));
    await client.send(new PutItemCommand(withFence({ token: 51 }, input)));
    await expect(client.send(new PutItemCommand(withFence({ token: 50 }, input)))).rejects.toBeInstanceOf(
      ConditionalCheckFailedException,
    );
    await doc.send(new UpdateCommand(withFence({ token: 52 }, update(id, 'doc'))));
    expect(await storedItem(id)).toEqual({ id, n: 1, note: 'doc', fence: 52 });
  });

  it('fences the Update and Put entries of a TransactWriteItems request', async () => {
    const a = newId();
    const b = newId();
    const write = (token: number) =>
      client.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            {
              Update: withFence(
                { token },
                {
                  TableName: table,
                  Key: { id: { S: a } },
                  UpdateExpression: 'SET seat = :s',
                  ExpressionAttributeValues: { ':s': { S: 'e1:s12' } },
                },
              ),
            },
            {
              Put: withFence(
                { token },
                { TableName: table, Item: { id: { S: b }, by: { N: String(token) } } },
              ),
            },
          ],
        }),
      );
    await write(30);
    await write(31);
    await expect(write(30)).rejects.toMatchObject({ name: 'TransactionCanceledException' });
    expect(await storedItem(a)).toEqual({ id: a, seat: 'e1:s12', fence: 31 });
    expect(await storedItem(b)).toEqual({ id: b, by: 31, fence: 31 });
  });

  it('does not collide with the user placeholders on a real write', async () => {
    const id = newId();
    await sendFenced(
      doc,
      { token: 3 },
      new UpdateCommand({
        TableName: table,
        Key: { id },
        UpdateExpression: 'SET #lhFence = :lhToken',
        ConditionExpression: 'attribute_not_exists(#lhFence)',
        ExpressionAttributeNames: { '#lhFence': 'mine' },
        ExpressionAttributeValues: { ':lhToken': 'user value' },
      }),
    );
    expect(await storedItem(id)).toEqual({ id, mine: 'user value', fence: 3 });
  });

  it('sendFenced rejects a plain input (it needs a command to know the client shape)', async () => {
    await expect(sendFenced(doc, { token: 1 }, { input: update(newId(), 'x') })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(
      sendFenced({} as never, { token: 1 }, new UpdateCommand(update(newId(), 'x'))),
    ).rejects.toThrow(InvalidArgumentError);
  });

  it('sendFenced rejects null options as bad input, writing nothing', async () => {
    const id = newId();
    await expect(
      sendFenced(doc, { token: 1 }, new UpdateCommand(update(id, 'x')), null as never),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'options' });
    expect(await storedItem(id)).toBeUndefined();
  });
});

describe('the fence stops a paused holder at the resource', () => {
  it('after its lease ran out and a new holder wrote, the old holder\u2019s write is refused', async () => {
    const store = dynamoDbStore({ client, tableName: await freshLockTable(client) });
    const key = 'stock:sku-1';
    const first = await store.acquire({ key, owner: ownerId(), ttlMs: 100 });
    if (!first.acquired) throw new Error('expected to acquire');
    // The first holder stalls (GC pause, frozen Lambda) past its lease...
    await sleep(200);
    const second = await store.acquire({ key, owner: ownerId(), ttlMs: 5_000 });
    if (!second.acquired) throw new Error('expected to acquire');
    expect(second.token).toBeGreaterThan(first.token);

    const id = newId();
    const decrement = (note: string) =>
      new UpdateCommand({
        TableName: table,
        Key: { id },
        UpdateExpression: 'SET note = :n ADD stock :minusOne',
        ExpressionAttributeValues: { ':n': note, ':minusOne': -1 },
      });
    await sendFenced(doc, second, decrement('by the new holder'));
    // ...then wakes up and writes: refused, the resource has seen a newer token.
    const err = await sendFenced(doc, first, decrement('by the paused holder')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleTokenError);
    expect(err).toMatchObject({ token: first.token, currentToken: second.token });
    expect(await storedItem(id)).toEqual({ id, note: 'by the new holder', stock: -1, fence: second.token });
  });
});
