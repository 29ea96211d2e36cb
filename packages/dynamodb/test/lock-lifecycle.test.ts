import { DeleteItemCommand, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { FENCE_STEP, InvalidArgumentError, type LockStore } from '@leasehold/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { freshLockTable, localClient, ownerId, sleep } from './support/dynamo.js';

let client: DynamoDBClient;
let tableName: string;
let store: LockStore;
let keyCounter = 0;
const newKey = () => `lifecycle:${Date.now()}:${keyCounter++}`;

async function rawRow(key: string) {
  const out = await client.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
  );
  return out.Item;
}

async function acquired(s: LockStore, key: string, owner: string, ttlMs = 10_000): Promise<number> {
  const result = await s.acquire({ key, owner, ttlMs });
  if (!result.acquired) throw new Error(`expected to acquire ${key}`);
  return result.token;
}

beforeAll(async () => {
  client = localClient();
  tableName = await freshLockTable(client);
  store = dynamoDbStore({ client, tableName });
});
afterAll(() => client.destroy());

describe('acquire', () => {
  it('grants a free key with a clock-floored safe-integer token and stores the lease row', async () => {
    const key = newKey();
    const owner = ownerId();
    const before = Date.now();
    const result = await store.acquire({ key, owner, ttlMs: 5_000 });
    const after = Date.now();
    expect(result.acquired).toBe(true);
    if (!result.acquired) return;
    expect(Number.isSafeInteger(result.token)).toBe(true);
    // A brand-new counter starts at (epoch ms × 1000) + FENCE_STEP.
    expect(result.token).toBeGreaterThan(before * 1000);
    expect(result.token).toBeLessThanOrEqual(after * 1000 + FENCE_STEP);

    const row = await rawRow(key);
    expect(row?.owner).toEqual({ S: owner });
    expect(Number(row?.fence?.N)).toBe(result.token);
    const expiresAt = Number(row?.expiresAt?.N);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 5_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 5_000);
    // TTL attribute in epoch seconds, one day (the default grace) beyond the expiry.
    expect(Number(row?.ttl?.N)).toBe(Math.ceil(expiresAt / 1000) + 86_400);
  });

  it('refuses a held key and reports the holder expiry and token from the same request', async () => {
    const key = newKey();
    const token = await acquired(store, key, ownerId(), 3_000);
    const other = await store.acquire({ key, owner: ownerId(), ttlMs: 3_000 });
    expect(other.acquired).toBe(false);
    if (other.acquired) return;
    expect(other.holderToken).toBe(token);
    expect(other.holderRemainingMs).toBeGreaterThan(2_000);
    expect(other.holderRemainingMs).toBeLessThanOrEqual(3_000);
    // Nothing changed for the holder.
    expect(Number((await rawRow(key))?.fence?.N)).toBe(token);
  });

  it('re-grants a key to the same owner with a new, higher token (what an SDK retry relies on)', async () => {
    const key = newKey();
    const owner = ownerId();
    const first = await acquired(store, key, owner);
    const second = await acquired(store, key, owner);
    expect(second).toBe(first + FENCE_STEP);
    // The old token is dead: only the newest one extends.
    expect(await store.extend({ key, owner, token: first, ttlMs: 1_000 })).toBe(false);
    expect(await store.extend({ key, owner, token: second, ttlMs: 1_000 })).toBe(true);
  });

  it('refuses a late copy of an earlier attempt by the same owner: the expiry never moves back', async () => {
    const key = newKey();
    const owner = ownerId();
    // Attempt 1 is sent at t, held up on the wire; attempt 2, sent 500 ms later, is granted first.
    const sentAt = Date.now();
    const late = dynamoDbStore({ client, tableName, now: () => sentAt });
    const token = await acquired(
      dynamoDbStore({ client, tableName, now: () => sentAt + 500 }),
      key,
      owner,
      2_000,
    );
    const before = await rawRow(key);
    // Attempt 1 arrives now: it would move the expiry 500 ms back and bump the fence.
    expect(await late.acquire({ key, owner, ttlMs: 2_000 })).toMatchObject({
      acquired: false,
      holderToken: token,
    });
    expect(await rawRow(key)).toEqual(before);
    // A copy of the granted attempt itself (same expiry: the SDK's retry) is granted with the stored
    // token and changes nothing.
    const retry = dynamoDbStore({ client, tableName, now: () => sentAt + 500 });
    expect(await acquired(retry, key, owner, 2_000)).toBe(token);
    expect(await rawRow(key)).toEqual(before);
  });

  it('refuses a late copy of an earlier attempt even when the later attempt asked for an earlier expiry', async () => {
    const key = newKey();
    const owner = ownerId();
    // Attempt 1 asks for 2 s at t; attempt 2, sent 500 ms later, is capped (a Lambda deadline) at 1 s:
    // it ends before attempt 1 would, is granted first, and its holder counts on that token.
    const sentAt = Date.now();
    const late = dynamoDbStore({ client, tableName, now: () => sentAt });
    const later = dynamoDbStore({ client, tableName, now: () => sentAt + 500 });
    const token = await acquired(later, key, owner, 1_000);
    const before = await rawRow(key);
    // Attempt 1 arrives now. Re-granting it would bump the fence under the holder, whose extend and
    // release would then fail: a lost lease, and the key blocked until attempt 1's expiry.
    expect(await late.acquire({ key, owner, ttlMs: 2_000 })).toMatchObject({
      acquired: false,
      holderToken: token,
    });
    expect(await rawRow(key)).toEqual(before);
    expect(await later.extend({ key, owner, token, ttlMs: 1_000 })).toBe(true);
    expect(await later.release({ key, owner, token })).toBe(true);
  });

  it('grants a later attempt over an earlier one of the same owner applied unseen, even with an earlier expiry', async () => {
    const key = newKey();
    const owner = ownerId();
    // Attempt 1 (2 s, sent at t) was applied, but its answer never reached the caller, who was told
    // "held" by a copy refused earlier. Attempt 2, sent 500 ms later and capped at 1 s, is the caller's
    // own lease: refusing it would make the caller wait for itself until attempt 1's end.
    const sentAt = Date.now();
    const first = await acquired(dynamoDbStore({ client, tableName, now: () => sentAt }), key, owner, 2_000);
    const before = await rawRow(key);
    const later = dynamoDbStore({ client, tableName, now: () => sentAt + 500 });
    // Granted with the stored token; the row keeps attempt 1's later expiry (the holder counts on less).
    expect(await acquired(later, key, owner, 1_000)).toBe(first);
    expect(await rawRow(key)).toEqual(before);
    expect(await later.extend({ key, owner, token: first, ttlMs: 2_000 })).toBe(true);
    expect(await later.release({ key, owner, token: first })).toBe(true);
  });

  it('grants a later attempt of the same owner after the wall clock stepped back', async () => {
    const key = newKey();
    const owner = ownerId();
    // Attempt 1 was applied unseen; then the clock steps back 5 s (an NTP correction) before attempt 2.
    let clock = Date.now();
    const steppy = dynamoDbStore({ client, tableName, now: () => clock });
    const first = await acquired(steppy, key, owner, 10_000);
    clock -= 5_000;
    // The store still orders its own attempts: attempt 2 is the later one, and gets the caller's lease.
    expect(await acquired(steppy, key, owner, 10_000)).toBe(first);
    expect(await steppy.release({ key, owner, token: first })).toBe(true);
  });

  it('never answers acquired to a second store instance of the owner unless the row holds as long as it asks', async () => {
    const key = newKey();
    const owner = ownerId();
    // A caller that sends one owner through two store instances (core never does): their `sentAt`s
    // are not ordered against each other, and here they tie.
    const t = Date.now();
    const a = dynamoDbStore({ client, tableName, now: () => t });
    const b = dynamoDbStore({ client, tableName, now: () => t });
    const token = await acquired(a, key, owner, 1_000);
    // b asks for 60 s: "acquired" on a row that ends after 1 s would let another owner in while b's
    // caller counts on a minute.
    const second = await b.acquire({ key, owner, ttlMs: 60_000 });
    const expiresAt = Number((await rawRow(key))?.expiresAt?.N);
    if (second.acquired) expect(expiresAt).toBeGreaterThanOrEqual(t + 60_000);
    else expect(second.holderToken).toBe(token);
    // b asking for no longer than the row holds is the caller's own lease.
    expect(await acquired(b, key, owner, 500)).toBe(token);
  });

  it('records when each acquire was sent within a few ms of its clock, even after a burst of acquires', async () => {
    // Thousands of acquires from one store within one ms of its clock (answered at once by a stand-in
    // client), then one real acquire: its `sentAt` (epoch µs, + 1 per acquire within a ms) stays within
    // a few ms of the clock it was sent by, not seconds ahead. The clock is the store's `now`, held
    // still: exact, whatever the load on the machine.
    const instant = {
      send: (command: { input: { Key?: { pk?: { S?: string } } } }, options?: unknown) =>
        command.input.Key?.pk?.S?.startsWith('burst:')
          ? Promise.resolve({ Attributes: { fence: { N: '16' } } })
          : client.send(command as never, options as never),
    } as unknown as DynamoDBClient;
    const t = Date.now();
    const busy = dynamoDbStore({ client: instant, tableName, now: () => t });
    await Promise.all(
      Array.from({ length: 5_000 }, (_, i) =>
        busy.acquire({ key: `burst:${i}`, owner: ownerId(), ttlMs: 1_000 }),
      ),
    );
    const key = newKey();
    await acquired(busy, key, ownerId(), 1_000);
    const sentAt = Number((await rawRow(key))?.sentAt?.N);
    // The 5,001st acquire in the clock's ms t: t in µs, + 5,000 µs (5 ms ahead; a ms per acquire would be 5 s).
    expect(sentAt).toBe(t * 1000 + 5_000);
  });

  it('grants an expired lease to a new owner with a higher token; the old owner can no longer extend or release', async () => {
    const key = newKey();
    const oldOwner = ownerId();
    const oldToken = await acquired(store, key, oldOwner, 150);
    await sleep(250);
    const newOwner = ownerId();
    const newToken = await acquired(store, key, newOwner, 10_000);
    expect(newToken).toBeGreaterThan(oldToken);
    expect(await store.extend({ key, owner: oldOwner, token: oldToken, ttlMs: 10_000 })).toBe(false);
    expect(await store.release({ key, owner: oldOwner, token: oldToken })).toBe(false);
    expect((await rawRow(key))?.owner).toEqual({ S: newOwner });
  });
});

