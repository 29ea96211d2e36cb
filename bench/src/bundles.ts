/**
 * "Light in a Lambda": the minified ESM bundle of a minimal handler for each contender (esbuild), with
 * and without its store SDK, and the time a fresh `node` process takes to import the full bundle.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { median, runOrder } from './stats.js';

const run = promisify(execFile);
const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleSpec {
  /** Contender id (see contenders.ts), or 'baseline'. */
  readonly id: string;
  /** The store SDK, left out of the "without SDK" bundle. */
  readonly sdk: readonly string[];
  readonly source: string;
}

/** The floors release as in the bench (contenders.ts): EVALSHA of the precomputed SHA-1, EVAL after NOSCRIPT. */
const RELEASE_SHA1 = createHash('sha1')
  .update("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
  .digest('hex');

const LEASEHOLD_HANDLER = `export const handler = (event, context) =>
  locker.withLock(event.key, async (lease) => ({ token: lease.token }), { context });`;

export const BUNDLES: readonly BundleSpec[] = [
  {
    id: 'baseline',
    sdk: [],
    source: `export const handler = async (event) => ({ key: event.key });`,
  },
  {
    id: 'floor-redis',
    sdk: ['ioredis'],
    source: `import Redis from 'ioredis';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const SHA = '${RELEASE_SHA1}';
export const handler = async (event) => {
  const owner = crypto.randomUUID();
  if ((await redis.set(event.key, owner, 'PX', 10000, 'NX')) !== 'OK') return { held: true };
  await redis.evalsha(SHA, 1, event.key, owner).catch((e) => /NOSCRIPT/.test(e.message) ? redis.eval(RELEASE, 1, event.key, owner) : Promise.reject(e));
  return { held: false };
};`,
  },
  {
    id: 'redlock',
    sdk: ['ioredis'],
    source: `import Redis from 'ioredis';
import Redlock from 'redlock';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const redlock = new Redlock([redis]);
export const handler = (event) => redlock.using([event.key], 10000, async () => ({ ok: true }));`,
  },
  {
    id: 'floor-upstash',
    sdk: ['@upstash/redis'],
    source: `import { Redis } from '@upstash/redis';
const redis = new Redis({ url: process.env.UPSTASH_REDIS_REST_URL ?? 'http://127.0.0.1:1', token: process.env.UPSTASH_REDIS_REST_TOKEN ?? 't' });
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const SHA = '${RELEASE_SHA1}';
export const handler = async (event) => {
  const owner = crypto.randomUUID();
  if ((await redis.set(event.key, owner, { nx: true, px: 10000 })) !== 'OK') return { held: true };
  await redis.evalsha(SHA, [event.key], [owner]).catch((e) => /NOSCRIPT/.test(e.message) ? redis.eval(RELEASE, [event.key], [owner]) : Promise.reject(e));
  return { held: false };
};`,
  },
  {
    id: 'leasehold-upstash',
    sdk: ['@upstash/redis'],
    source: `import { createLocker } from '@leasehold/core';
import { upstashStore } from '@leasehold/upstash';
const locker = createLocker({
  store: upstashStore({ url: process.env.UPSTASH_REDIS_REST_URL ?? 'http://127.0.0.1:1', token: process.env.UPSTASH_REDIS_REST_TOKEN ?? 't' }),
});
${LEASEHOLD_HANDLER}`,
  },
  {
    id: 'upstash-lock',
    sdk: ['@upstash/redis'],
    source: `import { Lock } from '@upstash/lock';
import { Redis } from '@upstash/redis';
const redis = new Redis({ url: process.env.UPSTASH_REDIS_REST_URL ?? 'http://127.0.0.1:1', token: process.env.UPSTASH_REDIS_REST_TOKEN ?? 't' });
export const handler = async (event) => {
  const lock = new Lock({ id: event.key, redis });
  if (!(await lock.acquire())) return { held: true };
  await lock.release();
  return { held: false };
};`,
  },
  {
    id: 'floor-dynamodb',
    sdk: ['@aws-sdk/*', '@smithy/*'],
    source: `import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
const TableName = process.env.LOCK_TABLE ?? 'locks';
const names = { '#o': 'owner', '#e': 'expiresAt' };
export const handler = async (event) => {
  const owner = crypto.randomUUID();
  const now = Date.now();
  const Key = { pk: { S: event.key } };
  await client.send(new UpdateItemCommand({ TableName, Key, ConditionExpression: 'attribute_not_exists(#o) OR #e < :now',
    UpdateExpression: 'SET #o = :o, #e = :e', ExpressionAttributeNames: names,
    ExpressionAttributeValues: { ':o': { S: owner }, ':e': { N: String(now + 10000) }, ':now': { N: String(now) } } }));
  await client.send(new UpdateItemCommand({ TableName, Key, ConditionExpression: '#o = :o', UpdateExpression: 'REMOVE #o, #e',
    ExpressionAttributeNames: names, ExpressionAttributeValues: { ':o': { S: owner } } }));
  return { ok: true };
};`,
  },
  {
    id: 'leasehold-dynamodb',
    sdk: ['@aws-sdk/*', '@smithy/*'],
    source: `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLocker } from '@leasehold/core';
import { dynamoDbStore } from '@leasehold/dynamodb';
const locker = createLocker({
  store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: process.env.LOCK_TABLE ?? 'leasehold-locks' }),
});
${LEASEHOLD_HANDLER}`,
  },
  {
    id: 'dynamodb-lock-client',
    sdk: ['aws-sdk', 'aws-sdk/*'],
    source: `import DynamoDB from 'aws-sdk/clients/dynamodb.js';
import DynamoDBLockClient from 'dynamodb-lock-client';
const locks = new DynamoDBLockClient.FailOpen({
  dynamodb: new DynamoDB.DocumentClient(), lockTable: process.env.LOCK_TABLE ?? 'locks', partitionKey: 'pk', leaseDurationMs: 10000,
});
export const handler = (event) => new Promise((resolve, reject) =>
  locks.acquireLock(event.key, (error, lock) => error ? reject(error) : lock.release((e) => e ? reject(e) : resolve({ ok: true }))));`,
  },
];

/** CommonJS dependencies bundled into ESM need a `require` for Node built-ins. */
const REQUIRE_BANNER = `import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);`;

export async function bundle(
  spec: BundleSpec,
  withSdk: boolean,
): Promise<{ text: string; inputs: Record<string, number> }> {
  const result = await build({
    stdin: { contents: spec.source, resolveDir: BENCH_DIR, loader: 'js', sourcefile: `${spec.id}.mjs` },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    mainFields: ['module', 'main'],
    external: withSdk ? [] : [...spec.sdk],
    ...(withSdk ? { banner: { js: REQUIRE_BANNER } } : {}),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs)[0];
  const inputs = Object.fromEntries(
    Object.entries(output?.inputs ?? {})
      .map(
        ([file, info]) =>
          [file.replace(/^.*node_modules\//, '').replace(/^\.\.\//, ''), info.bytesInOutput] as const,
      )
      .filter(([, bytes]) => bytes > 0)
      .sort((a, b) => b[1] - a[1]),
  );
  return { text: result.outputFiles[0]!.text, inputs };
}

/** Bytes of Leasehold's own files (core + store) in a bundle, without the handler around them. */
export const libraryBytes = (inputs: Record<string, number>): number =>
  Object.entries(inputs)
    .filter(([file]) => /^(packages\/|@leasehold\/)/.test(file))
    .reduce((sum, [, bytes]) => sum + bytes, 0);

export interface BundleResult {
  readonly id: string;
  /** Minified bytes, store SDK left out (the library's own weight). */
  readonly withoutSdkBytes: number;
  /** The same, gzipped (what a deployment package or a CDN carries). */
  readonly withoutSdkGzipBytes: number;
  /** Minified bytes of everything the Lambda ships. */
  readonly withSdkBytes: number;
  /** Median ms for a fresh `node` to import the full bundle. */
  readonly coldImportMs: number;
  readonly coldImportRunsMs: number[];
  /** Minified bytes per source file in the bundle without the SDK: what is big. */
  readonly inputs: Record<string, number>;
}

const IMPORT_SCRIPT = `const t = performance.now(); await import(process.env.BENCH_BUNDLE_URL); process.stdout.write(String(performance.now() - t)); process.exit(0);`;

/** Milliseconds a fresh `node` process takes to import `file`. */
async function timeImport(file: string): Promise<number> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', IMPORT_SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      BENCH_BUNDLE_URL: pathToFileURL(file).href,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
  return Number(stdout);
}

export async function measureBundles(
  outDir: string,
  importRuns: number,
  log: (s: string) => void,
): Promise<BundleResult[]> {
  await mkdir(outDir, { recursive: true });
  const built: Array<{
    spec: BundleSpec;
    file: string;
    without: string;
    full: string;
    inputs: Record<string, number>;
  }> = [];
  for (const spec of BUNDLES) {
    const { text: without, inputs } = await bundle(spec, false);
    const { text: full } = await bundle(spec, true);
    const file = join(outDir, `${spec.id}.mjs`);
    await writeFile(file, full);
    await writeFile(join(outDir, `${spec.id}.without-sdk.mjs`), without);
    built.push({ spec, file, without, full, inputs });
  }
  // Round by round, every bundle once, in an order shuffled per round (seeded: the same every run):
  // load from elsewhere on the machine then hits each bundle alike instead of whichever was timed
  // during it, and no bundle always runs right after the same other one (the page cache and CPU caches
  // it leaves warm, e.g. the same store SDK).
  const runs = built.map((): number[] => []);
  for (let round = 0; round < importRuns; round++) {
    for (const index of runOrder(built.length, round)) {
      runs[index]!.push(await timeImport(built[index]!.file));
    }
  }
  return built.map(({ spec, without, full, inputs }, index) => {
    const result = {
      id: spec.id,
      withoutSdkBytes: Buffer.byteLength(without),
      withoutSdkGzipBytes: gzipSync(without).length,
      withSdkBytes: Buffer.byteLength(full),
      coldImportMs: median(runs[index]!),
      coldImportRunsMs: runs[index]!,
      inputs,
    };
    log(
      `  bundle ${spec.id}: ${result.withoutSdkBytes} B / ${result.withSdkBytes} B, import ${result.coldImportMs.toFixed(1)} ms`,
    );
    return result;
  });
}
