/**
 * README "Stops cleanly": the services are killed on the way out "on an unhandled SIGINT/SIGTERM/SIGHUP".
 * An application that handles the signal itself owns shutdown: its graceful-shutdown handler must find
 * the services still answering, and one that handles SIGINT without exiting keeps running with its
 * services. (An unhandled SIGTERM, which kills them and the process, is covered in cli.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, isAlive, PACKAGE_DIR, type RunningScript, runTsScript } from './helpers.js';

const src = join(PACKAGE_DIR, 'src');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leasehold-handled-signal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const runScript = (body: string) => runTsScript(dir, body);

async function waitFor(running: RunningScript, needle: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!running.out().includes(needle)) {
    if (Date.now() > deadline || running.child.exitCode !== null) {
      throw new Error(`no ${needle} in:\n${running.out()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const ping = [
  `import { RespConnection } from ${JSON.stringify(join(src, 'resp.js'))};`,
  'async function ping(port: number): Promise<string> {',
  '  try {',
  "    const conn = await RespConnection.open('127.0.0.1', port, 2_000);",
  "    const reply = await conn.send(['PING']);",
  '    conn.close();',
  '    return String((reply as { value?: string }).value ?? reply);',
  '  } catch (error) {',
  "    return 'FAILED ' + (error as Error).message;",
  '  }',
  '}',
].join('\n');

describe('a signal the application handles itself', () => {
  it('SIGTERM with a graceful-shutdown handler: the services still answer until the app stops them', async () => {
    const running = await runScript(
      [
        `import { startRedisServer } from ${JSON.stringify(join(src, 'index.js'))};`,
        ping,
        'const server = await startRedisServer();',
        "process.on('SIGTERM', async () => {",
        '  // e.g. release leases / drain work, then stop the stores',
        "  console.log('IN HANDLER', await ping(server.port));",
        '  await server.stop();',
        '  process.exit(0);',
        '});',
        "console.log('READY', server.pid);",
        'setInterval(() => {}, 1_000);',
      ].join('\n'),
    );
    try {
      await waitFor(running, 'READY');
      running.child.kill('SIGTERM');
      expect(await running.exit).toEqual({ code: 0, signal: null });
      expect(running.out()).toContain('IN HANDLER PONG');
    } finally {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
    }
  });

  it('SIGINT handled without exiting (e.g. "press Ctrl-C twice"): the services keep running', async () => {
    const running = await runScript(
      [
        `import { startRedisServer } from ${JSON.stringify(join(src, 'index.js'))};`,
        ping,
        'const server = await startRedisServer();',
        "process.on('SIGINT', async () => console.log('AFTER SIGINT', await ping(server.port)));",
        "process.on('SIGTERM', async () => { await server.stop(); process.exit(0); });",
        "console.log('READY', server.pid);",
        'setInterval(() => {}, 1_000);',
      ].join('\n'),
    );
    try {
      await waitFor(running, 'READY');
      const pid = Number(/READY (\d+)/.exec(running.out())?.[1]);
      running.child.kill('SIGINT');
      await waitFor(running, 'AFTER SIGINT');
      expect(running.out()).toContain('AFTER SIGINT PONG');
      expect(isAlive(pid)).toBe(true);
      running.child.kill('SIGTERM');
      await running.exit;
    } finally {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
    }
  });

  it('a handler that exits without stop(): the services are still killed on the way out', async () => {
    const running = await runScript(
      [
        `import { startRedisServer } from ${JSON.stringify(join(src, 'index.js'))};`,
        'const server = await startRedisServer();',
        "process.on('SIGTERM', () => process.exit(0));",
        "console.log('READY', server.pid);",
        'setInterval(() => {}, 1_000);',
      ].join('\n'),
    );
    try {
      await waitFor(running, 'READY');
      const pid = Number(/READY (\d+)/.exec(running.out())?.[1]);
      running.child.kill('SIGTERM');
      expect(await running.exit).toEqual({ code: 0, signal: null });
      expect(await eventually(() => !isAlive(pid))).toBe(true);
    } finally {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
    }
  });
});
