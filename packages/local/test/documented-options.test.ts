/**
 * The README's option table, CLI flags and environment variables, checked against the sources (both
 * ways) and against behaviour: every documented default is observed, documented values are accepted,
 * and bad values are refused with the documented error before any service process is started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type DynamoDbLocal,
  LOCAL_ENV,
  LOCAL_SERVICES,
  type LocalService,
  LocalStartError,
  type LocalStores,
  type RedisServer,
  startDynamoDbLocal,
  startLocalStores,
  startRedisServer,
  startUpstashEndpoint,
  type UpstashEndpointOptions,
} from '../src/index.js';
import { findFreePort } from '../src/process.js';
import { childPids, eventually, isAlive, portAcceptsConnections, settlesWithin } from './helpers.js';

// Every service process the library spawns, so that a refusal can be shown to come before any.
const spawnedPids = vi.hoisted((): number[] => []);
vi.mock('../src/process.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/process.js')>();
  const spawnManaged: typeof real.spawnManaged = async (...args) => {
    const child = await real.spawnManaged(...args);
    spawnedPids.push(child.pid);
    return child;
  };
  return { ...real, spawnManaged };
});

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const sourceDir = join(packageDir, 'src');
const sources = new Map(
  readdirSync(sourceDir)
    .filter((name) => name.endsWith('.ts'))
    .map((name) => [name, readFileSync(join(sourceDir, name), 'utf8')]),
);

// ---------------------------------------------------------------------------------------------
// The README, parsed

/** The text under a Markdown heading, up to the next heading of the same or a higher level. */
function readmeSection(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no "${heading}" heading`);
  const level = heading.indexOf(' ');
  const body = readme.slice(start + heading.length + 2);
  const end = body.search(new RegExp(`^#{1,${level}} `, 'm'));
  return end < 0 ? body : body.slice(0, end);
}

/** The cells of the first table in `text`, header and separator rows left out. */
function firstTable(text: string): string[][] {
  const lines = text.split('\n');
  const from = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(from + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .trim()
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replaceAll('\\|', '|')),
    );
  }
  return rows;
}

