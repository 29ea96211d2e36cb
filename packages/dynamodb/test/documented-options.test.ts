/**
 * The README's option tables (dynamoDbStore, createLockTable, the fence guard), row by row, against
 * DynamoDB Local: each option's default, its accepted range with both edges, the InvalidArgumentError
 * for everything else (thrown before any request), and its effect. The tables are parsed at run time:
 * an option documented without cases here, or a case for an undocumented option, fails the last test.
 */
import { readFileSync } from 'node:fs';
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { InvalidArgumentError, StaleTokenError, StoreError } from '@leasehold/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLockTable, dynamoDbStore, sendFenced, withFence } from '../src/index.js';
import {
  countRequests,
  dynamoDbLocal,
  freshLockTable,
  freshResourceTable,
  localClient,
  ownerId,
  sleep,
  uniqueName,
} from './support/dynamo.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

/** A README option row past its name: type, default, meaning. */
type Cells = readonly [type: string, fallback: string, meaning: string];

/** The README table introduced by the line starting with `intro`: option → [type, default, meaning]. */
function readmeOptions(intro: string): Map<string, Cells> {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8').split('\n');
  const from = readme.findIndex((line) => line.startsWith(intro));
  if (from < 0) throw new Error(`README: no line starts with ${intro}`);
  const rows = new Map<string, Cells>();
  let inTable = false;
  for (const line of readme.slice(from + 1)) {
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    const name = /^`(\w+)`$/.exec(cells[0] ?? '')?.[1];
    if (name) rows.set(name, [cells[1] ?? '', cells[2] ?? '', cells[3] ?? '']);
  }
  return rows;
}

const documented = {
  dynamoDbStore: readmeOptions('`dynamoDbStore(options)`'),
  createLockTable: readmeOptions('`createLockTable(client, tableName, options?)`'),
  'withFence and sendFenced': readmeOptions('`withFence(lease, input, options?)` and `sendFenced('),
};
type Api = keyof typeof documented;
const tested = new Map<Api, string[]>();

/** Declares the cases of `api`'s option `name` with its README cells: [type, default, meaning]. */
function cases(api: Api, name: string, body: (cells: Cells) => void): void {
  tested.set(api, [...(tested.get(api) ?? []), name]);
  describe(name, () => body(documented[api].get(name) ?? ['', '', '']));
}

const DAY_MS = 86_400_000;
const TIMER_MAX = 2_147_483_647;

let client: DynamoDBClient;
let sent: ReturnType<typeof countRequests>;
let tableName: string;
let resourceTable: string;
let proxy: FaultProxy;

beforeAll(async () => {
  client = localClient();
  sent = countRequests(client);
  [tableName, resourceTable] = await Promise.all([
    freshLockTable(client),
    freshResourceTable(client, 'fenced'),
  ]);
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
});
afterEach(() => {
  vi.restoreAllMocks();
  proxy.reset();
});
afterAll(async () => {
  await proxy?.close();
  client?.destroy();
});

/**
 * `run` throws (or rejects with) an InvalidArgumentError for `argument` whose message states `rule`,
 * and the client sent no request for it.
 */
async function refused(run: () => unknown, argument: string, rule: string): Promise<void> {
  sent.reset();
  let error: unknown;
  try {
    await run();
  } catch (err) {
    error = err;
  }
  expect(error, `${argument} was accepted`).toBeInstanceOf(InvalidArgumentError);
  expect(error).toMatchObject({ argument, message: expect.stringContaining(`${argument}: must be ${rule}`) });
  expect(sent.operations).toEqual([]);
}

const key = () => `options:${ownerId()}`;

/** The lock row of `k` as stored. */
async function row(k: string) {
  const { Item } = await client.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: k } }, ConsistentRead: true }),
  );
  return { expiresAt: Number(Item?.expiresAt?.N), ttl: Number(Item?.ttl?.N) };
}