describe('extend', () => {
  it('pushes the expiry of a lease held by the owner with its token', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 1_000);
    const before = Number((await rawRow(key))?.expiresAt?.N);
    expect(await store.extend({ key, owner, token, ttlMs: 60_000 })).toBe(true);
    const row = await rawRow(key);
    const after = Number(row?.expiresAt?.N);
    expect(after).toBeGreaterThan(before + 50_000);
    expect(Number(row?.ttl?.N)).toBe(Math.ceil(after / 1000) + 86_400);
    expect(Number(row?.fence?.N)).toBe(token);
  });

  it('never moves the expiry back: a shorter extension leaves the later expiry and answers true', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 1_000);
    expect(await store.extend({ key, owner, token, ttlMs: 60_000 })).toBe(true);
    const longer = (await rawRow(key))?.expiresAt;
    // A delayed, shorter extension (its answer lost, overtaken by the one above) lands late.
    expect(await store.extend({ key, owner, token, ttlMs: 1_000 })).toBe(true);
    expect((await rawRow(key))?.expiresAt).toEqual(longer);
    // It still refuses someone else's lease.
    expect(await store.extend({ key, owner: ownerId(), token, ttlMs: 1_000 })).toBe(false);
  });

  it('refuses another owner, a wrong token, and a missing key', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 5_000);
    const expiresAt = (await rawRow(key))?.expiresAt;
    expect(await store.extend({ key, owner: ownerId(), token, ttlMs: 60_000 })).toBe(false);
    expect(await store.extend({ key, owner, token: token + 1, ttlMs: 60_000 })).toBe(false);
    expect(await store.extend({ key, owner, token: token - 1, ttlMs: 60_000 })).toBe(false);
    expect(await store.extend({ key: newKey(), owner, token, ttlMs: 60_000 })).toBe(false);
    expect((await rawRow(key))?.expiresAt).toEqual(expiresAt);
  });

  it('refuses a lease that already ran out, even if nobody took the key', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 100);
    await sleep(200);
    expect(await store.extend({ key, owner, token, ttlMs: 10_000 })).toBe(false);
  });
});

