import { createHash } from 'node:crypto';
import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  startRedisServer,
  startUpstashEndpoint,
  type UpstashEndpoint,
} from '../src/index.js';
import { eventually, portAcceptsConnections } from './helpers.js';

const TOKEN = 'local-test-token';

let server: RedisServer;
let endpoint: UpstashEndpoint;
let redis: Redis;

/** A client with no retries, so a wrong answer fails fast instead of retrying. */
function client(options: Partial<RedisConfigNodejs> = {}): Redis {
  return new Redis({
    url: endpoint.url,
    token: TOKEN,
    retry: false,
    enableAutoPipelining: false,
    ...options,
  });
}

async function post(
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: unknown }> {
  const response = await fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

beforeAll(async () => {
  server = await startRedisServer();
  endpoint = await startUpstashEndpoint({ redisPort: server.port, token: TOKEN });
  redis = client();
});

afterAll(async () => {
  await endpoint?.stop();
  await server?.stop();
});

describe('Upstash endpoint: single commands with @upstash/redis', () => {
  it('serves set, get, incr and del', async () => {
    expect(await redis.set('single:a', 'hello')).toBe('OK');
    expect(await redis.get('single:a')).toBe('hello');
    expect(await redis.incr('single:n')).toBe(1);
    expect(await redis.incrby('single:n', 41)).toBe(42);
    expect(await redis.del('single:a', 'single:n', 'single:missing')).toBe(2);
    expect(await redis.get('single:a')).toBeNull();
  });

  it('round-trips unicode and control characters through the base64 encoding', async () => {
    const value = 'zürich ✓ 日本 🔒 \u0000\u0001\u007f "quoted" \\ line\nbreak\ttab';
    await redis.set('single:unicode', value);
    expect(await redis.get('single:unicode')).toBe(value);
    expect(await redis.strlen('single:unicode')).toBe(Buffer.byteLength(value));
  });

  it('serves the same values without base64 (responseEncoding: false)', async () => {
    const plain = client({ responseEncoding: false });
    const value = 'plain ✓ 🔒 "x"';
    await plain.set('single:plain', value);
    expect(await plain.get('single:plain')).toBe(value);
    expect(await redis.get('single:plain')).toBe(value);
  });

  it('returns hashes, lists and nil entries inside arrays', async () => {
    await redis.hset('single:h', { field: 'v1', other: 'v2' });
    expect(await redis.hgetall('single:h')).toEqual({ field: 'v1', other: 'v2' });
    await redis.rpush('single:l', 'a', 'OK', 'c');
    expect(await redis.lrange('single:l', 0, -1)).toEqual(['a', 'OK', 'c']);
    expect(await redis.mget('single:l-missing', 'single:plain')).toEqual([null, 'plain ✓ 🔒 "x"']);
  });

  it('deserializes JSON values like Upstash does', async () => {
    await redis.set('single:json', { a: 1, b: ['x'] });
    expect(await redis.get('single:json')).toEqual({ a: 1, b: ['x'] });
  });

  it('surfaces a failed command as an error with the redis message', async () => {
    await redis.set('single:text', 'abc');
    await expect(redis.incr('single:text')).rejects.toThrow(/ERR value is not an integer/);
  });

  it('handles PX expiry in milliseconds', async () => {
    await redis.set('single:ttl', 'v', { px: 60_000 });
    const pttl = await redis.pttl('single:ttl');
    expect(pttl).toBeGreaterThan(59_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });
});

describe('Upstash endpoint: wire format', () => {
  it('answers POST / with {"result"}: strings base64 except OK, integers as numbers, nil as null', async () => {
    const base64 = { 'upstash-encoding': 'base64' };
    expect((await post('/', '["set","wire:k","v"]', base64)).json).toEqual({ result: 'OK' });
    expect((await post('/', '["get","wire:k"]', base64)).json).toEqual({ result: 'dg==' });
    expect((await post('/', '["ping"]', base64)).json).toEqual({ result: 'UE9ORw==' });
    expect((await post('/', '["get","wire:none"]', base64)).json).toEqual({ result: null });
    expect((await post('/', '["get","wire:k"]')).json).toEqual({ result: 'v' });
    expect((await post('/', '["incrby","wire:n",5]')).json).toEqual({ result: 5 });
  });

  it('keeps every digit of 64-bit integers', async () => {
    const reply = await post('/', '["incrby","wire:big","9007199254740993"]');
    expect(reply.text).toBe('{"result":9007199254740993}');
  });

  it('sends numbers and booleans in a command as strings', async () => {
    await post('/', '["set","wire:bool",true]');
    expect((await post('/', '["get","wire:bool"]')).json).toEqual({ result: 'true' });
    await post('/', '["set","wire:num",1.5]');
    expect((await post('/', '["get","wire:num"]')).json).toEqual({ result: '1.5' });
  });

  it('answers a failed command with HTTP 400 {"error"}', async () => {
    const reply = await post('/', '["nosuchcommand","x"]');
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: expect.stringMatching(/^ERR unknown command/) });
  });

  it('answers malformed bodies with HTTP 400', async () => {
    for (const body of ['not json', '{"a":1}', '[]', '[["nested"]]', '[null]', '']) {
      const reply = await post('/', body);
      expect(reply.status, body).toBe(400);
      expect(reply.json, body).toEqual({ error: expect.any(String) });
    }
    const pipeline = await post('/pipeline', '["get","k"]');
    expect(pipeline.status).toBe(400);
  });

  it('refuses commands that would take over the connection', async () => {
    const reply = await post('/', '["subscribe","chan"]');
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: expect.stringMatching(/not allowed: subscribe/) });
  });

  it('answers unknown paths with 404 and other methods with 405', async () => {
    expect((await post('/nope', '["ping"]')).status).toBe(404);
    const get = await fetch(`${endpoint.url}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(get.status).toBe(405);
    await get.text();
  });

  it('reads large request bodies in full', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const script = `-- ${big}\nreturn ARGV[1]`;
    expect(await redis.eval(script, [], ['large-script-ok'])).toBe('large-script-ok');
    await redis.set('wire:big-value', big);
    expect(await redis.strlen('wire:big-value')).toBe(big.length);
  });
});

describe('Upstash endpoint: authentication', () => {
  it('rejects a wrong token with 401 {"error":"WRONGPASS invalid or missing auth token"}, as Upstash, and does not echo it', async () => {
    const secret = 'wrong-token-value-123';
    const response = await fetch(`${endpoint.url}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}` },
      body: '["ping"]',
    });
    expect(response.status).toBe(401);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: 'WRONGPASS invalid or missing auth token' });
    expect(text).not.toContain(secret);
    expect(text).not.toContain(TOKEN);
  });

  it('rejects a request without a token', async () => {
    const response = await fetch(`${endpoint.url}/pipeline`, { method: 'POST', body: '[["ping"]]' });
    expect(response.status).toBe(401);
    await response.text();
  });

  it('accepts the token as the _token query parameter, as Upstash (docs: redis/features/restapi)', async () => {
    const ok = await fetch(`${endpoint.url}/?_token=${TOKEN}`, { method: 'POST', body: '["ping"]' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ result: 'PONG' });
    const wrong = await fetch(`${endpoint.url}/pipeline?_token=nope`, { method: 'POST', body: '[["ping"]]' });
    expect(wrong.status).toBe(401);
    await wrong.text();
  });

  it('makes @upstash/redis throw on a bad token', async () => {
    const bad = new Redis({ url: endpoint.url, token: 'bad', retry: false, enableAutoPipelining: false });
    await expect(bad.get('k')).rejects.toThrow(/^WRONGPASS invalid or missing auth token/);
  });
});

describe('Upstash endpoint: pipelines and transactions', () => {
  it('batches concurrent calls into /pipeline with auto-pipelining', async () => {
    const auto = client({ enableAutoPipelining: true });
    const counter = auto as unknown as { pipelineCounter: number };
    expect(counter.pipelineCounter).toBe(0);
    const results = await Promise.all([
      auto.set('auto:a', 'A'),
      auto.set('auto:b', 'B'),
      auto.incr('auto:n'),
      auto.incr('auto:n'),
      auto.get('auto:missing'),
    ]);
    expect(results).toEqual(['OK', 'OK', 1, 2, null]);
    // One write batch and one read batch, not five requests.
    expect(counter.pipelineCounter).toBe(2);
    const reads = await Promise.all([auto.get('auto:a'), auto.get('auto:b'), auto.get('auto:n')]);
    expect(reads).toEqual(['A', 'B', 2]);
    expect(counter.pipelineCounter).toBe(3);
  });

  it('reports a failing entry of an auto-pipelined batch only to its caller', async () => {
    const auto = client({ enableAutoPipelining: true });
    await redis.set('auto:text', 'abc');
    const [ok, failed] = await Promise.allSettled([auto.incr('auto:ok'), auto.incr('auto:text')]);
    expect(ok).toEqual({ status: 'fulfilled', value: 1 });
    expect(failed.status).toBe('rejected');
    expect(String((failed as PromiseRejectedResult).reason)).toMatch(/ERR value is not an integer/);
  });

  it('runs an explicit pipeline and reports one failing entry', async () => {
    await redis.set('pipe:text', 'abc');
    const build = () => redis.pipeline().set('pipe:a', '1').incr('pipe:text').incr('pipe:a').get('pipe:a');
    await expect(build().exec()).rejects.toThrow(/Command 2 \[ incr \] failed: ERR value is not an integer/);
    const entries = await build().exec({ keepErrors: true });
    expect(entries.map((entry) => entry.error)).toEqual([
      undefined,
      expect.stringMatching(/ERR value is not an integer/),
      undefined,
      undefined,
    ]);
    expect(entries.map((entry) => (entry.error === undefined ? entry.result : 'failed'))).toEqual([
      'OK',
      'failed',
      2,
      2,
    ]);
  });

  it('answers /pipeline with per-entry {"result"} and {"error"} in one 200', async () => {
    const reply = await post(
      '/pipeline',
      '[["set","raw:p","1"],["incr","raw:p"],["nosuch"],["get","raw:p"]]',
    );
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual([
      { result: 'OK' },
      { result: 2 },
      { error: expect.stringMatching(/^ERR unknown command/) },
      { result: '2' },
    ]);
  });

  it('runs multi() as one MULTI/EXEC transaction', async () => {
    const results = await redis
      .multi()
      .set('tx:a', '10')
      .incrby('tx:a', 5)
      .get('tx:a')
      .lpush('tx:l', 'x')
      .exec();
    expect(results).toEqual(['OK', 15, 15, 1]);
  });

  it('keeps a multi() atomic: other clients never see a half-applied transaction', async () => {
    const other = client();
    await redis.set('tx:counter', '0');
    const observed: unknown[] = [];
    const tx = redis.multi();
    for (let i = 0; i < 50; i++) tx.incr('tx:counter');
    const running = tx.exec();
    for (let i = 0; i < 20; i++) observed.push(await other.get('tx:counter'));
    await running;
    expect(observed.every((value) => value === 0 || value === 50)).toBe(true);
    expect(await other.get('tx:counter')).toBe(50);
  });

  it('reports a runtime error inside a transaction per entry, after applying the rest', async () => {
    await redis.set('tx:text', 'abc');
    const entries = await redis.multi().incr('tx:text').set('tx:after', 'yes').exec({ keepErrors: true });
    expect(entries[0]?.error).toMatch(/ERR value is not an integer/);
    expect(entries[1]?.result).toBe('OK');
    expect(await redis.get('tx:after')).toBe('yes');
  });

  it('rejects a transaction with a command that cannot be queued, applying nothing', async () => {
    const reply = await post('/multi-exec', '[["set","tx:never","1"],["set","tx:wrong-arity"]]');
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: expect.stringMatching(/wrong number of arguments/) });
    expect(await redis.exists('tx:never')).toBe(0);
  });
});

describe('Upstash endpoint: Lua scripts', () => {
  const script = 'redis.call("SET", KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}';

  it('runs EVAL with keys and arguments', async () => {
    expect(await redis.eval(script, ['lua:k'], ['v', '41'])).toEqual(['lua:k', 'v', 42]);
    expect(await redis.get('lua:k')).toBe('v');
  });

  it('reports NOSCRIPT for an unknown EVALSHA', async () => {
    await expect(redis.evalsha('0'.repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
  });

  it('falls back from EVALSHA to EVAL with createScript, then uses EVALSHA', async () => {
    const unique = `return {ARGV[1], "${Date.now()}"}`;
    const s = redis.createScript<[string, string]>(unique);
    await expect(s.evalsha([], ['x'])).rejects.toThrow(/NOSCRIPT/);
    const [first] = await s.exec([], ['first']);
    expect(first).toBe('first');
    const [second] = await s.evalsha([], ['second']);
    expect(second).toBe('second');
  });

  it('falls back with auto-pipelining too', async () => {
    const auto = client({ enableAutoPipelining: true });
    const s = auto.createScript<string>(`return ARGV[1] .. "-${Date.now()}-auto"`);
    expect(await s.exec([], ['ok'])).toMatch(/^ok-\d+-auto$/);
  });

  it('returns script errors as command errors', async () => {
    await expect(redis.eval('return redis.error_reply("MYERR custom failure")', [], [])).rejects.toThrow(
      /MYERR custom failure/,
    );
  });

  it("accepts Upstash's allow-key-locking flag (redis-server refuses it), by EVAL and by the SHA-1 as sent", async () => {
    const flagged = `#!lua flags=allow-key-locking\nreturn ARGV[1] .. "-${Date.now()}-flagged"`;
    const sha = createHash('sha1').update(flagged).digest('hex');
    await expect(redis.evalsha(sha, [], ['x'])).rejects.toThrow(/NOSCRIPT/);
    expect(await redis.eval(flagged, [], ['a'])).toMatch(/^a-\d+-flagged$/);
    expect(await redis.evalsha(sha, [], ['b'])).toMatch(/^b-\d+-flagged$/);
    // Other flags stay: a no-writes script that writes is still refused.
    const readOnly = `#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], 'v')`;
    await expect(redis.eval(readOnly, ['lua:ro'], [])).rejects.toThrow(/Write commands are not allowed/);
  });

  it('keeps the rules of allow-key-locking: every key a command names must be in KEYS, by EVAL and by EVALSHA', async () => {
    // Upstash docs (redis/features/key-locking): "Every key passed to redis.call must appear in KEYS
    // ... Otherwise the engine rejects the command".
    const dynamic = `#!lua flags=allow-key-locking\n--${Date.now()}\nredis.call('SET', KEYS[1], 'v')\nreturn redis.call('GET', KEYS[1] .. ':other')`;
    const refused =
      /ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set\. Key was: lua:kl:other/;
    await expect(redis.eval(dynamic, ['lua:kl'], [])).rejects.toThrow(refused);
    const sha = createHash('sha1').update(dynamic).digest('hex');
    await expect(redis.evalsha(sha, ['lua:kl'], [])).rejects.toThrow(refused);
    // Declared, the same keys are fine (whether passed to call or pcall), and so are commands with no key.
    expect(await redis.eval(dynamic, ['lua:kl', 'lua:kl:other'], [])).toBeNull();
    const declared = `#!lua flags=allow-key-locking\nlocal r = redis.pcall('ZADD', KEYS[1], 'NX', 1, 'm')\nredis.call('PUBLISH', 'lua:kl:chan', 'x')\nreturn {r, redis.sha1hex('')}`;
    expect(await redis.eval(declared, ['lua:kl:z'], [])).toEqual([
      1,
      'da39a3ee5e6b4b0d3255bfef95601890afd80709',
    ]);
    await expect(
      redis.eval(`#!lua flags=allow-key-locking\nreturn redis.pcall('HSET', 'lua:kl:h', 'f', 'v')`, [], []),
    ).rejects.toThrow(/Dynamic keys are not allowed .* Key was: lua:kl:h/);
    await expect(redis.eval(`#!lua flags=allow-key-locking\nredis.call('FLUSHALL')`, [], [])).rejects.toThrow(
      /FLUSHALL is not allowed/,
    );
    // Commands whose key the guard knows without asking redis-server are held to the same rule: every
    // key they name, in any spelling of the command, with a declared key beside an undeclared one.
    for (const [call, key] of [
      [`redis.call('DEL', KEYS[1], 'lua:kl:d2')`, 'lua:kl:d2'],
      [`redis.call('EXISTS', KEYS[1], KEYS[1], 'lua:kl:e3')`, 'lua:kl:e3'],
      [`redis.pcall('get', 'lua:kl:lower')`, 'lua:kl:lower'],
      [`redis.call('INCRBY', 'lua:kl:i', KEYS[1])`, 'lua:kl:i'],
      [`redis.call('SET', 'lua:kl:s', KEYS[1], 'PX', 100)`, 'lua:kl:s'],
    ]) {
      await expect(
        redis.eval(`#!lua flags=allow-key-locking\nreturn ${call}`, ['lua:kl:d'], []),
        call,
      ).rejects.toThrow(new RegExp(`Dynamic keys are not allowed .* Key was: ${key} `));
    }
    // A declared key given as a number is a declared key.
    expect(
      await redis.eval(`#!lua flags=allow-key-locking\nreturn redis.call('GET', 7)`, ['7'], []),
    ).toBeNull();
    // Without the flag, Upstash takes the global lock: any key goes.
    expect(await redis.eval(`return redis.call('GET', 'lua:kl:undeclared')`, [], [])).toBeNull();
    // Line numbers in the script's own errors are those of the script as sent.
    await expect(
      redis.eval(`#!lua flags=allow-key-locking\nlocal a = 1\nreturn nil + a`, [], []),
    ).rejects.toThrow(/user_script:3:/);
  });

  it('loads an allow-key-locking script with SCRIPT LOAD under the SHA-1 of the script as sent, which SCRIPT EXISTS knows and EVALSHA runs', async () => {
    // Upstash docs (redis/commands/scripting/script-load): shebang flags, allow-key-locking included,
    // are part of the source; the reply is the digest EVALSHA takes.
    const flagged = `#!lua flags=allow-key-locking\nreturn ARGV[1] .. "-${Date.now()}-loaded"`;
    const sha = createHash('sha1').update(flagged).digest('hex');
    expect(await redis.scriptExists(sha)).toEqual([0]);
    expect(await redis.scriptLoad(flagged)).toBe(sha);
    expect(await redis.scriptExists(sha, '0'.repeat(40))).toEqual([1, 0]);
    expect(await redis.evalsha(sha, [], ['x'])).toMatch(/^x-\d+-loaded$/);
    const batch = redis.pipeline();
    batch.scriptLoad(flagged);
    batch.scriptExists(sha);
    expect(await batch.exec()).toEqual([sha, [1]]);
    expect(await redis.multi().scriptLoad(flagged).exec()).toEqual([sha]);
    // A script without Upstash's flags is loaded as it is.
    const plain = `return "${Date.now()}-plain"`;
    expect(await redis.scriptLoad(plain)).toBe(createHash('sha1').update(plain).digest('hex'));
    // A script the flag is taken out of is refused as redis-server refuses the rest of it.
    await expect(redis.scriptLoad('#!lua flags=allow-key-locking,nope\nreturn 1')).rejects.toThrow(
      /Unexpected flag in script shebang: nope/,
    );
  });

  it('passes the flag to redis-server unchanged with upstashScriptFlags: false, as a plain Redis behind a REST proxy', async () => {
    const plain = await startUpstashEndpoint({
      redisPort: server.port,
      token: TOKEN,
      upstashScriptFlags: false,
    });
    try {
      const viaPlain = new Redis({ url: plain.url, token: TOKEN, retry: false, enableAutoPipelining: false });
      await expect(viaPlain.eval('#!lua flags=allow-key-locking\nreturn 1', [], [])).rejects.toThrow(
        /Unexpected flag in script shebang: allow-key-locking/,
      );
    } finally {
      await plain.stop();
    }
  });
});