describe('dynamoDbStore options', () => {
  const store = (options: Record<string, unknown>) =>
    dynamoDbStore({ client, tableName, ...options } as never);

  cases('dynamoDbStore', 'client', ([, fallback, meaning]) => {
    it('client is required: missing or not a client is refused before any request', async () => {
      expect(fallback).toBe('(required)');
      for (const bad of [undefined, null, {}, 'dynamodb']) {
        await refused(() => dynamoDbStore({ client: bad, tableName } as never), 'client', 'a DynamoDBClient');
      }
    });

    it('client: the given client sends every call', async () => {
      // That its retry settings apply ("after 2 attempts" with maxAttempts: 2): store-errors.test.ts
      // ('a closed port is "unreachable" (retryable), after the SDK retried').
      expect(meaning).toContain('Its region, credentials and retry settings apply');
      sent.reset();
      const s = store({});
      const k = key();
      expect(await s.acquire({ key: k, owner: ownerId(), ttlMs: 1_000 })).toMatchObject({ acquired: true });
      expect(sent.operations).toEqual(['UpdateItem']);
    });
  });

  cases('dynamoDbStore', 'tableName', ([, fallback]) => {
    it('tableName is required: missing, empty or not a string is refused', async () => {
      expect(fallback).toBe('(required)');
      for (const bad of [undefined, null, '', 42]) {
        await refused(() => dynamoDbStore({ client, tableName: bad } as never), 'tableName', '3 to 255 of');
      }
    });

    it('tableName accepts a DynamoDB table name of 3 to 255 characters, and refuses 2 and 256', async () => {
      for (const ok of ['abc', 'a'.repeat(255)]) expect(() => store({ tableName: ok })).not.toThrow();
      for (const bad of ['ab', 'a'.repeat(256), 'has space']) {
        await refused(() => store({ tableName: bad }), 'tableName', '3 to 255 of a-z A-Z 0-9 _ - .');
      }
    });

    it('tableName: the lock rows are written to that table', async () => {
      const k = key();
      await store({}).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 });
      expect((await row(k)).expiresAt).toBeGreaterThan(0);
    });
  });

  cases('dynamoDbStore', 'clockSkewMs', ([, fallback, meaning]) => {
    const T = 1_700_000_000_000;
    const at = (t: number, options: Record<string, unknown> = {}) => store({ now: () => t, ...options });

    it("clockSkewMs defaults to 0: another owner's lease is taken 1 ms after its expiry, not before", async () => {
      expect(fallback).toBe('`0`');
      const k = key();
      await at(T).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 });
      expect(await at(T + 1_000).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 })).toMatchObject({
        acquired: false,
        holderRemainingMs: 0,
      });
      expect(await at(T + 1_001).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 })).toMatchObject({
        acquired: true,
      });
    });

    it("clockSkewMs delays taking over another owner's expired lease by that margin, and reports it in the holder's time", async () => {
      expect(meaning).toContain("Extra margin before another owner's expired lease may be taken");
      const k = key();
      await at(T).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 });
      const careful = (t: number) =>
        at(t, { clockSkewMs: 500 }).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 });
      expect(await careful(T + 1_000)).toMatchObject({ acquired: false, holderRemainingMs: 500 });
      expect(await careful(T + 1_500)).toMatchObject({ acquired: false, holderRemainingMs: 0 });
      expect(await careful(T + 1_501)).toMatchObject({ acquired: true });
    });

    it(`clockSkewMs accepts 0 and ${DAY_MS} (whole ms, at most a day); the ttl attribute covers the margin`, async () => {
      expect(meaning).toContain('whole ms, at most a day');
      for (const clockSkewMs of [0, DAY_MS]) {
        const k = key();
        await at(T, { clockSkewMs }).acquire({ key: k, owner: ownerId(), ttlMs: 1_000 });
        expect((await row(k)).ttl).toBe(Math.ceil((T + 1_000 + clockSkewMs) / 1000) + 86_400);
      }
    });

    it.each<[string, unknown]>([
      ['-1 (one below)', -1],
      [`${DAY_MS + 1} (one above)`, DAY_MS + 1],
      ['a string', '500'],
      ['NaN', Number.NaN],
      ['fractional', 0.5],
      ['null', null],
      ['infinite', Number.POSITIVE_INFINITY],
    ])('clockSkewMs refuses %s before any request', async (_label, clockSkewMs) => {
      await refused(
        () => store({ clockSkewMs }),
        'clockSkewMs',
        `an integer from 0 to ${DAY_MS} ms (one day)`,
      );
    });
  });

  cases('dynamoDbStore', 'ttlAttributeGraceSeconds', ([, fallback, meaning]) => {
    // Epoch ms ending in 001: the expiry's epoch seconds round up.
    const t = 1_700_000_000_001;
    const ttlAttribute = async (options: Record<string, unknown>) => {
      const k = key();
      await store({ now: () => t, ...options }).acquire({ key: k, owner: ownerId(), ttlMs: 2_000 });
      return (await row(k)).ttl;
    };

    it('ttlAttributeGraceSeconds defaults to 86400: ttl = expiresAt (epoch s, rounded up) + one day', async () => {
      const grace = Number(/`(\d+)`/.exec(fallback)?.[1]);
      expect(grace).toBe(86_400);
      expect(await ttlAttribute({})).toBe(1_700_000_003 + grace);
    });

    it('ttlAttributeGraceSeconds is added to expiresAt + clockSkewMs, rounded up to epoch seconds', async () => {
      expect(meaning).toContain('`expiresAt` + `clockSkewMs` (in epoch seconds, rounded up) + this');
      expect(await ttlAttribute({ ttlAttributeGraceSeconds: 60, clockSkewMs: 1_000 })).toBe(
        1_700_000_004 + 60,
      );
    });

    it('ttlAttributeGraceSeconds accepts 0 and ten years (no upper bound is documented)', async () => {
      expect(await ttlAttribute({ ttlAttributeGraceSeconds: 0 })).toBe(1_700_000_003);
      expect(await ttlAttribute({ ttlAttributeGraceSeconds: 315_360_000 })).toBe(1_700_000_003 + 315_360_000);
    });

    it.each<[string, unknown]>([
      ['negative', -1],
      ['a string', '60'],
      ['NaN', Number.NaN],
      ['fractional', 1.5],
      ['null', null],
    ])('ttlAttributeGraceSeconds refuses %s before any request', async (_label, ttlAttributeGraceSeconds) => {
      await refused(() => store({ ttlAttributeGraceSeconds }), 'ttlAttributeGraceSeconds', 'an integer >= 0');
    });
  });

  cases('dynamoDbStore', 'requestTimeoutMs', ([, fallback, meaning]) => {
    const viaProxy = (options: Record<string, unknown>) =>
      dynamoDbStore({ client: localClient({ endpoint: proxy.endpoint }), tableName, ...options });

    it('requestTimeoutMs: none by default, so a slow answer is waited for', async () => {
      expect(fallback).toBe('none');
      proxy.inject({ kind: 'forward', before: () => sleep(700) });
      const started = Date.now();
      expect(await viaProxy({}).acquire({ key: key(), owner: ownerId(), ttlMs: 5_000 })).toMatchObject({
        acquired: true,
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    });

    it("requestTimeoutMs bounds a slow call: StoreError kind 'timeout' once it has passed", async () => {
      // A call that never answers, for every operation: store-errors.test.ts ('a store that never
      // answers is "timeout" once requestTimeoutMs passes, whatever the client settings').
      expect(meaning).toContain('then `StoreError` kind `timeout`');
      proxy.inject({ kind: 'forward', before: () => sleep(700) });
      const started = Date.now();
      const error = await viaProxy({ requestTimeoutMs: 300 })
        .acquire({ key: key(), owner: ownerId(), ttlMs: 5_000 })
        .catch((e: unknown) => e);
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      expect(Date.now() - started).toBeLessThan(650);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ kind: 'timeout', retryable: true });
    });

    it(`requestTimeoutMs accepts 1 and ${TIMER_MAX} (what a timer can hold): the largest never fires early`, async () => {
      expect(meaning).toContain(`Whole ms from 1 to ${TIMER_MAX}`);
      expect(() => store({ requestTimeoutMs: 1 })).not.toThrow();
      expect(
        await store({ requestTimeoutMs: TIMER_MAX }).acquire({ key: key(), owner: ownerId(), ttlMs: 1_000 }),
      ).toMatchObject({
        acquired: true,
      });
    });

    it.each<[string, unknown]>([
      ['0', 0],
      [`${TIMER_MAX + 1} (one above)`, TIMER_MAX + 1],
      ['negative', -1],
      ['a string', '300'],
      ['NaN', Number.NaN],
      ['fractional', 1.5],
      ['null', null],
      ['infinite', Number.POSITIVE_INFINITY],
    ])('requestTimeoutMs refuses %s before any request', async (_label, requestTimeoutMs) => {
      await refused(
        () => store({ requestTimeoutMs }),
        'requestTimeoutMs',
        `an integer from 1 to ${TIMER_MAX}`,
      );
    });
  });

  cases('dynamoDbStore', 'now', ([type, fallback]) => {
    it('now defaults to Date.now: the expiry written is the wall clock + ttl', async () => {
      expect([type, fallback]).toEqual(['`() => number`', '`Date.now`']);
      const k = key();
      const before = Date.now();
      await store({}).acquire({ key: k, owner: ownerId(), ttlMs: 3_000 });
      const { expiresAt } = await row(k);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_000);
    });

    it('now: a clock of your own decides the expiry written', async () => {
      const k = key();
      await store({ now: () => 1_234_567_890_123 }).acquire({ key: k, owner: ownerId(), ttlMs: 3_000 });
      expect((await row(k)).expiresAt).toBe(1_234_567_893_123);
    });

    it.each<[string, unknown]>([
      ['a number', 1_700_000_000_000],
      ['a string', 'Date.now'],
      ['an object', {}],
      ['null', null],
    ])('now refuses %s before any request', async (_label, now) => {
      await refused(() => store({ now }), 'now', 'a function returning epoch ms');
    });
  });
});

