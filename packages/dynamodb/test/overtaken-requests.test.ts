// Requests that overtake each other on the wire: a slow first attempt landing after the SDK's retry
// was answered, and two processes setting up one table at once. Against DynamoDB Local (started by
// the global setup), with the fault proxy holding requests back.
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LockStore } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLockTable, dynamoDbStore, lockTableDefinition } from '../src/index.js';
import { dynamoDbLocal, freshLockTable, localClient, ownerId, sleep, uniqueName } from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

let direct: DynamoDBClient;
let proxy: FaultProxy;
let tableName: string;

beforeAll(async () => {
  direct = localClient();
  tableName = await freshLockTable(direct);
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
});
beforeEach(() => proxy.reset());
afterAll(async () => {
  direct.destroy();
  await proxy.close();
});

/**
 * A store whose client times requests out after 300 ms and retries them (the README's own advice:
 * `requestHandler: { requestTimeout, throwOnRequestTimeout }`), behind the fault proxy. The first
 * request is held at the proxy until `open()` — the SDK gives up on it and retries, the retry is
 * answered, and only then does the first copy reach DynamoDB (a slow network path, a TCP retransmit).
 */
function delayedFirstAttempt(now?: () => number) {
  const client = localClient({
    endpoint: proxy.endpoint,
    maxAttempts: 3,
    requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
  });
  const store: LockStore = dynamoDbStore({ client, tableName, ...(now && { now }) });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  proxy.inject({ kind: 'forward', before: () => gate });
  const landed = async () => {
    open();
    for (let i = 0; i < 200 && proxy.seen[0]?.responseBody === undefined; i++) await sleep(10);
    expect(proxy.seen[0]?.responseBody).toBeDefined(); // the late copy was applied or refused by DynamoDB
  };
  return { client, store, landed };
}

describe('acquire overtaken by its own retry', () => {
  it('a late copy of an answered attempt changes nothing: the holder extends and releases with its token', async () => {
    const { client, store, landed } = delayedFirstAttempt();
    const key = `late-copy:${Date.now()}`;
    const owner = ownerId();
    const result = await store.acquire({ key, owner, ttlMs: 10_000 });
    expect(result.acquired).toBe(true);
    if (!result.acquired) return;
    expect(proxy.seen.length).toBeGreaterThanOrEqual(2); // the SDK did retry

    await landed(); // the first copy, identical to the answered retry, now reaches DynamoDB

    // The holder still holds the lease it was told about, with the token it was given: a copy that
    // bumped the fence would make its extend and release fail (a lost lease mid-payment).
    expect(await store.extend({ key, owner, token: result.token, ttlMs: 10_000 })).toBe(true);
    expect(await store.release({ key, owner, token: result.token })).toBe(true);
    const next = await dynamoDbStore({ client: direct, tableName }).acquire({
      key,
      owner: ownerId(),
      ttlMs: 1_000,
    });
    expect(next.acquired).toBe(true);
    client.destroy();
  });
  it.each([
    ['the holder released', 'release'],
    ['core withdrew its owner (its answer counted as lost)', 'withdraw'],
  ] as const)('a late copy landing after %s leaves the key free', async (_, how) => {
    const { client, store, landed } = delayedFirstAttempt();
    const key = `late-copy-after-${how}:${Date.now()}`;
    const owner = ownerId();
    const result = await store.acquire({ key, owner, ttlMs: 10_000 });
    if (!result.acquired) throw new Error('expected to acquire');
    if (how === 'release') expect(await store.release({ key, owner, token: result.token })).toBe(true);
    else await store.withdraw!(key, owner);

    await landed(); // the first copy reaches DynamoDB after the release or withdraw

    // Refused: the key is free for the next caller, not taken for a spent owner for a whole TTL.
    const other = await dynamoDbStore({ client: direct, tableName }).acquire({
      key,
      owner: ownerId(),
      ttlMs: 1_000,
    });
    expect(other.acquired).toBe(true);
    client.destroy();
  });
});

describe('acquire overtaken across a clock step', () => {
  it('a late copy of an earlier attempt, sent before the clock stepped back, is refused over the later grant', async () => {
    const key = `clock-step:${Date.now()}`;
    const other = dynamoDbStore({ client: direct, tableName });
    const holder = ownerId();
    const held = await other.acquire({ key, owner: holder, ttlMs: 60_000 });
    if (!held.acquired) throw new Error('expected to acquire');
    // The caller's clock runs 30 s ahead until NTP steps it back, between two attempts of one acquire.
    let offset = 30_000;
    const { client, store, landed } = delayedFirstAttempt(() => Date.now() + offset);
    const owner = ownerId();
    // Attempt 1: its first copy is held on the wire, the SDK's retry is answered "held".
    expect((await store.acquire({ key, owner, ttlMs: 10_000 })).acquired).toBe(false);
    expect(await other.release({ key, owner: holder, token: held.token })).toBe(true);
    offset = 0;
    // Attempt 2, after the step: granted.
    const granted = await store.acquire({ key, owner, ttlMs: 10_000 });
    if (!granted.acquired) throw new Error('expected to acquire');
    // Attempt 1's first copy lands now. To it the later grant looks expired (its clock read 30 s
    // ahead): taking it as such would bump the fence under the holder, whose extend and release fail.
    await landed();
    expect(proxy.seen[0]?.responseBody).toContain('ConditionalCheckFailed');
    expect(await store.extend({ key, owner, token: granted.token, ttlMs: 10_000 })).toBe(true);
    expect(await store.release({ key, owner, token: granted.token })).toBe(true);
    client.destroy();
  });
});

describe('createLockTable called by two processes at once', () => {
  it('succeeds for both when the other one enables TTL in between', async () => {
    const name = uniqueName('locks');
    await direct.send(new CreateTableCommand(lockTableDefinition(name)));
    const viaProxy = localClient({ endpoint: proxy.endpoint });
    // Caller A: CreateTable (in use), DescribeTable, DescribeTimeToLive (DISABLED) — and just before
    // its UpdateTimeToLive, caller B runs createLockTable to completion and enables TTL.
    proxy.inject(
      { kind: 'forward' },
      { kind: 'forward' },
      { kind: 'forward' },
      {
        kind: 'forward',
        before: () => createLockTable(direct, name),
      },
    );
    const a = await createLockTable(viaProxy, name).catch((e: unknown) => e);
    expect(proxy.seen.map((r) => r.operation)).toEqual([
      'CreateTable',
      'DescribeTable',
      'DescribeTimeToLive',
      'UpdateTimeToLive',
      'DescribeTimeToLive',
    ]);
    // UpdateTimeToLive was refused ("TimeToLive is already enabled"), and the TTL read again: A
    // adopts the lock table B set up.
    expect(a).toEqual({ tableName: name, created: false });
    viaProxy.destroy();
  });
});
