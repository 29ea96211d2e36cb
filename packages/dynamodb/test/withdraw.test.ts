// withdraw: how core frees a grant whose answer was lost. Against DynamoDB Local (started by the
// global setup); the fault proxy applies a request and then drops its answer.
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createLocker, type LockStore, StoreError } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { dynamoDbLocal, freshLockTable, localClient, ownerId, sleep } from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

let direct: DynamoDBClient;
let store: LockStore;
let proxy: FaultProxy;
let tableName: string;

beforeAll(async () => {
  direct = localClient();
  tableName = await freshLockTable(direct);
  store = dynamoDbStore({ client: direct, tableName });
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
});
beforeEach(() => proxy.reset());
afterAll(async () => {
  direct.destroy();
  await proxy.close();
});

const row = async (key: string) =>
  (
    await direct.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    )
  ).Item;

describe('withdraw', () => {
  it('frees a lease held by that owner and keeps the fence for the next grant', async () => {
    const key = `withdraw-held:${Date.now()}`;
    const owner = ownerId();
    const granted = await store.acquire({ key, owner, ttlMs: 30_000 });
    if (!granted.acquired) throw new Error('expected to acquire');
    await store.withdraw!(key, owner);
    expect((await store.inspect(key)).held).toBe(false);
    // Spent: the owner's own lease calls answer "not held".
    expect(await store.extend({ key, owner, token: granted.token, ttlMs: 30_000 })).toBe(false);
    expect(await store.release({ key, owner, token: granted.token })).toBe(false);
    const next = await store.acquire({ key, owner: ownerId(), ttlMs: 1_000 });
    expect(next).toMatchObject({ acquired: true });
    if (next.acquired) expect(next.token).toBeGreaterThan(granted.token);
  });

  it("leaves another owner's lease alone, and writes nothing for a key never granted", async () => {
    const key = `withdraw-stranger:${Date.now()}`;
    const holder = ownerId();
    const granted = await store.acquire({ key, owner: holder, ttlMs: 30_000 });
    if (!granted.acquired) throw new Error('expected to acquire');
    await store.withdraw!(key, ownerId());
    expect(await store.inspect(key)).toMatchObject({ held: true, token: granted.token });
    expect(await store.release({ key, owner: holder, token: granted.token })).toBe(true);

    const untouched = `withdraw-never:${Date.now()}`;
    await store.withdraw!(untouched, ownerId());
    // No row without a TTL left behind for a key that was never locked.
    expect(await row(untouched)).toBeUndefined();
  });

  it('is safe to repeat (an SDK retry of an applied withdraw)', async () => {
    const key = `withdraw-twice:${Date.now()}`;
    const owner = ownerId();
    await store.acquire({ key, owner, ttlMs: 30_000 });
    await store.withdraw!(key, owner);
    const next = await store.acquire({ key, owner: ownerId(), ttlMs: 30_000 });
    if (!next.acquired) throw new Error('expected to acquire');
    await store.withdraw!(key, owner);
    expect(await store.inspect(key)).toMatchObject({ held: true, token: next.token });
  });

  it('reports a failure as a StoreError without the owner id in the message', async () => {
    const down = localClient({ endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    const owner = ownerId();
    const err = await dynamoDbStore({ client: down, tableName }).withdraw!('withdraw-down', owner).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).kind).toBe('unreachable');
    expect(String((err as Error).message)).not.toContain(owner);
    down.destroy();
  });
});

describe('an acquire whose answer was lost', () => {
  it('does not block the key for its TTL: core withdraws the grant nobody will use', async () => {
    const key = `orphan:${Date.now()}`;
    const client = localClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    const locker = createLocker({ store: dynamoDbStore({ client, tableName }), ttlMs: 30_000 });
    proxy.inject({ kind: 'apply-then-drop' }); // DynamoDB grants it; the answer never arrives
    const err = await locker.acquire(key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    // The withdraw is sent in the background once the acquire has failed.
    for (let i = 0; i < 200 && proxy.seen[1]?.responseBody === undefined; i++) await sleep(10);
    expect(proxy.seen.map((r) => r.operation)).toEqual(['UpdateItem', 'UpdateItem']);
    const orphan = await store.inspect(key);
    expect(orphan.held).toBe(false); // freed at once, not after 30 s
    const next = await createLocker({ store }).tryAcquire(key);
    expect(next).not.toBeNull();
    expect(next!.token).toBeGreaterThan(orphan.token!); // the orphan's token stays below
    await next!.release();
    client.destroy();
  });
});
