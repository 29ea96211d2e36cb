/**
 * The local endpoint against the Upstash REST API as documented, for what the Upstash store (and the
 * `@upstash/redis` client it uses) depends on, and for documented request options the endpoint must not
 * silently ignore. Sources:
 * - REST API: https://upstash.com/docs/redis/features/restapi (upstash/docs, redis/features/restapi.mdx)
 * - EVALSHA: https://upstash.com/docs/redis/commands/scripting/evalsha
 * - the client: node_modules/@upstash/redis (HttpClient.request, Subscriber.handleMessage) and
 *   upstash/redis-js pkg/commands/subscribe.test.ts, which runs against real Upstash.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  startRedisServer,
  startUpstashEndpoint,
  type UpstashEndpoint,
} from '../src/index.js';

const TOKEN = 'fidelity-test-token';

let server: RedisServer;
let endpoint: UpstashEndpoint;

beforeAll(async () => {
  server = await startRedisServer();
  endpoint = await startUpstashEndpoint({ redisPort: server.port, token: TOKEN });
});

afterAll(async () => {
  await endpoint?.stop();
  await server?.stop();
});

async function post(
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, ...headers },
    body,
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** Reads an event stream until `needle` has arrived; returns everything read. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, needle: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(needle)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${JSON.stringify(needle)}; got ${JSON.stringify(text)}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

describe('Upstash-Response-Format (restapi, "RESP2 Format Responses")', () => {
  const resp2 = { 'upstash-response-format': 'resp2' };

  it('answers resp2 with the raw RESP2 reply as application/octet-stream', async () => {
    await post('/', '["set","fmt:k","v"]');
    const cases: Array<[string, string]> = [
      ['["ping"]', '+PONG\r\n'],
      ['["get","fmt:k"]', '$1\r\nv\r\n'],
      ['["get","fmt:none"]', '$-1\r\n'],
      ['["incrby","fmt:n","5"]', ':5\r\n'],
      // The shape of the store's replies: an array of integers, every digit kept.
      [
        JSON.stringify(['eval', 'return {1, tonumber(ARGV[1])}', 0, '1700000000000000']),
        '*2\r\n:1\r\n:1700000000000000\r\n',
      ],
    ];
    for (const [body, expected] of cases) {
      const reply = await post('/', body, resp2);
      expect(reply.status, body).toBe(200);
      expect(reply.type, body).toBe('application/octet-stream');
      expect(reply.text, body).toBe(expected);
    }
  });

  it('answers a failed command in resp2 as a RESP2 error (with the 400 of a failed command)', async () => {
    const reply = await post('/', '["evalsha","0000000000000000000000000000000000000000","0"]', resp2);
    expect(reply.status).toBe(400);
    expect(reply.text).toMatch(/^-NOSCRIPT [^\r\n]*\r\n$/);
  });

  it('answers a resp2 /pipeline with the replies one after another', async () => {
    const reply = await post('/pipeline', '[["set","fmt:p","1"],["incr","fmt:p"],["nosuch"]]', resp2);
    expect(reply.status).toBe(200);
    expect(reply.text).toMatch(/^\+OK\r\n:2\r\n-ERR unknown command[^\r\n]*\r\n$/);
  });

  it('keeps JSON on /multi-exec ("not applicable to /multi-exec") and for an explicit json', async () => {
    const tx = await post('/multi-exec', '[["set","fmt:t","1"],["incr","fmt:t"]]', resp2);
    expect(tx.type).toBe('application/json');
    expect(JSON.parse(tx.text)).toEqual([{ result: 'OK' }, { result: 2 }]);
    const json = await post('/', '["ping"]', { 'upstash-response-format': 'json' });
    expect(JSON.parse(json.text)).toEqual({ result: 'PONG' });
  });

  it('refuses any other format, and resp2 with Upstash-Encoding: base64, with HTTP 400', async () => {
    const other = await post('/', '["ping"]', { 'upstash-response-format': 'xml' });
    expect(other.status).toBe(400);
    expect(JSON.parse(other.text)).toEqual({ error: expect.any(String) });
    const both = await post('/', '["ping"]', { ...resp2, 'upstash-encoding': 'base64' });
    expect(both.status).toBe(400);
    expect(JSON.parse(both.text)).toEqual({ error: expect.any(String) });
  });
});

describe('what the Upstash store relies on, as documented', () => {
  it('answers an unknown EVALSHA with HTTP 400 {"error":"NOSCRIPT ..."}: the store then sends EVAL', async () => {
    // restapi "HTTP Codes": 400 "when ... command execution fails", body {"error": ...};
    // evalsha.mdx: "When the script is not in the cache the server replies with a NOSCRIPT error".
    const reply = await post('/', '["evalsha","0000000000000000000000000000000000000000","0"]', {
      'upstash-encoding': 'base64',
    });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text)).toEqual({ error: expect.stringMatching(/^NOSCRIPT\b/) });
  });

  it('answers integer arrays as JSON numbers, never base64 strings, with Upstash-Encoding: base64', async () => {
    // restapi "Response": a result is null, an integer, a string or an array; with base64 "all
    // strings in the response will be base64 encoded" (integers are not strings). The store's replies
    // are integer arrays and @upstash/redis's decode() leaves numbers alone.
    const script = `#!lua flags=allow-key-locking\nreturn {0, redis.call('PTTL', KEYS[1]), tonumber(ARGV[1])}`;
    const reply = await post('/', JSON.stringify(['eval', script, '1', 'fid:{k}', '1700000000000123']), {
      'upstash-encoding': 'base64',
    });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('{"result":[0,-2,1700000000000123]}');
    // EVALSHA of the script as sent (shebang included) runs it: its SHA-1 is what the store sends.
    const sha = createHash('sha1').update(script).digest('hex');
    const again = await post('/', JSON.stringify(['evalsha', sha, '1', 'fid:{k}', '7']));
    expect(again.text).toBe('{"result":[0,-2,7]}');
  });

  it('streams subscription payloads as plain text even when the request asks for base64', async () => {
    // @upstash/redis sends `Upstash-Encoding: base64` on every request, the subscription's included,
    // and Subscriber.handleMessage never base64-decodes; redis-js's own subscribe tests (run against
    // real Upstash with that default) read the published text back as sent.
    const controller = new AbortController();
    const response = await fetch(`${endpoint.url}/subscribe/fid:plain`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        accept: 'text/event-stream',
        'upstash-encoding': 'base64',
      },
      body: '[]',
      signal: controller.signal,
    });
    try {
      expect(response.headers.get('content-type')).toBe('text/event-stream');
      const reader = response.body!.getReader();
      await readUntil(reader, 'data: subscribe,fid:plain,1\n');
      await post('/', '["publish","fid:plain","g0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33:1700000000000001"]');
      const text = await readUntil(reader, '1700000000000001');
      expect(text).toContain(
        'data: message,fid:plain,g0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33:1700000000000001\n',
      );
    } finally {
      controller.abort();
    }
  });

  it('subscribes to the channel a store names, {hash tag} included, as fetch percent-encodes it', async () => {
    // @upstash/redis joins the channel into the URL unencoded and fetch's URL parser turns `{` and
    // `}` into %7B and %7D. The endpoint percent-decodes path arguments; the Upstash docs never say
    // whether Upstash does (every documented channel is plain): see the audit report.
    const channel = 'leasehold:{fid~2Fk}:released';
    expect(new URL(`${endpoint.url}/subscribe/${channel}`).pathname).toBe(
      '/subscribe/leasehold:%7Bfid~2Fk%7D:released',
    );
    const controller = new AbortController();
    const response = await fetch(`${endpoint.url}/subscribe/${channel}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      body: '[]',
      signal: controller.signal,
    });
    try {
      const reader = response.body!.getReader();
      await readUntil(reader, `data: subscribe,${channel},1\n`);
      expect(await post('/', JSON.stringify(['publish', channel, '42']))).toMatchObject({
        text: '{"result":1}',
      });
      await readUntil(reader, `data: message,${channel},42\n`);
    } finally {
      controller.abort();
    }
  });
});
