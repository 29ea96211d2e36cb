/**
 * The READMEs' code, as users copy it: every ```ts / ```typescript / ```js / ```mjs block of the
 * user-facing READMEs is type-checked in strict mode against the packages' built types (run
 * `npm run build` first; turbo does it before `npm test`), and the package quick starts are run against
 * the local services.
 *
 * Fragments use names declared elsewhere in their README (`locker`, `lease`, `client`, ...) or stand for
 * the user's own code (`chargeOnce`, `startMyService`, ...): each README's PRELUDE below declares them,
 * and nothing else is assumed. A snippet that declares a name itself uses its own declaration.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as clientDynamoDb from '@aws-sdk/client-dynamodb';
import * as libDynamoDb from '@aws-sdk/lib-dynamodb';
import * as core from '@leasehold/core';
import * as dynamodb from '@leasehold/dynamodb';
import * as local from '@leasehold/local';
import * as upstash from '@leasehold/upstash';
import * as upstashRedis from '@upstash/redis';
import { beforeAll, describe, expect, it } from 'vitest';
import { endpoints, uid } from '../support/harness.js';
import {
  CODE_LANGS,
  fencedBlocks,
  formatError,
  HERE,
  type Prelude,
  readmeSnippets,
  runSnippet,
  type Snippet,
  typeCheckSnippets,
} from './readme-snippets-lib.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSCONFIG = join(ROOT, 'test', 'tsconfig.json');

const LOCKER = "import('@leasehold/core').Locker";
const LEASE = "import('@leasehold/core').Lease";

/** What each README's fragments assume, as `declare const name: Type`. */
const PRELUDES: Readonly<Record<string, Prelude>> = {
  'README.md': {},
  'packages/core/README.md': {
    // Quick start: the user's charge function.
    charge: '(event: unknown, options: { fence: number; signal: AbortSignal }) => Promise<unknown>',
    // "Lower level": the quick start's locker, and the caller's abort signal.
    locker: LOCKER,
    signal: 'AbortSignal',
  },
  'packages/dynamodb/README.md': {
    // Quick start: the user's charge function.
    chargeOnce: '(orderId: string, options: { fence: number; signal: AbortSignal }) => Promise<void>',
    // Later blocks continue the quick start: its client and locker, and a lease from it.
    client: "import('@aws-sdk/client-dynamodb').DynamoDBClient",
    locker: LOCKER,
    lease: LEASE,
  },
  'packages/upstash/README.md': {
    // Quick start: the user's charge function.
    chargeOnce: '(fence: number, options: { signal: AbortSignal }) => Promise<void>',
    // "Bring your own client" continues the quick start, which imported upstashStore.
    upstashStore: "typeof import('@leasehold/upstash').upstashStore",
  },
  'packages/local/README.md': {
    // "Or set the environment" continues the quick start, which imported these.
    startLocalStores: "typeof import('@leasehold/local').startLocalStores",
    DynamoDBClient: "typeof import('@aws-sdk/client-dynamodb').DynamoDBClient",
    Redis: "typeof import('@upstash/redis').Redis",
  },
  'packages/testkit/README.md': {
    // Usage: the store author's own service, store and client.
    startMyService: '() => Promise<{ delete(key: string): Promise<void>; stop(): Promise<void> }>',
    myStore: "(options: { client: unknown }) => import('@leasehold/core').LockStore",
    newClient: '(service: unknown) => unknown',
  },
  'functions/README.md': {},
  'infra/README.md': {},
  'MIGRATING.md': {
    // The user's own work in each example.
    transfer: '(options: { fence: number; signal: AbortSignal }) => Promise<void>',
    buildReport: '(options: { fence: number; signal: AbortSignal }) => Promise<void>',
    exportRows: '(options: { fence: number; signal: AbortSignal }) => Promise<void>',
  },
};

/** READMEs that have TypeScript blocks: checking none of them there means the extraction broke. */
const WITH_CODE = [
  'README.md',
  'packages/core/README.md',
  'packages/dynamodb/README.md',
  'packages/upstash/README.md',
  'packages/local/README.md',
  'packages/testkit/README.md',
  'MIGRATING.md',
];