describe('release', () => {
  it('frees the key but keeps the row and its fence, so the next token continues the counter', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner);
    expect(await store.release({ key, owner, token })).toBe(true);

    const row = await rawRow(key);
    expect(row).toBeDefined();
    expect(row?.owner).toBeUndefined();
    expect(row?.expiresAt).toBeUndefined();
    expect(Number(row?.fence?.N)).toBe(token);

    const next = await acquired(store, key, ownerId());
    expect(next).toBe(token + FENCE_STEP);
  });

  it('returns false the second time, and for another owner or a wrong token', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner);
    expect(await store.release({ key, owner: ownerId(), token })).toBe(false);
    expect(await store.release({ key, owner, token: token + 1 })).toBe(false);
    expect((await rawRow(key))?.owner).toEqual({ S: owner });
    expect(await store.release({ key, owner, token })).toBe(true);
    expect(await store.release({ key, owner, token })).toBe(false);
    expect(await store.release({ key: newKey(), owner, token })).toBe(false);
  });

  it('returns false for a lease that already ran out', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 100);
    await sleep(200);
    expect(await store.release({ key, owner, token })).toBe(false);
  });
});

describe('fencing tokens', () => {
  it('strictly increase across release, expiry and re-acquire', async () => {
    const key = newKey();
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const owner = ownerId();
      const token = await acquired(store, key, owner);
      tokens.push(token);
      expect(await store.release({ key, owner, token })).toBe(true);
    }
    tokens.push(await acquired(store, key, ownerId(), 100));
    await sleep(200);
    tokens.push(await acquired(store, key, ownerId()));
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1] as number);
  });

  it('keep increasing after the row is deleted (TTL clean-up, manual delete): the clock floor', async () => {
    const key = newKey();
    const owner = ownerId();
    let last = 0;
    // Drive the counter a little, then lose the row, three times over.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        const token = await acquired(store, key, owner);
        expect(token).toBeGreaterThan(last);
        last = token;
      }
      await client.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: key } } }));
      expect(await rawRow(key)).toBeUndefined();
      await sleep(2);
    }
    const after = await acquired(store, key, ownerId());
    expect(after).toBeGreaterThan(last);
    expect(Number.isSafeInteger(after)).toBe(true);
  });
});

