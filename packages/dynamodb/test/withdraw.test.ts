// withdraw: how core frees a grant whose answer was lost, and the interleavings in which a withdraw
// could free a lease that someone is using (it never does). Against DynamoDB Local (started by the
// global setup); store wrappers decide when an acquire's answer is "lost", the fault proxy applies a
// request and then drops its answer, or holds requests back.
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  createLocker,
  type Lease,
  type LockStore,
  type StoreAcquireRequest,
  type StoreAcquireResult,
  StoreError,
} from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { dynamoDbLocal, freshLockTable, localClient, ownerId, sleep } from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

let direct: DynamoDBClient;
let store: LockStore;
let proxy: FaultProxy;
let tableName: string;
let n = 0;
const newKey = (name: string) => `withdraw:${name}:${Date.now()}:${n++}`;

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

type Script = (request: StoreAcquireRequest, real: LockStore) => Promise<StoreAcquireResult>;

/**
 * The real DynamoDB store, with the n-th acquire call (0-based) scripted by `scripts[n]` (undefined:
 * passed through). Records every owner core asked with, and every withdraw core sent.
 */
function scripted(...scripts: (Script | undefined)[]) {
  const owners: string[] = [];
  const withdrawn: string[] = [];
  const withdraws: Promise<void>[] = [];
  let calls = 0;
  const wrapped: LockStore = {
    ...store,
    name: store.name,
    acquire(request) {
      owners.push(request.owner);
      const script = scripts[calls++];
      return script ? script(request, store) : store.acquire(request);
    },
    withdraw(key, owner) {
      withdrawn.push(owner);
      const p = store.withdraw!(key, owner);
      withdraws.push(p.catch(() => {}));
      return p;
    },
  };
  return { store: wrapped, owners, withdrawn, settled: () => Promise.all(withdraws) };
}

/** Applies the acquire in DynamoDB, then fails as if its answer had been lost. */
const appliedThenLost =
  (gate?: Promise<unknown>): Script =>
  async (request, real) => {
    await gate;
    await real.acquire(request);
    throw new StoreError(real.name, 'timeout', 'acquire: answer lost (test)');
  };

/** Asserts `lease` is what DynamoDB holds: held, its token, and that it still extends and releases. */
async function stillHolds(key: string, lease: Lease) {
  const state = await store.inspect(key);
  expect(state).toMatchObject({ held: true, token: lease.token });
  expect(lease.held).toBe(true);
  await expect(lease.extend()).resolves.toBeUndefined();
  expect(await lease.release()).toBe(true);
}

describe('core: the abort path', () => {
  it('an aborted acquire whose abandoned request was applied and then failed is withdrawn; the local waiter behind it keeps the lease it gets', async () => {
    const key = newKey('abort');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const s = scripted(appliedThenLost(gate));
    const locker = createLocker({ store: s.store, ttlMs: 30_000 });
    const controller = new AbortController();
    const first = locker.acquire(key, { signal: controller.signal }).catch((e: unknown) => e);
    const second = locker.acquire(key, { waitMs: 20_000 }); // queued in this locker behind `first`
    await sleep(20);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    expect(await first).toBe(reason);

    const started = Date.now();
    open(); // the abandoned request is applied (owner A holds for 30 s) and then fails
    const lease = await second;
    // Not a whole TTL: A was withdrawn.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(s.withdrawn).toEqual([s.owners[0]]);
    await s.settled();
    await sleep(100);
    await stillHolds(key, lease);
  });

  it('an abandoned request answered "granted" is released, never withdrawn under a later holder', async () => {
    const key = newKey('abort-granted');
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const s = scripted(async (request, real) => {
      await gate;
      return real.acquire(request);
    });
    const locker = createLocker({ store: s.store, ttlMs: 30_000 });
    const controller = new AbortController();
    const first = locker.acquire(key, { signal: controller.signal }).catch((e: unknown) => e);
    const second = locker.acquire(key, { waitMs: 20_000 });
    await sleep(20);
    controller.abort(new Error('gave up'));
    await first;
    open();
    const lease = await second;
    expect(s.withdrawn).toEqual([]);
    await sleep(100);
    await stillHolds(key, lease);
  });
});

