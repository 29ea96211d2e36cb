import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { LockStore, StoreAcquireResult } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { dynamoDbLocal, freshLockTable, localClient, ownerId } from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

// The trap: DynamoDB applies a conditional write, the answer is lost on the way back (connection
// reset, Lambda network blip), and the AWS SDK retries the same request on its own. Without care the
// retry meets our own fresh lease and reports "held" — the caller waits on itself, or gives up.

let direct: DynamoDBClient;
let viaProxy: DynamoDBClient;
let proxy: FaultProxy;
let tableName: string;
let store: LockStore;
let keyCounter = 0;
const newKey = () => `retry:${Date.now()}:${keyCounter++}`;

async function storedFence(key: string): Promise<number> {
  const out = await direct.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
  );
  return Number(out.Item?.fence?.N);
}

beforeAll(async () => {
  direct = localClient();
  tableName = await freshLockTable(direct);
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
  viaProxy = localClient({ endpoint: proxy.endpoint, maxAttempts: 3 });
  store = dynamoDbStore({ client: viaProxy, tableName });
});
beforeEach(() => proxy.reset());
afterAll(async () => {
  viaProxy.destroy();
  direct.destroy();
  await proxy.close();
});

describe('an applied but unanswered request, retried by the AWS SDK', () => {
  it('acquire resolves as acquired with the token actually stored, not as "held"', async () => {
    const key = newKey();
    const owner = ownerId();
    proxy.inject({ kind: 'apply-then-drop' });
    const result = await store.acquire({ key, owner, ttlMs: 10_000 });

    // Two attempts reached DynamoDB, and the first one was applied.
    expect(proxy.seen.map((r) => `${r.operation}:${r.fault}`)).toEqual([
      'UpdateItem:apply-then-drop',
      'UpdateItem:forward',
    ]);
    const lost = JSON.parse(proxy.seen[0]?.responseBody ?? '{}') as {
      Attributes?: { fence?: { N: string } };
    };
    const firstToken = Number(lost.Attributes?.fence?.N);
    expect(Number.isSafeInteger(firstToken)).toBe(true);

    expect(result.acquired).toBe(true);
    if (!result.acquired) return;
    // The retry was refused as a copy of the applied attempt (no second bump): the caller gets the
    // token the first copy stored.
    expect(result.token).toBe(firstToken);
    expect(await storedFence(key)).toBe(result.token);
    // ... and that token is the one that extends and releases.
    expect(await store.extend({ key, owner, token: result.token, ttlMs: 10_000 })).toBe(true);
    expect(await store.release({ key, owner, token: result.token })).toBe(true);
  });

  it('acquire still reports "held" when the key belongs to someone else', async () => {
    const key = newKey();
    const holder = await store.acquire({ key, owner: ownerId(), ttlMs: 10_000 });
    proxy.reset();
    proxy.inject({ kind: 'apply-then-drop' });
    const result = await store.acquire({ key, owner: ownerId(), ttlMs: 10_000 });
    expect(proxy.seen).toHaveLength(2);
    expect(result).toMatchObject({ acquired: false, holderToken: holder.acquired ? holder.token : -1 });
  });

  it('extend resolves true', async () => {
    const key = newKey();
    const owner = ownerId();
    const lease = await store.acquire({ key, owner, ttlMs: 10_000 });
    if (!lease.acquired) throw new Error('expected to acquire');
    proxy.reset();
    proxy.inject({ kind: 'apply-then-drop' });
    expect(await store.extend({ key, owner, token: lease.token, ttlMs: 20_000 })).toBe(true);
    expect(proxy.seen).toHaveLength(2);
  });

  it('release resolves true (the retry recognises its own release), and a second release is false', async () => {
    const key = newKey();
    const owner = ownerId();
    const lease = await store.acquire({ key, owner, ttlMs: 10_000 });
    if (!lease.acquired) throw new Error('expected to acquire');
    proxy.reset();
    proxy.inject({ kind: 'apply-then-drop' });
    expect(await store.release({ key, owner, token: lease.token })).toBe(true);
    expect(proxy.seen.map((r) => r.fault)).toEqual(['apply-then-drop', 'forward']);
    expect(await store.release({ key, owner, token: lease.token })).toBe(false);
    expect(await store.inspect(key)).toEqual({ key, held: false, token: lease.token });
  });

  it('a late release retry cannot free the next holder', async () => {
    const key = newKey();
    const owner = ownerId();
    const lease = await store.acquire({ key, owner, ttlMs: 10_000 });
    if (!lease.acquired) throw new Error('expected to acquire');
    // The release is applied and its answer lost; before the SDK's retry gets through, someone else
    // acquires the key.
    const directStore = dynamoDbStore({ client: direct, tableName });
    proxy.reset();
    let next = { acquired: false } as StoreAcquireResult;
    proxy.inject(
      { kind: 'apply-then-drop' },
      {
        kind: 'forward',
        before: async () => {
          next = await directStore.acquire({ key, owner: ownerId(), ttlMs: 10_000 });
        },
      },
    );
    const released = await store.release({ key, owner, token: lease.token });
    expect(proxy.seen.map((r) => r.fault)).toEqual(['apply-then-drop', 'forward']);
    expect(next.acquired).toBe(true);
    expect(released).toBe(false);
    expect(await directStore.inspect(key)).toMatchObject({
      held: true,
      token: next.acquired ? next.token : -1,
    });
  });
});