const snippets = readmeSnippets(ROOT, PRELUDES);
const errors = typeCheckSnippets(snippets, TSCONFIG, HERE);
describe('README code blocks', () => {
  it.each(Object.keys(PRELUDES))('%s: every TypeScript block type-checks in strict mode', (readme) => {
    const checked = snippets.filter((s) => s.readme === readme);
    if (WITH_CODE.includes(readme))
      expect(checked.length, `${readme}: no code block found`).toBeGreaterThan(0);
    const failures = errors.filter((e) => e.readme === readme).map(formatError);
    const hint = failures.some((f) => /TS2307 .*'@leasehold\//.test(f))
      ? "\n(the snippets use the packages' built types: run `npm run build` first)"
      : '';
    expect(failures, `${checked.length} blocks checked; errors:\n${failures.join('\n')}${hint}`).toEqual([]);
  });

  it('labels every block that looks like code with its language, so that none escapes the check', () => {
    const unlabelled = Object.keys(PRELUDES).flatMap((readme) =>
      fencedBlocks(readme, readFileSync(join(ROOT, readme), 'utf8'))
        .filter((b) => !CODE_LANGS.has(b.lang) && !['sh', 'bash', 'json', 'text'].includes(b.lang))
        .filter((b) => /^\s*(import|export|const|let|await|function)\s/m.test(b.code))
        .map((b) => `${b.readme}:${b.line} (\`\`\`${b.lang})`),
    );
    expect(unlabelled).toEqual([]);
  });

  it('reports a broken snippet with its README, line and compiler error', () => {
    const markdown = [
      '# Broken', // line 1
      '',
      '```ts', // 3
      "import { createLocker } from '@leasehold/core';",
      'const locker = createLocker({ store, ttlMs: 10_000, ttl: 5 });', // 5: no such option
      "const token: string = (await locker.acquire('k')).token;", // 6: a number
      '```',
      '',
      '```sh', // 9: not checked
      'npm test',
      '```',
      '',
      '```js', // 13
      "import { nope } from '@leasehold/core';", // 14: no such export
      '```',
      '',
      '```typescript', // 17
      "const state = await locker.inspect('k'); // { key, held, owner }", // 18: no owner in LockState
      "await using lease = await locker.acquire('k');",
      'console.log(lease.token, state.held);',
      '```',
    ].join('\n');
    // The first block declares `locker` itself; the last one takes it from the prelude.
    const prelude = { store: "import('@leasehold/core').LockStore", locker: LOCKER };
    const blocks = fencedBlocks('BROKEN.md', markdown)
      .filter((b) => CODE_LANGS.has(b.lang))
      .map((b) => ({ ...b, prelude }));
    expect(blocks.map((b) => b.line)).toEqual([4, 14, 18]);
    const found = typeCheckSnippets(blocks, TSCONFIG, HERE).map(formatError);
    expect(found).toEqual([
      expect.stringMatching(
        /^BROKEN\.md:5:\d+ \(code block opened at line 3\): TS2353 .*'ttl' does not exist/,
      ),
      expect.stringMatching(
        /^BROKEN\.md:6:\d+ \(code block opened at line 3\): TS2322 .*'number' is not assig/,
      ),
      expect.stringMatching(
        /^BROKEN\.md:14:\d+ \(code block opened at line 13\): TS2305 .*no exported member 'nope'/,
      ),
      expect.stringMatching(
        /^BROKEN\.md:18:1 \(code block opened at line 17\): doc .*`owner`, but its type `LockState`/,
      ),
    ]);
  });
});

/** The one block of `readme` that contains `marker`. */
function block(readme: string, marker: string): Snippet {
  const found = snippets.filter((s) => s.readme === readme && s.code.includes(marker));
  if (found.length !== 1)
    throw new Error(`${readme}: ${found.length} code blocks contain ${JSON.stringify(marker)}`);
  return found[0]!;
}

/** The modules the run snippets import: the very ones this file imports. */
const MODULES = {
  '@aws-sdk/client-dynamodb': clientDynamoDb,
  '@aws-sdk/lib-dynamodb': libDynamoDb,
  '@leasehold/core': core,
  '@leasehold/dynamodb': dynamodb,
  '@leasehold/local': local,
  '@leasehold/upstash': upstash,
  '@upstash/redis': upstashRedis,
};

/** The field names a `// { a, b, c }` comment on the line containing `call` lists. */
function documentedFields(snippet: Snippet, call: string): string[] {
  const line = snippet.code.split('\n').find((l) => l.includes(call));
  const fields = line && /\/\/ \{ ([^}]*) \}/.exec(line)?.[1];
  if (!fields) throw new Error(`${snippet.readme}: no "// { ... }" comment after ${call}`);
  return fields.split(',').map((f) => f.trim().replace(/\(\)$/, ''));
}

const LOCK_TABLE = 'leasehold-locks'; // the table name the READMEs use
interface Charge {
  id: unknown;
  fence: number;
  aborted: boolean;
  state: core.LockState;
}

