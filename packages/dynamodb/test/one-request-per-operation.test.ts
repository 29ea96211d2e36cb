import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LockStore } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { countRequests, freshLockTable, localClient, ownerId } from './support/dynamo.js';

let client: DynamoDBClient;
let store: LockStore;
let requests: ReturnType<typeof countRequests>;

beforeAll(async () => {
  client = localClient();
  const tableName = await freshLockTable(client);
  store = dynamoDbStore({ client, tableName });
  requests = countRequests(client);
});
beforeEach(() => requests.reset());
afterAll(() => client.destroy());

it('acquires a free key with exactly one UpdateItem', async () => {
  const result = await store.acquire({ key: 'one:free', owner: ownerId(), ttlMs: 5_000 });
  expect(result.acquired).toBe(true);
  expect(requests.operations).toEqual(['UpdateItem']);
});

it('answers "held", with the holder expiry, in exactly one UpdateItem (no extra read)', async () => {
  await store.acquire({ key: 'one:held', owner: ownerId(), ttlMs: 5_000 });
  requests.reset();
  const result = await store.acquire({ key: 'one:held', owner: ownerId(), ttlMs: 5_000 });
  expect(result).toMatchObject({ acquired: false, holderToken: expect.any(Number) });
  expect(requests.operations).toEqual(['UpdateItem']);
});

it('extends, releases and fails to release with exactly one UpdateItem each', async () => {
  const owner = ownerId();
  const result = await store.acquire({ key: 'one:cycle', owner, ttlMs: 5_000 });
  if (!result.acquired) throw new Error('expected to acquire');
  requests.reset();
  expect(await store.extend({ key: 'one:cycle', owner, token: result.token, ttlMs: 5_000 })).toBe(true);
  expect(requests.operations).toEqual(['UpdateItem']);
  requests.reset();
  expect(await store.release({ key: 'one:cycle', owner, token: result.token })).toBe(true);
  expect(requests.operations).toEqual(['UpdateItem']);
  requests.reset();
  expect(await store.release({ key: 'one:cycle', owner, token: result.token })).toBe(false);
  expect(requests.operations).toEqual(['UpdateItem']);
});

it('withdraws with exactly one UpdateItem', async () => {
  await store.withdraw!('one:withdraw', ownerId());
  expect(requests.operations).toEqual(['UpdateItem']);
});

it('inspects with exactly one GetItem', async () => {
  await store.inspect('one:inspect');
  expect(requests.operations).toEqual(['GetItem']);
});

it('asks DynamoDB to return only the values the operation reads', async () => {
  const owner = ownerId();
  const result = await store.acquire({ key: 'one:returns', owner, ttlMs: 5_000 });
  if (!result.acquired) throw new Error('expected to acquire');
  await store.extend({ key: 'one:returns', owner, token: result.token, ttlMs: 5_000 });
  await store.release({ key: 'one:returns', owner, token: result.token });
  await store.withdraw!('one:returns', owner);
  const returns = requests.inputs.map((input) => [
    input.ReturnValues ?? 'NONE',
    input.ReturnValuesOnConditionCheckFailure ?? 'NONE',
  ]);
  // acquire: its row with the new fence (ALL_NEW: cheaper than UPDATED_NEW on DynamoDB Local), or the
  // holder's row when refused; extend: the row when refused (why it was not needed); release and
  // withdraw: nothing, whether it was applied is the whole answer.
  expect(returns).toEqual([
    ['ALL_NEW', 'ALL_OLD'],
    ['NONE', 'ALL_OLD'],
    ['NONE', 'NONE'],
    ['NONE', 'NONE'],
  ]);
});