const code = (cell: string): string => cell.replace(/^`([^`]*)`$/, '$1');

interface OptionRow {
  fn: string;
  option: string;
  type: string;
  default: string;
  meaning: string;
}

const optionRows: OptionRow[] = [];
for (const [fn, option, type, byDefault, meaning] of firstTable(readmeSection('## Options'))) {
  optionRows.push({
    fn: fn === '' || fn === undefined ? (optionRows.at(-1)?.fn ?? '') : code(fn),
    option: code(option ?? ''),
    type: code(type ?? ''),
    default: byDefault ?? '',
    meaning: meaning ?? '',
  });
}

/** README numbers such as `60 000` and `64 MiB`. */
function readmeNumber(text: string): number {
  const match = /^([\d ]+?)\s*(MiB)?$/.exec(text.trim());
  if (match === null) throw new Error(`not a number in the README: ${text}`);
  return Number(match[1]!.replaceAll(' ', '')) * (match[2] === 'MiB' ? 2 ** 20 : 1);
}

const readmeFlags = [
  ...new Set(
    [...readmeSection('### From the command line').matchAll(/(?<![\w-])(--?[a-z][a-z-]*)/g)].map(
      (m) => m[1]!,
    ),
  ),
];

const readmeEnvRows = firstTable(readmeSection('## Environment variables')).map(([names, value]) => ({
  names: [...(names ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]!),
  value: value ?? '',
}));

// ---------------------------------------------------------------------------------------------
// The sources, parsed

interface SourceOption {
  fn: string;
  option: string;
  type: string;
  optional: boolean;
}

const allSource = [...sources.values()].join('\n');
const optionInterfaces = new Map(
  [...allSource.matchAll(/^export interface (\w+Options) \{\n([\s\S]*?)^\}/gm)].map((m) => [m[1]!, m[2]!]),
);
const optionTakers = [...allSource.matchAll(/^export (?:async )?function (\w+)\(options\??: (\w+)/gm)].map(
  (m) => ({ fn: m[1]!, options: m[2]! }),
);
const sourceOptions: SourceOption[] = optionTakers.flatMap(({ fn, options }) =>
  [...(optionInterfaces.get(options) ?? '').matchAll(/^ {2}(\w+)(\?)?: ([^;]+);$/gm)].map((m) => ({
    fn,
    option: m[1]!,
    optional: m[2] === '?',
    type: m[3]!,
  })),
);

// The CLI's `parseArgs` options: `name: { type: 'string' }` or `name: { type: 'boolean', short: 'h' }`.
const sourceFlags = [
  ...(sources.get('cli.ts') ?? '').matchAll(
    /^\s+(\w+): \{ type: '(?:string|boolean)'(?:, short: '(\w)')? \}/gm,
  ),
].flatMap((m) => [`--${m[1]}`, ...(m[2] === undefined ? [] : [`-${m[2]}`])]);

// Variables the code reads (comments left out: their examples set variables for the user).
const uncommented = allSource.replace(/\/\*\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
const sourceEnvReads = [...new Set([...uncommented.matchAll(/process\.env\.([A-Z_]+)/g)].map((m) => m[1]!))];

// ---------------------------------------------------------------------------------------------
// Cases, registered by README row

interface Claimed {
  type: string;
  default: string;
}

const optionCases = new Map<string, Claimed>();
const flagCases = new Set<string>();

/**
 * The cases of one README option row. `claimed` is what the cases below take the row to say; the
 * README check compares it with the row, so a changed default or type makes this file fail until
 * the case is updated to observe the new one.
 */
function documentedOption(
  fn: string,
  option: string,
  claimed: Claimed,
  cases: (row: OptionRow) => void,
): void {
  optionCases.set(`${fn}.${option}`, claimed);
  const row = optionRows.find((r) => r.fn === fn && r.option === option);
  describe(`${fn}({ ${option} })`, () => {
    if (row === undefined) {
      it('is a row of the README option table', () => {
        expect.fail(`README.md documents no ${fn} option ${option}`);
      });
    } else {
      cases(row);
    }
  });
}

function documentedFlags(flags: string[], name: string, cases: () => void): void {
  for (const flag of flags) flagCases.add(flag);
  describe(name, cases);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** What a start did: the error it threw (`Name: message`), or that it started. */
interface Attempt {
  outcome: string;
  spawned: number[];
  leftover: number[];
}

/** Runs a start, stops what it started (if it did), and records the processes it spawned. */
async function attempt(start: () => Promise<{ stop(): Promise<void> }>): Promise<Attempt> {
  const spawnedBefore = spawnedPids.length;
  const childrenBefore = new Set(childPids());
  let outcome = 'accepted: it started';
  try {
    await (await start()).stop();
  } catch (error) {
    outcome = error instanceof Error ? `${error.name}: ${error.message}` : `threw ${String(error)}`;
  }
  const newChildren = (): number[] => childPids().filter((pid) => !childrenBefore.has(pid));
  await eventually(() => newChildren().length === 0);
  return { outcome, spawned: spawnedPids.slice(spawnedBefore), leftover: newChildren() };
}

const RANGE_ERROR = /^RangeError: /;
/** Other options: `TypeError` for a wrong type or a malformed value, `RangeError` for a number out of bounds (README). */
const ARGUMENT_ERROR = /^(TypeError|RangeError): /;

async function expectRefusedBeforeStarting(
  start: () => Promise<{ stop(): Promise<void> }>,
  error: RegExp,
): Promise<void> {
  const result = await attempt(start);
  expect.soft(result.outcome).toMatch(error);
  expect.soft(result.spawned, 'service processes spawned before the refusal').toEqual([]);
  expect.soft(result.leftover, 'child processes left behind').toEqual([]);
}

/** The Upstash endpoint runs in this process: a refused start must leave its fixed port free. */
async function expectEndpointRefused(options: Record<string, unknown>, error: RegExp): Promise<void> {
  const port = await findFreePort();
  const result = await attempt(() =>
    startUpstashEndpoint({ redisPort: redis.port, port, ...options } as UpstashEndpointOptions),
  );
  expect.soft(result.outcome).toMatch(error);
  expect
    .soft(await portAcceptsConnections(port), `something listens on ${port} after the refusal`)
    .toBe(false);
}

const BAD_PORTS: unknown[] = [0, -1, 65_536, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '8000', null];
const BAD_TIMEOUTS: unknown[] = ['soon', Number.NaN, -1];

/** Local addresses (hex, as /proc/net/tcp* show them) of the sockets listening on `port`. */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [address, hexPort] = (local ?? '').split(':');
      if (state === '0A' && hexPort !== undefined && Number.parseInt(hexPort, 16) === port) {
        found.push(address!);
      }
    }
  }
  return found;
}
const LOOPBACK_ONLY = ['0100007F']; // 127.0.0.1

async function shellScript(path: string, lines: string[]): Promise<string> {
  await writeFile(path, `#!/bin/sh\n${lines.join('\n')}\n`, { mode: 0o755 });
  return path;
}

/** A `java` that reports `version` and, asked to run anything else, sleeps without answering. */
const fakeJava = (path: string, version: string): Promise<string> =>
  shellScript(path, [
    `if [ "$1" = "-version" ]; then echo 'openjdk version "${version}" 2025-01-01' >&2; exit 0; fi`,
    'exec sleep 600',
  ]);