describe('inspect', () => {
  it('reports a held key with token, expiry and remaining time, and never the owner', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner, 4_000);
    const state = await store.inspect(key);
    expect(state.key).toBe(key);
    expect(state.held).toBe(true);
    expect(state.token).toBe(token);
    expect(state.expiresAt).toBe(Number((await rawRow(key))?.expiresAt?.N));
    expect(state.remainingMs).toBeGreaterThan(3_000);
    expect(state.remainingMs).toBeLessThanOrEqual(4_000);
    expect(JSON.stringify(state)).not.toContain(owner);
    expect(Object.keys(state).sort()).toEqual(['expiresAt', 'held', 'key', 'remainingMs', 'token']);
  });

  it('reports a released key as free with its last token, and an unknown key as free without a token', async () => {
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(store, key, owner);
    await store.release({ key, owner, token });
    expect(await store.inspect(key)).toEqual({ key, held: false, token });
    const unknown = newKey();
    expect(await store.inspect(unknown)).toEqual({ key: unknown, held: false });
  });

  it('reports an expired lease as not held', async () => {
    const key = newKey();
    const token = await acquired(store, key, ownerId(), 100);
    await sleep(200);
    expect(await store.inspect(key)).toEqual({ key, held: false, token });
  });
});

describe('client clocks and clockSkewMs', () => {
  it('lets a client whose clock runs ahead take a lease early, unless clockSkewMs covers the offset', async () => {
    const key = newKey();
    const token = await acquired(store, key, ownerId(), 5_000);
    const ahead = (offsetMs: number, clockSkewMs: number) =>
      dynamoDbStore({ client, tableName, clockSkewMs, now: () => Date.now() + offsetMs });

    // 3 s ahead, 5 s lease: still held for that client.
    const refused = await ahead(3_000, 0).acquire({ key, owner: ownerId(), ttlMs: 1_000 });
    expect(refused.acquired).toBe(false);
    // 10 s ahead but a 20 s skew margin: still held; the wait includes the margin.
    const margin = await ahead(10_000, 20_000).acquire({ key, owner: ownerId(), ttlMs: 1_000 });
    expect(margin).toMatchObject({ acquired: false, holderToken: token });
    if (!margin.acquired) {
      expect(margin.holderRemainingMs).toBeGreaterThan(13_000);
      expect(margin.holderRemainingMs).toBeLessThanOrEqual(15_000);
    }
    // 10 s ahead and no margin: that client believes the lease ran out and takes it.
    const taken = await ahead(10_000, 0).acquire({ key, owner: ownerId(), ttlMs: 1_000 });
    expect(taken).toMatchObject({ acquired: true, token: token + FENCE_STEP });
  });

  it('waits out clockSkewMs past the expiry before granting a lease to someone else', async () => {
    const key = newKey();
    await acquired(store, key, ownerId(), 100);
    const careful = dynamoDbStore({ client, tableName, clockSkewMs: 400 });
    await sleep(200);
    const early = await careful.acquire({ key, owner: ownerId(), ttlMs: 1_000 });
    expect(early.acquired).toBe(false);
    if (!early.acquired) expect(early.holderRemainingMs).toBeLessThanOrEqual(400);
    await sleep(400);
    expect((await careful.acquire({ key, owner: ownerId(), ttlMs: 1_000 })).acquired).toBe(true);
  });

  it('sets the TTL attribute ttlAttributeGraceSeconds beyond the expiry', async () => {
    const key = newKey();
    const short = dynamoDbStore({ client, tableName, ttlAttributeGraceSeconds: 60 });
    await acquired(short, key, ownerId(), 2_000);
    const row = await rawRow(key);
    expect(Number(row?.ttl?.N)).toBe(Math.ceil(Number(row?.expiresAt?.N) / 1000) + 60);
  });

  it('sets the TTL attribute past the clockSkewMs margin as well', async () => {
    const key = newKey();
    const careful = dynamoDbStore({ client, tableName, ttlAttributeGraceSeconds: 0, clockSkewMs: 5_000 });
    await acquired(careful, key, ownerId(), 2_000);
    const row = await rawRow(key);
    expect(Number(row?.ttl?.N)).toBe(Math.ceil((Number(row?.expiresAt?.N) + 5_000) / 1000));
  });
});