describe('Upstash endpoint: subscribe over server-sent events', () => {
  async function numsub(channel: string): Promise<number> {
    const reply = await redis.exec<[string, number]>(['pubsub', 'numsub', channel]);
    return Number(reply[1]);
  }

  it('delivers published messages to an @upstash/redis subscriber', async () => {
    const subscriber = redis.subscribe<unknown>('sse:chan');
    const subscribed = new Promise<number>((resolve) => subscriber.on('subscribe', resolve));
    const messages: Array<{ channel: string; message: unknown }> = [];
    const received = new Promise<void>((resolve) => {
      subscriber.on('message', (event) => {
        messages.push(event);
        if (messages.length === 3) resolve();
      });
    });
    try {
      expect(await subscribed).toBe(1);
      expect(await redis.publish('sse:chan', 'hello ✓')).toBe(1);
      expect(await redis.publish('sse:chan', { kind: 'released', token: 7 })).toBe(1);
      expect(await redis.publish('sse:chan', 'a,b,c')).toBe(1);
      await received;
      expect(messages).toEqual([
        { channel: 'sse:chan', message: 'hello ✓' },
        { channel: 'sse:chan', message: { kind: 'released', token: 7 } },
        { channel: 'sse:chan', message: 'a,b,c' },
      ]);
    } finally {
      await subscriber.unsubscribe();
    }
  });

  it('closes the redis subscription when the client unsubscribes', async () => {
    const subscriber = redis.subscribe('sse:closing');
    await new Promise((resolve) => subscriber.on('subscribe', resolve));
    expect(await numsub('sse:closing')).toBe(1);
    await subscriber.unsubscribe();
    expect(await eventually(async () => (await numsub('sse:closing')) === 0)).toBe(true);
  });

  it('delivers pattern messages with psubscribe', async () => {
    // @upstash/redis JSON-parses pmessage payloads strictly, so publish JSON here.
    const subscriber = redis.psubscribe<{ n: number }>('sse:pat:*');
    await new Promise((resolve) => subscriber.on('psubscribe', resolve));
    const message = new Promise((resolve) => subscriber.on('pmessage', resolve));
    try {
      expect(await redis.publish('sse:pat:one', { n: 1 })).toBe(1);
      expect(await message).toEqual({ pattern: 'sse:pat:*', channel: 'sse:pat:one', message: { n: 1 } });
    } finally {
      await subscriber.unsubscribe();
    }
  });

  it('streams text/event-stream lines in the format the client parses', async () => {
    const controller = new AbortController();
    const response = await fetch(`${endpoint.url}/subscribe/sse:raw`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      body: '[]',
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('data: subscribe,sse:raw,1\n\n');
    await redis.publish('sse:raw', 'payload');
    await readUntil('data: message,sse:raw,payload\n\n');
    controller.abort();
    expect(await eventually(async () => (await numsub('sse:raw')) === 0)).toBe(true);
  });

  it('takes each /-separated path segment as a channel, percent-decoded (REST path semantics)', async () => {
    const controller = new AbortController();
    const response = await fetch(`${endpoint.url}/subscribe/sse:one/sse%3Atwo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      body: '[]',
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('data: subscribe,sse:two,2\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended before both subscriptions');
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toContain('data: subscribe,sse:one,1\n\n');
    expect(await numsub('sse:one/sse:two')).toBe(0);
    controller.abort();
    expect(await eventually(async () => (await numsub('sse:one')) === 0)).toBe(true);
  });

  it('rejects a subscription with a bad token', async () => {
    const response = await fetch(`${endpoint.url}/subscribe/sse:x`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope', accept: 'text/event-stream' },
    });
    expect(response.status).toBe(401);
    await response.text();
  });
});

describe('UpstashEndpoint.stop', () => {
  it('closes the port and open subscriptions', async () => {
    const own = await startUpstashEndpoint({ redisPort: server.port });
    expect(own.token.length).toBeGreaterThanOrEqual(20);
    const ownClient = new Redis({
      url: own.url,
      token: own.token,
      retry: false,
      enableAutoPipelining: false,
    });
    expect(await ownClient.ping()).toBe('PONG');
    const subscriber = ownClient.subscribe('stop:chan');
    await new Promise((resolve) => subscriber.on('subscribe', resolve));
    await own.stop();
    expect(await portAcceptsConnections(own.port)).toBe(false);
    const numsub = async () =>
      Number((await redis.exec<[string, number]>(['pubsub', 'numsub', 'stop:chan']))[1]);
    expect(await eventually(async () => (await numsub()) === 0)).toBe(true);
    await own.stop();
    await subscriber.unsubscribe();
  });

  it('recovers when redis-server restarts and answers 503 while it is down', async () => {
    const lonely = await startRedisServer();
    const own = await startUpstashEndpoint({ redisPort: lonely.port, token: TOKEN });
    const ownClient = new Redis({ url: own.url, token: TOKEN, retry: false, enableAutoPipelining: false });
    try {
      expect(await ownClient.set('k', 'v')).toBe('OK');
      await lonely.restart();
      // The pooled connection died with the old process; a fresh one is used and the data is gone.
      expect(await eventually(async () => (await ownClient.get('k').catch(() => 'error')) === null)).toBe(
        true,
      );
    } finally {
      await own.stop();
      await lonely.stop();
    }
    const down = await startUpstashEndpoint({ redisPort: lonely.port, token: TOKEN });
    try {
      const reply = await fetch(`${down.url}/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '["ping"]',
      });
      expect(reply.status).toBe(503);
      expect(await reply.json()).toEqual({ error: expect.stringMatching(/redis-server is not reachable/) });
    } finally {
      await down.stop();
    }
  });
});