describe('README examples, run against the local services', () => {
  let client: clientDynamoDb.DynamoDBClient;
  beforeAll(async () => {
    const { dynamodb: ddb, upstash: up } = endpoints();
    // What the examples' `new DynamoDBClient({})` and `process.env.UPSTASH_*` find, as on a configured host.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_REGION: ddb.region,
      AWS_ACCESS_KEY_ID: ddb.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ddb.credentials.secretAccessKey,
      UPSTASH_REDIS_REST_URL: up!.url,
      UPSTASH_REDIS_REST_TOKEN: up!.token,
    });
    client = new clientDynamoDb.DynamoDBClient({});
    await dynamodb.createLockTable(client, LOCK_TABLE);
    return () => client.destroy();
  });
  const dynamoStore = () => dynamodb.dynamoDbStore({ client, tableName: LOCK_TABLE });
  const upstashStore = () =>
    upstash.upstashStore({ url: endpoints().upstash!.url, token: endpoints().upstash!.token });

  it('@leasehold/dynamodb quick start: runs the callback holding the lock, with a token that rises from run to run', async () => {
    const DDB = 'packages/dynamodb/README.md';
    const created = await runSnippet(block(DDB, 'createLockTable(client'), MODULES, { client });
    expect(created).toEqual({});
    const charges: Charge[] = [];
    const chargeOnce = async (id: string, { fence, signal }: { fence: number; signal: AbortSignal }) => {
      charges.push({
        id,
        fence,
        aborted: signal.aborted,
        state: await dynamoStore().inspect('payment:order-42'),
      });
    };
    const quickStart = block(DDB, "locker.withLock('payment:order-42'");
    await runSnippet(quickStart, MODULES, { chargeOnce });
    await runSnippet(quickStart, MODULES, { chargeOnce });

    expect(charges.map((c) => [c.id, c.aborted, c.state.held, c.state.token])).toEqual([
      ['order-42', false, true, charges[0]!.fence],
      ['order-42', false, true, charges[1]!.fence],
    ]);
    expect(Number.isSafeInteger(charges[0]!.fence)).toBe(true);
    expect(charges[1]!.fence).toBeGreaterThan(charges[0]!.fence);
    expect(await dynamoStore().inspect('payment:order-42')).toMatchObject({
      held: false,
      token: charges[1]!.fence,
    });
  });

  it('@leasehold/dynamodb fence guard: sendFenced sells the one unit in stock once; withFence stores the token', async () => {
    const DDB = 'packages/dynamodb/README.md';
    for (const [TableName, key] of [
      ['inventory', 'sku'],
      ['bookings', 'id'],
    ] as const) {
      await client
        .send(
          new clientDynamoDb.CreateTableCommand({
            TableName,
            KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        )
        .catch((err: Error) => {
          if (err.name !== 'ResourceInUseException') throw err;
        });
    }
    const doc = libDynamoDb.DynamoDBDocumentClient.from(client);
    await doc.send(new libDynamoDb.PutCommand({ TableName: 'inventory', Item: { sku: 'sku-1', stock: 1 } }));
    const locker = core.createLocker({ store: dynamoStore() });
    const sale = block(DDB, 'sendFenced(');
    await runSnippet(sale, MODULES, { client, locker });
    await runSnippet(sale, MODULES, { client, locker }); // out of stock now: changes nothing
    const item = (
      await doc.send(new libDynamoDb.GetCommand({ TableName: 'inventory', Key: { sku: 'sku-1' } }))
    ).Item;
    const { token } = await locker.inspect('stock:sku-1');
    expect(item).toEqual({ sku: 'sku-1', stock: 0, fence: token! - core.FENCE_STEP });

    await using lease = await locker.acquire(uid('readme-booking'));
    await runSnippet(block(DDB, 'withFence(lease'), MODULES, { client, lease });
    const booking = (
      await doc.send(new libDynamoDb.GetCommand({ TableName: 'bookings', Key: { id: 'e1:s12' } }))
    ).Item;
    expect(booking).toEqual({ id: 'e1:s12', customer: 'c-7', fence: lease.token });
  });

  it('@leasehold/upstash quick start: runs the callback holding the lock; a store on your own client uses its prefix', async () => {
    const UP = 'packages/upstash/README.md';
    const charges: Charge[] = [];
    const chargeOnce = async (fence: number, { signal }: { signal: AbortSignal }) => {
      charges.push({
        id: null,
        fence,
        aborted: signal.aborted,
        state: await upstashStore().inspect('payment:order-42'),
      });
    };
    await runSnippet(block(UP, "locker.withLock('payment:order-42'"), MODULES, { chargeOnce });
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ aborted: false, state: { held: true, token: charges[0]!.fence } });
    expect(await upstashStore().inspect('payment:order-42')).toMatchObject({
      held: false,
      token: charges[0]!.fence,
    });

    const { store } = await runSnippet(block(UP, 'Redis.fromEnv()'), MODULES, {
      upstashStore: upstash.upstashStore,
    });
    const own = store as upstash.UpstashLockStore;
    expect(own.prefix).toBe('myapp:locks:');
    const lease = await core.createLocker({ store: own }).tryAcquire(uid('readme-byo'));
    expect(lease?.held).toBe(true);
    expect(await lease?.release()).toBe(true);
  });

  it("@leasehold/upstash fencing data kept in Redis: a lower token's write is refused and changes nothing", async () => {
    const { fencedHset } = (await runSnippet(
      block('packages/upstash/README.md', 'FENCED_HSET'),
      MODULES,
    )) as {
      fencedHset: (
        redis: upstashRedis.Redis,
        key: string,
        token: number,
        field: string,
        value: string,
      ) => Promise<boolean>;
    };
    const redis = new upstashRedis.Redis({
      url: endpoints().upstash!.url,
      token: endpoints().upstash!.token,
    });
    const key = uid('readme-fenced');
    // Tokens as the stores issue them: clock-floored, 16 digits.
    const token = Date.now() * 1000 + 16;
    expect(await fencedHset(redis, key, token, 'holder', 'a')).toBe(true);
    expect(await fencedHset(redis, key, token, 'holder', 'a2')).toBe(true); // the same lease again
    expect(await fencedHset(redis, key, token - 1, 'holder', 'stale')).toBe(false);
    expect(await redis.hgetall(key)).toEqual({ fence: token, holder: 'a2' });
    expect(await redis.hget<string>(key, 'fence').then(String)).toBe(String(token));
    expect(await fencedHset(redis, key, token + 16, 'holder', 'b')).toBe(true);
    expect(await fencedHset(redis, key, token, 'holder', 'late')).toBe(false);
    expect(await redis.hget(key, 'holder')).toBe('b');
    await redis.del(key);
  });

  it('@leasehold/core lower level: release answers true, tryAcquire a lease, inspect the documented fields', async () => {
    const lowerLevel = block('packages/core/README.md', 'await using lease = await locker.acquire(');
    const store = upstash.upstashStore({ ...endpoints().upstash!, prefix: `${uid('readme')}:` });
    const locker = core.createLocker({ store });
    const run = await runSnippet(lowerLevel, MODULES, { locker, signal: new AbortController().signal });
    const { mine, maybe, state } = run as { mine: boolean; maybe: core.Lease | null; state: core.LockState };
    expect(mine).toBe(true);
    expect(maybe?.held).toBe(true);
    expect(Object.keys(state).sort()).toEqual(documentedFields(lowerLevel, 'locker.inspect(').sort());
    expect(state).toMatchObject({ key: 'k', held: true, token: maybe?.token });
    expect(await maybe?.release()).toBe(true);
  });

  it('the Lambda handlers of the root and core READMEs lock the order, and answer 409 while another holds it', async () => {
    const context = (ms: number) => ({ getRemainingTimeInMillis: () => ms });
    const rootHandler = (await runSnippet(block('README.md', 'export const handler'), MODULES)).handler as (
      event: unknown,
      context: unknown,
    ) => Promise<unknown>;
    const orderId = uid('readme-order');
    await expect(rootHandler({ orderId }, context(30_000))).resolves.toBeUndefined();
    expect(await dynamoStore().inspect(`payment:${orderId}`)).toMatchObject({
      held: false,
      token: expect.any(Number),
    });

    const charged: unknown[] = [];
    const charge = async (event: unknown, { fence }: { fence: number }) => {
      charged.push(event);
      return { statusCode: 201, fence };
    };
    const { handler } = await runSnippet(block('packages/core/README.md', 'export const handler'), MODULES, {
      charge,
    });
    const coreHandler = handler as (event: unknown, context: unknown) => Promise<unknown>;
    await expect(coreHandler({ orderId }, context(30_000))).resolves.toEqual({
      statusCode: 201,
      fence: expect.any(Number),
    });
    expect(charged).toEqual([{ orderId }]);
    await using held = await core.createLocker({ store: dynamoStore() }).acquire(`payment:${orderId}`);
    // The wait is capped at the invocation's remaining time.
    await expect(coreHandler({ orderId }, context(1_000))).resolves.toEqual({ statusCode: 409 });
    expect(held.held).toBe(true);
    expect(charged).toHaveLength(1);
  });

  it('@leasehold/local quick start: starts the services, and every process is gone once stop() resolves', async () => {
    const { stores } = await runSnippet(
      block('packages/local/README.md', 'stores.dynamodb!.endpoint'),
      MODULES,
    );
    const { dynamodb: ddb, redis } = stores as local.LocalStores;
    expect(ddb?.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const pid of [ddb!.pid, redis!.pid]) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
