/**
 * README "Stops cleanly": "Child processes never keep your process alive on their own", and a process
 * that exits without calling stop() has its services killed on the way out. The endpoint's HTTP server
 * is unref'd for that reason; so must be the connections to redis-server it keeps open between
 * requests, or a script that used the endpoint and did not call stop() never exits. A connection in
 * use must still keep the process alive until its command is answered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../src/index.js';
import { eventually, isAlive, PACKAGE_DIR, runTsScript } from './helpers.js';

const src = join(PACKAGE_DIR, 'src');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leasehold-exit-without-stop-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs a TypeScript module (top-level await allowed) with tsx; resolves with its exit, or 'hung'. */
async function runScript(lines: string[], limitMs: number) {
  const { child, out, exit } = await runTsScript(dir, lines.join('\n'));
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), limitMs);
  });
  const result = await Promise.race([exit, hung]);
  clearTimeout(timer);
  if (result === 'hung') {
    child.kill('SIGTERM'); // unhandled: the library kills its services and re-raises
    await exit;
  }
  return { result, out: out() };
}

describe('a process that used the Upstash endpoint and did not call stop()', () => {
  it('exits on its own once its work is done, and its redis-server is killed', async () => {
    const run = await runScript(
      [
        `import { startRedisServer, startUpstashEndpoint } from ${JSON.stringify(join(src, 'index.js'))};`,
        'const server = await startRedisServer();',
        "const endpoint = await startUpstashEndpoint({ redisPort: server.port, token: 't' });",
        "const headers = { authorization: 'Bearer t' };",
        'const post = async (path: string, body: unknown) =>',
        '  (await fetch(endpoint.url + path, { method: "POST", headers, body: JSON.stringify(body) })).text();',
        "console.log('PID', server.pid);",
        // Every kind of request that takes a connection: one closed after use (a stateful command),
        // pooled ones given back (single command, pipeline, transaction), a subscription's own.
        "console.log(await post('/', ['select', '0']));",
        "console.log(await post('/', ['ping']));",
        "console.log(await post('/pipeline', [['set', 'k', 'v'], ['get', 'k']]));",
        "console.log(await post('/multi-exec', [['incr', 'n'], ['incr', 'n']]));",
        'const abort = new AbortController();',
        "const stream = await fetch(endpoint.url + '/subscribe/ch', { method: 'POST', headers, signal: abort.signal });",
        'const reader = stream.body!.getReader();',
        "console.log('SSE', new TextDecoder().decode((await reader.read()).value).trim());",
        'abort.abort();',
        'await reader.read().catch(() => {});',
      ],
      // Well past the endpoint's HTTP keep-alive (5 s), after which only a leak can hold the process.
      20_000,
    );
    expect(run.out).toContain('{"result":"PONG"}');
    expect(run.out).toContain('[{"result":"OK"},{"result":"v"}]');
    expect(run.out).toContain('[{"result":1},{"result":2}]');
    expect(run.out).toContain('SSE data: subscribe,ch,1');
    const pid = Number(/PID (\d+)/.exec(run.out)?.[1]);
    expect(run.result, run.out).toEqual({ code: 0, signal: null });
    expect(await eventually(() => !isAlive(pid))).toBe(true);
  });
});

describe('a pooled connection to redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer(); // in this process: the script below has nothing else alive
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps the process alive while a command is in flight, and no longer once it is given back', async () => {
    const run = await runScript(
      [
        `import { RespPool } from ${JSON.stringify(join(src, 'resp.js'))};`,
        `const pool = new RespPool('127.0.0.1', ${server.port});`,
        'const first = await pool.acquire();',
        'pool.release(first);', // idle, unref'd ...
        'const conn = await pool.acquire();', // ... and taken again
        // Nothing but this connection is waiting: a process that exited now would end with code 13
        // (unsettled top-level await) and never print the reply.
        "const reply = await conn.send(['BLPOP', 'nothing-here', '0.3']);",
        "console.log('REPLY', String(reply), conn === first);",
        'pool.release(conn);',
      ],
      15_000,
    );
    expect(run.out).toContain('REPLY null true');
    expect(run.result, run.out).toEqual({ code: 0, signal: null });
  });
});