describe('core: a grant that came after its lease ran out locally', () => {
  const late =
    (ms: number): Script =>
    async (request, real) => {
      const result = await real.acquire(request);
      await sleep(ms);
      return result;
    };

  it('is handed back under its own owner; the new owner whose request then failed is withdrawn, and the next caller keeps the lock', async () => {
    const key = newKey('late-then-lost');
    const s = scripted(late(400), appliedThenLost());
    const locker = createLocker({ store: s.store, ttlMs: 300, waitMs: 5_000 });
    const err = await locker.acquire(key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(s.owners).toHaveLength(2);
    expect(s.owners[1]).not.toBe(s.owners[0]); // a new owner after the hand-back
    expect(s.withdrawn).toEqual([s.owners[1]]); // only the owner whose request failed
    await s.settled();
    const next = await createLocker({ store, ttlMs: 30_000 }).tryAcquire(key);
    expect(next).not.toBeNull();
    await sleep(100);
    await stillHolds(key, next!);
  });

  it('is handed back; the lease then granted to the new owner is not freed by the hand-back or anything else', async () => {
    const key = newKey('late-then-granted');
    const s = scripted(late(400));
    const locker = createLocker({ store: s.store, ttlMs: 300, waitMs: 5_000 });
    const lease = await locker.acquire(key);
    expect(s.withdrawn).toEqual([]);
    expect(lease.held).toBe(true);
    await sleep(50); // the hand-back release has landed by now
    const state = await store.inspect(key);
    expect(state).toMatchObject({ held: true, token: lease.token });
    await expect(lease.extend(300)).resolves.toBeUndefined();
    expect(await lease.release()).toBe(true);
  });
});

describe('store: SDK retries of the withdraw itself', () => {
  it("an applied withdraw whose answer was lost, retried after another owner took the key: the retry leaves that owner's lease alone", async () => {
    const key = newKey('withdraw-retry');
    const orphan = ownerId();
    const granted = await store.acquire({ key, owner: orphan, ttlMs: 30_000 });
    expect(granted.acquired).toBe(true);

    const client = localClient({ endpoint: proxy.endpoint, maxAttempts: 3 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    // First copy: applied, answer dropped. The SDK's retry is held back until another owner holds the key.
    proxy.inject({ kind: 'apply-then-drop' }, { kind: 'forward', before: () => gate });
    const withdrawing = dynamoDbStore({ client, tableName }).withdraw!(key, orphan);
    for (let i = 0; i < 300 && proxy.seen.length < 2; i++) await sleep(10);
    expect(proxy.seen.map((r) => r.fault)).toEqual(['apply-then-drop', 'forward']);

    const other = ownerId();
    const next = await store.acquire({ key, owner: other, ttlMs: 30_000 });
    expect(next.acquired).toBe(true);
    if (!next.acquired) return;
    open();
    await withdrawing;
    expect(await store.inspect(key)).toMatchObject({ held: true, token: next.token });
    expect(await store.extend({ key, owner: other, token: next.token, ttlMs: 30_000 })).toBe(true);
    expect(await store.release({ key, owner: other, token: next.token })).toBe(true);
    client.destroy();
  });

  it('a withdraw of an owner whose release was applied (answer lost, SDK retry answered) changes nothing: the release nonce stays', async () => {
    const key = newKey('release-retry');
    const owner = ownerId();
    const granted = await store.acquire({ key, owner, ttlMs: 30_000 });
    if (!granted.acquired) throw new Error('expected to acquire');
    const client = localClient({ endpoint: proxy.endpoint, maxAttempts: 3 });
    proxy.inject({ kind: 'apply-then-drop' });
    const via = dynamoDbStore({ client, tableName });
    // The release is applied, its answer lost; a withdraw of the same owner (core never sends one for
    // a lease it handed out, but a plain-JS caller might) meanwhile finds nothing to free.
    expect(await via.release({ key, owner, token: granted.token })).toBe(true);
    await store.withdraw!(key, owner);
    expect((await row(key))?.released?.S?.startsWith(`${owner}:`)).toBe(true);
    client.destroy();
  });
});