async function until(check: () => boolean, what: string): Promise<void> {
  // Date may be faked here, so count rounds instead of reading the clock.
  for (let round = 0; !check(); round++) {
    if (round > 2_400) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts `start` with the clock frozen, moves it to just before `defaultMs` after the spawn (still
 * waiting), then past it: it must fail with the timeout message naming `defaultMs`.
 */
async function expectDefaultTimeout(start: () => Promise<{ stop(): Promise<void> }>, defaultMs: number) {
  const t0 = Date.now();
  vi.useFakeTimers({ toFake: ['Date'], now: t0 });
  try {
    const spawnedBefore = spawnedPids.length;
    const result = start().then(
      async (handle) => {
        await handle.stop();
        return 'started';
      },
      (error: unknown) => error,
    );
    await until(() => spawnedPids.length > spawnedBefore, 'the fake service to be spawned');
    const pid = spawnedPids.at(-1)!;
    vi.setSystemTime(t0 + defaultMs - 1_000);
    expect(await settlesWithin(result, 1_500), 'gave up before the default timeout').toBe('pending');
    vi.setSystemTime(t0 + defaultMs + 1_000);
    const error = await settlesWithin(result, 20_000);
    if (error === 'pending') {
      vi.setSystemTime(t0 + 100 * defaultMs); // let it give up, whatever its timeout, to clean up
      await result;
    }
    expect(error, 'still waiting after the default timeout').toBeInstanceOf(LocalStartError);
    expect((error as Error).message).toContain(`within ${defaultMs} ms`);
    expect(isAlive(pid)).toBe(false);
  } finally {
    vi.useRealTimers();
  }
}

async function send(
  url: string,
  command: unknown[],
  token: string | undefined,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    body: JSON.stringify(command),
  });
  return { status: response.status, body: await response.json() };
}