describe('createLockTable options', () => {
  cases('createLockTable', 'ifNotExists', ([, fallback, meaning]) => {
    it('ifNotExists defaults to true: an existing lock table is reused; false raises ResourceInUseException', async () => {
      // A table with another key schema (InvalidArgumentError): lock-table.test.ts ('refuses to adopt
      // a table with another key schema or another TTL attribute').
      expect(fallback).toBe('`true`');
      expect(meaning).toContain("`false`: DynamoDB's `ResourceInUseException` is thrown");
      const name = uniqueName('locks');
      expect(await createLockTable(client, name)).toEqual({ tableName: name, created: true });
      expect(await createLockTable(client, name)).toEqual({ tableName: name, created: false });
      expect(await createLockTable(client, name, { ifNotExists: true })).toEqual({
        tableName: name,
        created: false,
      });
      await expect(createLockTable(client, name, { ifNotExists: false })).rejects.toMatchObject({
        name: 'ResourceInUseException',
      });
    });

    it.each<[string, unknown]>([
      ['a string', 'yes'],
      ['a number', 1],
      ['null', null],
    ])('ifNotExists refuses %s before sending anything', async (_label, ifNotExists) => {
      await refused(
        () => createLockTable(client, uniqueName('locks'), { ifNotExists: ifNotExists as boolean }),
        'ifNotExists',
        'a boolean',
      );
    });
  });

  cases('createLockTable', 'maxWaitMs', ([, fallback, meaning]) => {
    /** createLockTable through the proxy, DescribeTable answering "CREATING" `times` times. */
    const whileCreating = (name: string, times: number, maxWaitMs?: number) => {
      const creating = {
        kind: 'respond' as const,
        status: 200,
        body: JSON.stringify({ Table: { TableName: name, TableStatus: 'CREATING' } }),
      };
      proxy.inject({ kind: 'forward' }, ...Array(times).fill(creating));
      const viaProxy = localClient({ endpoint: proxy.endpoint });
      return createLockTable(viaProxy, name, maxWaitMs === undefined ? {} : { maxWaitMs }).catch(
        (e: unknown) => e,
      );
    };
    const describes = () => proxy.seen.filter((r) => r.operation === 'DescribeTable').length;

    it('maxWaitMs defaults to 300000: it waits on at 299.9 s and gives up with StoreError timeout past 300 s', async () => {
      const waitMs = Number(/`(\d+)`/.exec(fallback)?.[1]);
      expect(waitMs).toBe(300_000);
      // Once the first DescribeTable is out, the wall clock jumps to 200 ms before the default ends.
      const realNow = Date.now.bind(Date);
      vi.spyOn(Date, 'now').mockImplementation(() => realNow() + (describes() > 0 ? waitMs - 200 : 0));
      const error = await whileCreating(uniqueName('locks'), 5);
      expect(describes()).toBe(2); // asked again 100 ms later (still within the wait), then gave up
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        kind: 'timeout',
        message: expect.stringContaining(`not ACTIVE after ${waitMs} ms`),
      });
    });

    it('maxWaitMs 0 (its smallest) gives up at the first answer that is not ACTIVE, and succeeds on an ACTIVE table', async () => {
      expect(meaning).toContain('(≥ 0); then `StoreError` kind `timeout`');
      const error = await whileCreating(uniqueName('locks'), 1, 0);
      expect(describes()).toBe(1);
      expect(error).toMatchObject({
        kind: 'timeout',
        message: expect.stringContaining('not ACTIVE after 0 ms'),
      });
      const name = uniqueName('locks');
      expect(await createLockTable(client, name, { maxWaitMs: 0 })).toEqual({
        tableName: name,
        created: true,
      });
    });

    it('maxWaitMs waits that long for ACTIVE: 1000 ms outlasts three CREATING answers', async () => {
      const name = uniqueName('locks');
      expect(await whileCreating(name, 3, 1_000)).toEqual({ tableName: name, created: true });
      expect(describes()).toBe(4);
    });

    it.each<[string, unknown]>([
      ['-1 (one below)', -1],
      ['a string', '1000'],
      ['NaN', Number.NaN],
      ['infinite', Number.POSITIVE_INFINITY],
      ['null', null],
    ])('maxWaitMs refuses %s before sending anything', async (_label, maxWaitMs) => {
      await refused(
        () => createLockTable(client, uniqueName('locks'), { maxWaitMs: maxWaitMs as number }),
        'maxWaitMs',
        'a finite number of milliseconds >= 0',
      );
    });
  });
});