describe('validation', () => {
  it('rejects bad options at construction', () => {
    const bad: [string, unknown][] = [
      ['client', { client: undefined, tableName }],
      ['client', { client: {}, tableName }],
      ['tableName', { client, tableName: 'x' }],
      ['tableName', { client, tableName: 'has spaces' }],
      ['tableName', { client }],
      ['clockSkewMs', { client, tableName, clockSkewMs: -1 }],
      ['clockSkewMs', { client, tableName, clockSkewMs: Number.NaN }],
      ['clockSkewMs', { client, tableName, clockSkewMs: 0.5 }],
      ['clockSkewMs', { client, tableName, clockSkewMs: 86_400_001 }],
      ['ttlAttributeGraceSeconds', { client, tableName, ttlAttributeGraceSeconds: 1.5 }],
      ['ttlAttributeGraceSeconds', { client, tableName, ttlAttributeGraceSeconds: -1 }],
      ['requestTimeoutMs', { client, tableName, requestTimeoutMs: 0 }],
      ['requestTimeoutMs', { client, tableName, requestTimeoutMs: 1.5 }],
      // Past 2^31 - 1 ms, Node's timers fire after 1 ms (every call would time out); past 2^32 - 1,
      // AbortSignal.timeout throws a RangeError on every call.
      ['requestTimeoutMs', { client, tableName, requestTimeoutMs: 2 ** 31 }],
      ['requestTimeoutMs', { client, tableName, requestTimeoutMs: Number.MAX_SAFE_INTEGER }],
      ['now', { client, tableName, now: 5 }],
      ['options', null],
    ];
    for (const [argument, options] of bad) {
      let thrown: unknown;
      try {
        dynamoDbStore(options as never);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, argument).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).argument).toBe(argument);
    }
    expect(dynamoDbStore({ client, tableName }).name).toBe('dynamodb');
  });

  it('a requestTimeoutMs as long as a timer can hold bounds the calls without cutting them short', async () => {
    const patient = dynamoDbStore({ client, tableName, requestTimeoutMs: 2 ** 31 - 1 });
    const key = newKey();
    const owner = ownerId();
    const token = await acquired(patient, key, owner);
    await expect(patient.extend({ key, owner, token, ttlMs: 10_000 })).resolves.toBe(true);
    await expect(patient.release({ key, owner, token })).resolves.toBe(true);
  });
});