/** POSTs `["PING"]` padded with spaces to exactly `size` bytes, streamed; resolves with the status. */
function pingOfSize(url: string, token: string, size: number): Promise<number> {
  const command = Buffer.from('["PING"]');
  const padding = Buffer.alloc(1 << 20, ' ');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-length': size } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(command);
    let left = size - command.length;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, padding.length);
        left -= n;
        if (!req.write(padding.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

// The CLI, run from its source (so that it is the code next to this test, built or not).
interface CliRun {
  child: ChildProcess;
  out: string;
  err: string;
  code: Promise<number | null>;
}

function cli(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', join(sourceDir, 'cli.ts'), ...args], {
    cwd: packageDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: CliRun = {
    child,
    out: '',
    err: '',
    code: new Promise((resolve) => child.once('close', (exitCode) => resolve(exitCode))),
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    run.out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    run.err += chunk.toString();
  });
  return run;
}

const READY = 'Press Ctrl-C to stop.';

async function cliServing(args: string[]): Promise<CliRun> {
  const run = cli(args);
  await eventually(() => run.out.includes(READY) || run.child.exitCode !== null, 90_000);
  if (!run.out.includes(READY)) {
    run.child.kill('SIGTERM');
    throw new Error(`leasehold-local ${args.join(' ')} did not start:\n${run.out}${run.err}`);
  }
  return run;
}

const exportsOf = (output: string): Record<string, string> =>
  Object.fromEntries([...output.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));

// ---------------------------------------------------------------------------------------------
// Shared services, started in parallel: every default start, once.

let stores: LocalStores;
let ddb: DynamoDbLocal;
let redis: RedisServer;
let cliDefault: CliRun;
let fakes: string;

beforeAll(async () => {
  fakes = await mkdtemp(join(tmpdir(), 'leasehold-documented-'));
  const started = await Promise.allSettled([
    startLocalStores().then((s) => {
      stores = s;
    }),
    startDynamoDbLocal().then((d) => {
      ddb = d;
    }),
    startRedisServer().then((r) => {
      redis = r;
    }),
    cliServing([]).then((run) => {
      cliDefault = run;
    }),
  ]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
}, 120_000);

afterAll(async () => {
  if (cliDefault?.child.exitCode === null) cliDefault.child.kill('SIGTERM');
  await Promise.allSettled([stores?.stop(), ddb?.stop(), redis?.stop(), cliDefault?.code]);
  await rm(fakes, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------------------------------------
// startLocalStores

documentedOption('startLocalStores', 'services', { type: 'LocalService[]', default: 'all' }, (row) => {
  it('lists exactly the service names the code knows', () => {
    const subset = /`([^`]*)`/.exec(row.meaning)?.[1] ?? '';
    expect([...subset.matchAll(/'(\w+)'/g)].map((m) => m[1])).toEqual([...LOCAL_SERVICES]);
  });

  it('starts every service when not given, with every README variable in env', () => {
    expect(stores.dynamodb).toBeDefined();
    expect(stores.redis).toBeDefined();
    expect(stores.upstash).toBeDefined();
    expect(Object.keys(stores.env).sort()).toEqual(readmeEnvRows.flatMap((r) => r.names).sort());
  });

  // A subset, and 'upstash' implying 'redis': local-stores.test.ts ('starts redis-server too when
  // only upstash is asked for', 'starts only redis-server when asked').

  it.each<[string, unknown]>([
    ['an unknown name', ['memcached']],
    ['a name in the wrong case', ['redis', 'DynamoDB']],
    ['a string instead of a list', 'redis'],
    ['a number', 42],
  ])('refuses %s before starting anything', async (_, services) => {
    await expectRefusedBeforeStarting(
      () => startLocalStores({ services: services as LocalService[] }),
      ARGUMENT_ERROR,
    );
  });
});

documentedOption('startLocalStores', 'token', { type: 'string', default: 'random' }, () => {
  it('is random when not given: a non-blank token that differs from start to start', async () => {
    const other = await startLocalStores({ services: ['upstash'] });
    try {
      expect(stores.upstash!.token).toMatch(/^\S{16,}$/);
      expect(other.upstash!.token).toMatch(/^\S{16,}$/);
      expect(other.upstash!.token).not.toBe(stores.upstash!.token);
      expect(stores.env[LOCAL_ENV.upstashToken]).toBe(stores.upstash!.token);
      expect((await send(stores.upstash!.url, ['PING'], stores.upstash!.token)).status).toBe(200);
    } finally {
      await other.stop();
    }
  });

  // A given token is the endpoint's and UPSTASH_REDIS_REST_TOKEN: local-stores.test.ts ('starts
  // every service by default and exports env vars that reach them').

  it.each<[string, unknown]>([
    ['an empty token', ''],
    ['a token with a space', 'two words'],
    ['a token with a tab', 'tab\there'],
    ['a number', 42],
  ])('refuses %s before starting anything', async (_, token) => {
    await expectRefusedBeforeStarting(
      () => startLocalStores({ services: ['upstash'], token: token as string }),
      ARGUMENT_ERROR,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// startDynamoDbLocal

documentedOption('startDynamoDbLocal', 'port', { type: 'number', default: 'free port' }, () => {
  it('picks a free port when not given: two starts differ, neither is 8000, the endpoint is loopback', () => {
    expect(ddb.port).not.toBe(stores.dynamodb!.port);
    expect([ddb.port, stores.dynamodb!.port]).not.toContain(8000);
    expect(ddb.endpoint).toBe(`http://127.0.0.1:${ddb.port}`);
  });

  // A fixed port that is taken: port-conflicts.test.ts.

  it.each([1, 65_535])('accepts port %i (it gets as far as looking for Java)', async (port) => {
    const result = await attempt(() => startDynamoDbLocal({ port, javaPath: join(fakes, 'no-java') }));
    expect(result.outcome).toMatch(/^LocalPrerequisiteError: /);
  });

  it.each(BAD_PORTS)('refuses port %s with a RangeError before starting anything', async (port) => {
    await expectRefusedBeforeStarting(() => startDynamoDbLocal({ port: port as number }), RANGE_ERROR);
  });
});

documentedOption(
  'startDynamoDbLocal',
  'javaPath',
  { type: 'string', default: '`$JAVA_HOME/bin/java` if it exists, else `java`' },
  () => {
    it('uses the given path, else $JAVA_HOME/bin/java when that file exists, else java from PATH', async () => {
      const jdk = join(fakes, 'jdk');
      const bin = join(fakes, 'bin');
      await mkdir(join(jdk, 'bin'), { recursive: true });
      await mkdir(bin, { recursive: true });
      await fakeJava(join(jdk, 'bin', 'java'), '9.0.4');
      await fakeJava(join(bin, 'java'), '11.0.2');
      const given = await fakeJava(join(fakes, 'given-java'), '10.0.1');
      const tried = async (javaPath?: string): Promise<string> =>
        (await attempt(() => startDynamoDbLocal(javaPath === undefined ? {} : { javaPath }))).outcome;
      try {
        vi.stubEnv('PATH', `${bin}:${process.env.PATH}`);
        vi.stubEnv('JAVA_HOME', jdk);
        expect(await tried()).toMatch(/^LocalPrerequisiteError: Java 9 was found/);
        expect(await tried(given)).toMatch(/^LocalPrerequisiteError: Java 10 was found/);
        vi.stubEnv('JAVA_HOME', join(fakes, 'no-such-jdk'));
        expect(await tried()).toMatch(/^LocalPrerequisiteError: Java 11 was found/);
      } finally {
        vi.unstubAllEnvs();
      }
    });

    // The real Java 17+ found this way starts DynamoDB Local: the shared `ddb`. No Java on PATH, or
    // an old one: prerequisites.test.ts.

    it('refuses a path to nothing with LocalPrerequisiteError, starting nothing', async () => {
      await expectRefusedBeforeStarting(
        () => startDynamoDbLocal({ javaPath: join(fakes, 'no-such-java') }),
        /^LocalPrerequisiteError: .*no-such-java/,
      );
    });

    it('refuses a number before starting anything', async () => {
      await expectRefusedBeforeStarting(
        () => startDynamoDbLocal({ javaPath: 42 as unknown as string }),
        ARGUMENT_ERROR,
      );
    });
  },
);

documentedOption('startDynamoDbLocal', 'startTimeoutMs', { type: 'number', default: '60 000' }, (row) => {
  it('gives up on a DynamoDB Local that does not answer after the default, not before', async () => {
    const java = await fakeJava(join(fakes, 'silent-java'), '17.0.15');
    await expectDefaultTimeout(() => startDynamoDbLocal({ javaPath: java }), readmeNumber(row.default));
  });

  // A given timeout is kept to, and the process killed: start-failures.test.ts.

  it.each(BAD_TIMEOUTS)('refuses startTimeoutMs %s before starting anything', async (startTimeoutMs) => {
    // A fake java that exits after a moment, so that an accepted value cannot hang the test.
    const java = await shellScript(join(fakes, 'brief-java'), [
      `if [ "$1" = "-version" ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi`,
      'sleep 1; exit 7',
    ]);
    await expectRefusedBeforeStarting(
      () => startDynamoDbLocal({ javaPath: java, startTimeoutMs: startTimeoutMs as number }),
      ARGUMENT_ERROR,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// startRedisServer

documentedOption('startRedisServer', 'port', { type: 'number', default: 'free port' }, (row) => {
  it('picks a free port when not given: two starts differ, neither is 6379, bound to 127.0.0.1 only', () => {
    expect(row.meaning).toBe('loopback port');
    expect(redis.port).not.toBe(stores.redis!.port);
    expect([redis.port, stores.redis!.port]).not.toContain(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(listeningAddresses(redis.port)).toEqual(LOOPBACK_ONLY);
  });

  // A fixed port that is taken: port-conflicts.test.ts.

  it.each([1, 65_535])('accepts port %i (it gets as far as running the binary)', async (port) => {
    const result = await attempt(() =>
      startRedisServer({ port, redisServerPath: join(fakes, 'no-redis-server') }),
    );
    expect(result.outcome).toMatch(/^LocalPrerequisiteError: /);
  });

  it.each(BAD_PORTS)('refuses port %s with a RangeError before starting anything', async (port) => {
    await expectRefusedBeforeStarting(() => startRedisServer({ port: port as number }), RANGE_ERROR);
  });
});

documentedOption('startRedisServer', 'redisServerPath', { type: 'string', default: '`redis-server`' }, () => {
  it('runs redis-server from PATH when not given, and the given binary when given', async () => {
    const bin = join(fakes, 'redis-bin');
    await mkdir(bin, { recursive: true });
    await shellScript(join(bin, 'redis-server'), ['echo "redis-server from PATH" >&2', 'exit 3']);
    const given = await shellScript(join(fakes, 'given-redis'), ['echo "the given binary" >&2', 'exit 3']);
    try {
      vi.stubEnv('PATH', `${bin}:${process.env.PATH}`);
      expect((await attempt(() => startRedisServer())).outcome).toMatch(
        /^LocalStartError: .*exited[\s\S]*redis-server from PATH/,
      );
      expect((await attempt(() => startRedisServer({ redisServerPath: given }))).outcome).toMatch(
        /^LocalStartError: .*exited[\s\S]*the given binary/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  // No redis-server on PATH, or a path to nothing: LocalPrerequisiteError, prerequisites.test.ts.

  it('refuses a number before starting anything', async () => {
    await expectRefusedBeforeStarting(
      () => startRedisServer({ redisServerPath: 42 as unknown as string }),
      ARGUMENT_ERROR,
    );
  });
});

documentedOption('startRedisServer', 'startTimeoutMs', { type: 'number', default: '15 000' }, (row) => {
  it('gives up on a redis-server that does not answer PING after the default, not before', async () => {
    const silent = await shellScript(join(fakes, 'silent-redis'), ['exec sleep 600']);
    await expectDefaultTimeout(
      () => startRedisServer({ redisServerPath: silent }),
      readmeNumber(row.default),
    );
  });

  // A given timeout is kept to, and the process killed: start-failures.test.ts.

  it.each(BAD_TIMEOUTS)('refuses startTimeoutMs %s before starting anything', async (startTimeoutMs) => {
    await expectRefusedBeforeStarting(
      () => startRedisServer({ startTimeoutMs: startTimeoutMs as number }),
      ARGUMENT_ERROR,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// startUpstashEndpoint

documentedOption('startUpstashEndpoint', 'redisPort', { type: 'number', default: '(required)' }, () => {
  it('forwards to the redis-server on the given port', async () => {
    const endpoint = await startUpstashEndpoint({ redisPort: redis.port, token: 'tok' });
    try {
      expect(await send(endpoint.url, ['SET', 'documented:k', 'v'], 'tok')).toEqual({
        status: 200,
        body: { result: 'OK' },
      });
      expect((await send(endpoint.url, ['GET', 'documented:k'], 'tok')).body).toEqual({ result: 'v' });
    } finally {
      await endpoint.stop();
    }
  });

  it.each([1, 65_535])('accepts redisPort %i (nothing there: commands answer 503)', async (redisPort) => {
    const endpoint = await startUpstashEndpoint({ redisPort, token: 'tok' });
    try {
      expect((await send(endpoint.url, ['PING'], 'tok')).status).toBe(503);
    } finally {
      await endpoint.stop();
    }
  });

  it('is required: a start without it is refused, nothing left listening', async () => {
    await expectEndpointRefused({ redisPort: undefined }, ARGUMENT_ERROR);
  });

  it.each(BAD_PORTS)('refuses redisPort %s with a RangeError, nothing left listening', async (redisPort) => {
    await expectEndpointRefused({ redisPort: redisPort as number }, RANGE_ERROR);
  });
});

documentedOption('startUpstashEndpoint', 'redisHost', { type: 'string', default: '`127.0.0.1`' }, () => {
  it('reaches a redis-server bound to 127.0.0.1 when not given, and only the given host when given', async () => {
    const byDefault = await startUpstashEndpoint({ redisPort: redis.port, token: 'tok' });
    const elsewhere = await startUpstashEndpoint({
      redisPort: redis.port,
      redisHost: '127.0.0.2',
      token: 'tok',
    });
    try {
      expect(await send(byDefault.url, ['PING'], 'tok')).toEqual({ status: 200, body: { result: 'PONG' } });
      // redis-server listens on 127.0.0.1 only: nothing answers on 127.0.0.2.
      expect((await send(elsewhere.url, ['PING'], 'tok')).status).toBe(503);
    } finally {
      await Promise.all([byDefault.stop(), elsewhere.stop()]);
    }
  });

  it('refuses a number, nothing left listening', async () => {
    await expectEndpointRefused({ redisHost: 42 }, ARGUMENT_ERROR);
  });
});

documentedOption('startUpstashEndpoint', 'token', { type: 'string', default: 'random' }, () => {
  it('is random when not given: clients must send it, and it differs from start to start', async () => {
    const [one, two] = await Promise.all([
      startUpstashEndpoint({ redisPort: redis.port }),
      startUpstashEndpoint({ redisPort: redis.port }),
    ]);
    try {
      expect(one.token).toMatch(/^\S{16,}$/);
      expect(two.token).not.toBe(one.token);
      expect((await send(one.url, ['PING'], undefined)).status).toBe(401);
      expect((await send(one.url, ['PING'], two.token)).status).toBe(401);
      expect((await send(one.url, ['PING'], one.token)).status).toBe(200);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });

  it('accepts a given token, which clients must then send', async () => {
    const endpoint = await startUpstashEndpoint({ redisPort: redis.port, token: 'dev-token' });
    try {
      expect(endpoint.token).toBe('dev-token');
      expect((await send(endpoint.url, ['PING'], 'dev-token')).status).toBe(200);
      expect((await send(endpoint.url, ['PING'], 'dev-token2')).status).toBe(401);
    } finally {
      await endpoint.stop();
    }
  });

  it.each<[string, unknown]>([
    ['an empty token', ''],
    ['a token with a space', 'two words'],
    ['a token with a newline', 'line\nbreak'],
    ['a number', 42],
  ])('refuses %s, nothing left listening', async (_, token) => {
    await expectEndpointRefused({ token: token as string }, ARGUMENT_ERROR);
  });
});

documentedOption('startUpstashEndpoint', 'port', { type: 'number', default: 'free port' }, (row) => {
  it('picks a free port when not given: two starts differ, bound to 127.0.0.1 only', async () => {
    expect(row.meaning).toBe('loopback port');
    const other = await startUpstashEndpoint({ redisPort: redis.port });
    try {
      expect(other.port).not.toBe(stores.upstash!.port);
      expect(other.url).toBe(`http://127.0.0.1:${other.port}`);
      expect(listeningAddresses(other.port)).toEqual(LOOPBACK_ONLY);
    } finally {
      await other.stop();
    }
  });

  // A fixed port that is taken: LocalStartError, port-conflicts.test.ts.

  it.each([1, 65_535])('accepts port %i (it listens there, or says the port cannot be had)', async (port) => {
    const result = await attempt(() => startUpstashEndpoint({ redisPort: redis.port, port }));
    expect(result.outcome).toMatch(/^(accepted: it started|LocalStartError: )/);
  });

  it.each(BAD_PORTS)('refuses port %s with a RangeError', async (port) => {
    const result = await attempt(() => startUpstashEndpoint({ redisPort: redis.port, port: port as number }));
    expect(result.outcome).toMatch(RANGE_ERROR);
  });
});

documentedOption('startUpstashEndpoint', 'maxBodyBytes', { type: 'number', default: '64 MiB' }, (row) => {
  it('takes a body of exactly the default size and answers 413 one byte above it', async () => {
    const limit = readmeNumber(row.default);
    const endpoint = await startUpstashEndpoint({ redisPort: redis.port, token: 'tok' });
    try {
      expect(await pingOfSize(endpoint.url, 'tok', limit)).toBe(200);
      expect(await pingOfSize(endpoint.url, 'tok', limit + 1)).toBe(413);
    } finally {
      await endpoint.stop();
    }
  }, 60_000);

  it('keeps to a given limit', async () => {
    const endpoint = await startUpstashEndpoint({ redisPort: redis.port, token: 'tok', maxBodyBytes: 100 });
    try {
      expect(await pingOfSize(endpoint.url, 'tok', 100)).toBe(200);
      expect(await pingOfSize(endpoint.url, 'tok', 101)).toBe(413);
    } finally {
      await endpoint.stop();
    }
  });

  it.each<unknown>(['1mb', Number.NaN, -1])(
    'refuses maxBodyBytes %s, nothing left listening',
    async (max) => {
      await expectEndpointRefused({ maxBodyBytes: max as number }, ARGUMENT_ERROR);
    },
  );
});

documentedOption('startUpstashEndpoint', 'upstashScriptFlags', { type: 'boolean', default: '`true`' }, () => {
  const flagged = ['EVAL', '#!lua flags=allow-key-locking\nreturn 1', '0'];

  it('accepts the allow-key-locking flag when not given', async () => {
    const endpoint = await startUpstashEndpoint({ redisPort: redis.port, token: 'tok' });
    try {
      expect(await send(endpoint.url, flagged, 'tok')).toEqual({ status: 200, body: { result: 1 } });
    } finally {
      await endpoint.stop();
    }
  });

  it('with false, passes the script to redis-server, which refuses the flag', async () => {
    // Also upstash-endpoint.test.ts ('passes the flag to redis-server unchanged with upstashScriptFlags: false').
    const endpoint = await startUpstashEndpoint({
      redisPort: redis.port,
      token: 'tok',
      upstashScriptFlags: false,
    });
    try {
      expect(await send(endpoint.url, flagged, 'tok')).toEqual({
        status: 400,
        body: { error: expect.stringContaining('allow-key-locking') },
      });
    } finally {
      await endpoint.stop();
    }
  });

  it.each<unknown>(['false', 0])('refuses upstashScriptFlags %s, nothing left listening', async (flags) => {
    await expectEndpointRefused({ upstashScriptFlags: flags as boolean }, ARGUMENT_ERROR);
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI

const USAGE = 'Usage: leasehold-local';

documentedFlags([], 'leasehold-local with no flags', () => {
  it('starts everything and prints every README environment variable, as the README describes it', () => {
    const output = cliDefault.out;
    expect(output).toMatch(/DynamoDB Local\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/redis-server\s+redis:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/Upstash REST\s+http:\/\/127\.0\.0\.1:\d+/);
    const vars = exportsOf(output);
    expect(Object.keys(vars).sort()).toEqual(readmeEnvRows.flatMap((r) => r.names).sort());
    let previous = '';
    for (const { names, value } of readmeEnvRows) {
      for (const name of names) {
        const shown = /^`([^`]+)`/.exec(value)?.[1];
        if (shown !== undefined) {
          const pattern = shown.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('<port>', '\\d+');
          expect(vars[name], name).toMatch(new RegExp(`^${pattern}$`));
        } else if (value.startsWith('same')) {
          expect(vars[name], name).toBe(vars[previous]);
        } else {
          expect(vars[name], name).toMatch(/^\S+$/);
        }
        previous = name;
      }
    }
  });

  it('stops every process on SIGINT and exits 0', async () => {
    const pids = [...cliDefault.out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2); // java and redis-server
    cliDefault.child.kill('SIGINT');
    expect(await cliDefault.code).toBe(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });
});

documentedFlags(['--services', '--token'], 'leasehold-local --services <list> --token <token>', () => {
  // The README's example (`--services dynamodb,upstash --token dev-token`) without DynamoDB, to keep
  // to one more Java start; cli.test.ts serves `--services upstash --token cli-token` too.
  it('starts only the listed services (upstash with its redis) with the given token', async () => {
    const run = await cliServing(['--services', 'redis,upstash', '--token', 'dev-token']);
    try {
      expect(run.out).not.toContain('DynamoDB Local');
      const vars = exportsOf(run.out);
      expect(Object.keys(vars).sort()).toEqual(
        [LOCAL_ENV.redisUrl, LOCAL_ENV.upstashUrl, LOCAL_ENV.upstashToken].sort(),
      );
      expect(vars[LOCAL_ENV.upstashToken]).toBe('dev-token');
      expect((await send(vars[LOCAL_ENV.upstashUrl]!, ['PING'], 'dev-token')).status).toBe(200);
    } finally {
      run.child.kill('SIGTERM');
      expect(await run.code).toBe(0);
    }
  });

  it('gives a random token when --token is not given', async () => {
    const run = await cliServing(['--services', 'upstash']);
    try {
      const token = exportsOf(run.out)[LOCAL_ENV.upstashToken];
      expect(token).toMatch(/^\S{16,}$/);
      expect(token).not.toBe(exportsOf(cliDefault.out)[LOCAL_ENV.upstashToken]);
    } finally {
      run.child.kill('SIGTERM');
      await run.code;
    }
  });

  // `--services memcached`, `--token ''` and `--token 'two words'` are in cli.test.ts as well.
  it.each<[string[], RegExp]>([
    [['--services', 'memcached'], /unknown service "memcached"/],
    [['--services', 'redis,DynamoDB'], /unknown service "DynamoDB"/],
    [['--services', ','], /--services needs at least one service/],
    [['--services'], /--services <value>' argument missing/],
    [['--token', ''], /--token must be a non-empty string without whitespace/],
    [['--token', 'two words'], /--token must be a non-empty string without whitespace/],
    [['--token'], /--token <value>' argument missing/],
  ])('exits 2 with a message and the usage for %j, starting nothing', async (args, message) => {
    const run = cli(args);
    expect(await run.code).toBe(2);
    expect(run.err).toMatch(new RegExp(`^leasehold-local: .*${message.source}`));
    expect(run.err).toContain(USAGE);
    expect(run.out).not.toContain(READY);
  });
});

documentedFlags(['--help', '-h'], 'leasehold-local --help', () => {
  it.each(['--help', '-h'])('%s lists every documented flag and exits 0', async (flag) => {
    const run = cli([flag]);
    expect(await run.code).toBe(0);
    expect(run.out).toContain(USAGE);
    for (const documented of readmeFlags) expect(run.out).toContain(documented);
  });
});

describe('leasehold-local, anything else', () => {
  it.each<[string[], RegExp]>([
    [['--port', '8000'], /Unknown option '--port'/],
    [['-x'], /Unknown option '-x'/],
    [['redis'], /Unexpected argument 'redis'/],
  ])('exits 2 with a message and the usage for %j', async (args, message) => {
    const run = cli(args);
    expect(await run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(run.err).toContain(USAGE);
  });

  it('exits 1 naming the missing prerequisite (redis-server not on PATH)', async () => {
    const run = cli(['--services', 'redis'], { ...process.env, PATH: fakes });
    expect(await run.code).toBe(1);
    expect(run.err).toMatch(/^leasehold-local: missing prerequisite: redis-server was not found on PATH/);
  });

  it('takes java from $JAVA_HOME, as the README says', async () => {
    const jdk = join(fakes, 'cli-jdk');
    await mkdir(join(jdk, 'bin'), { recursive: true });
    await fakeJava(join(jdk, 'bin', 'java'), '9.0.4');
    const run = cli(['--services', 'dynamodb'], { ...process.env, JAVA_HOME: jdk });
    expect(await run.code).toBe(1);
    expect(run.err).toMatch(/missing prerequisite: Java 9 was found but DynamoDB Local needs Java 17\+/);
  });
});

// ---------------------------------------------------------------------------------------------
// README ⇄ sources ⇄ this file

describe('the README, the sources and this file agree', () => {
  const key = (fn: string, option: string): string => `${fn}.${option}`;

  it('parsed the README option table, the options interfaces and the CLI flags', () => {
    expect(optionRows.length).toBeGreaterThan(10);
    expect(optionTakers.map((t) => t.fn).sort()).toEqual(
      ['startDynamoDbLocal', 'startLocalStores', 'startRedisServer', 'startUpstashEndpoint'].sort(),
    );
    expect(sourceFlags).toContain('--services');
    expect(readmeFlags).toContain('--services');
  });

  it('every options interface in src belongs to a documented start function', () => {
    expect([...optionInterfaces.keys()].sort()).toEqual(optionTakers.map((t) => t.options).sort());
  });

  it('every README option row has its cases here, with the type and default they observe', () => {
    for (const row of optionRows) {
      expect(optionCases.get(key(row.fn, row.option)), `${row.fn} ${row.option}`).toEqual({
        type: row.type,
        default: row.default,
      });
    }
    expect([...optionCases.keys()].sort()).toEqual(optionRows.map((r) => key(r.fn, r.option)).sort());
  });

  it('every option the sources accept is in the README, and every README option is in the sources', () => {
    expect(sourceOptions.map((o) => key(o.fn, o.option)).sort()).toEqual(
      optionRows.map((r) => key(r.fn, r.option)).sort(),
    );
  });

  it('the README gives each option the type of its source, and "(required)" exactly when it is', () => {
    for (const option of sourceOptions) {
      const row = optionRows.find((r) => r.fn === option.fn && r.option === option.option);
      expect(row?.type, key(option.fn, option.option)).toBe(option.type);
      expect(row?.default === '(required)', key(option.fn, option.option)).toBe(!option.optional);
    }
  });

  it('every flag the CLI accepts is in the README', () => {
    expect(sourceFlags.filter((flag) => !readmeFlags.includes(flag))).toEqual([]);
  });

  it('every README flag is one the CLI accepts', () => {
    expect(readmeFlags.filter((flag) => !sourceFlags.includes(flag))).toEqual([]);
  });

  it('every flag, documented or accepted, has its cases here', () => {
    expect([...flagCases].sort()).toEqual([...new Set([...readmeFlags, ...sourceFlags])].sort());
  });

  it('the README environment variables are LOCAL_ENV, and every variable the sources read is in the README', () => {
    expect(readmeEnvRows.flatMap((r) => r.names).sort()).toEqual(Object.values(LOCAL_ENV).sort());
    expect(sourceEnvReads.length).toBeGreaterThan(0);
    expect(sourceEnvReads.filter((name) => !readme.includes(`$${name}`))).toEqual([]);
  });

  it('the CLI the README runs as leasehold-local is the one tested here', () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ 'leasehold-local': './dist/cli.js' });
    // dist/cli.js is built from src/cli.ts, which this file runs.
    expect(readFileSync(join(packageDir, 'tsconfig.build.json'), 'utf8')).toMatch(/"rootDir":\s*"src"/);
  });

  it('documents RangeError for a bad port, the error the port cases expect', () => {
    expect(readmeSection('## Options')).toContain(
      'Ports are integers from 1 to 65535 (else a `RangeError`).',
    );
  });
});