describe('withFence and sendFenced options', () => {
  const docClient = () => DynamoDBDocumentClient.from(client);
  const update = (id: string) =>
    new UpdateItemCommand({
      TableName: resourceTable,
      Key: { id: { S: id } },
      UpdateExpression: 'SET v = :v',
      ExpressionAttributeValues: { ':v': { S: 'written' } },
    });
  const item = async (id: string) =>
    (
      await client.send(
        new GetItemCommand({ TableName: resourceTable, Key: { id: { S: id } }, ConsistentRead: true }),
      )
    ).Item;

  cases('withFence and sendFenced', 'attribute', ([, fallback, meaning]) => {
    it("attribute defaults to 'fence': the token is written there, and a lower token is then stale", async () => {
      expect(fallback).toBe("`'fence'`");
      const id = ownerId();
      await sendFenced(client, { token: 42 }, update(id));
      expect((await item(id))?.fence).toEqual({ N: '42' });
      await expect(sendFenced(client, { token: 41 }, update(id))).rejects.toBeInstanceOf(StaleTokenError);
    });

    it('attribute accepts a one-character name (non-empty): the fence is kept there instead', async () => {
      expect(meaning).toContain('(non-empty)');
      const id = ownerId();
      await sendFenced(client, { token: 7 }, update(id), { attribute: 'f' });
      const stored = await item(id);
      expect(stored?.f).toEqual({ N: '7' });
      expect(stored?.fence).toBeUndefined();
      await expect(sendFenced(client, { token: 6 }, update(id), { attribute: 'f' })).rejects.toMatchObject({
        code: 'STALE_TOKEN',
      });
    });

    it.each<[string, unknown]>([
      ['empty', ''],
      ['a number', 1],
      ['an object', {}],
      ['null', null],
    ])('attribute refuses %s in withFence and sendFenced, sending nothing', async (_label, attribute) => {
      const options = { attribute: attribute as string };
      const rule = 'a non-empty attribute name';
      await refused(() => withFence({ token: 1 }, update('x').input, options), 'attribute', rule);
      await refused(() => sendFenced(client, { token: 1 }, update('x'), options), 'attribute', rule);
    });
  });

  cases('withFence and sendFenced', 'marshalled', ([type, fallback]) => {
    it('marshalled is detected from Key or Item by default: each client gets the token in its own shape', async () => {
      expect([type, fallback]).toEqual(['`boolean`', 'detected from `Key` (update) or `Item` (put)']);
      const low = withFence({ token: 5 }, update('x').input);
      expect(low.ExpressionAttributeValues).toMatchObject({ ':lhToken': { N: '5' } });
      const plain = { TableName: resourceTable, Item: { id: ownerId(), v: 'doc' } };
      expect(withFence({ token: 5 }, plain).Item).toMatchObject({ fence: 5 });
      // Both really written by DynamoDB: a low-level put through DynamoDBClient, a plain one through
      // the DocumentClient.
      const id = ownerId();
      await sendFenced(
        client,
        { token: 5 },
        new PutItemCommand({ TableName: resourceTable, Item: { id: { S: id } } }),
      );
      expect((await item(id))?.fence).toEqual({ N: '5' });
      await sendFenced(docClient(), { token: 6 }, new PutCommand(plain));
      expect((await item(plain.Item.id))?.fence).toEqual({ N: '6' });
    });

    it('marshalled: true and false override the detection', () => {
      const plainKey = { TableName: resourceTable, Key: { id: 'x' }, ExpressionAttributeValues: {} };
      expect(withFence({ token: 3 }, plainKey, { marshalled: true }).ExpressionAttributeValues).toMatchObject(
        {
          ':lhToken': { N: '3' },
        },
      );
      expect(
        withFence({ token: 3 }, update('x').input, { marshalled: false }).ExpressionAttributeValues,
      ).toMatchObject({
        ':lhToken': 3,
      });
    });

    it.each<[string, unknown]>([
      ['a string', 'true'],
      ['a number', 1],
      ['null', null],
    ])('marshalled refuses %s in withFence and sendFenced, sending nothing', async (_label, marshalled) => {
      const options = { marshalled: marshalled as boolean };
      await refused(() => withFence({ token: 1 }, update('x').input, options), 'marshalled', 'a boolean');
      await refused(() => sendFenced(client, { token: 1 }, update('x'), options), 'marshalled', 'a boolean');
    });
  });
});

describe('the README option tables', () => {
  it.each(Object.keys(documented) as Api[])(
    '%s: each documented option has cases, and each case is documented',
    (api) => {
      expect(documented[api].size).toBeGreaterThan(0);
      expect([...(tested.get(api) ?? [])].sort()).toEqual([...documented[api].keys()].sort());
    },
  );
});
