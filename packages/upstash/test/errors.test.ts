import { createServer, type Socket } from 'node:net';
import { InvalidArgumentError, isLeaseholdError, StoreError } from '@leasehold/core';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UpstashRedisClient, upstashKeyNames, upstashStore } from '../src/index.js';
import { SCRIPT } from '../src/scripts.js';
import {
  expectNoSecrets,
  freshKey,
  freshOwner,
  rejection,
  type Services,
  secretTexts,
  startServices,
} from './support/services.js';

let services: Services;
beforeAll(async () => {
  services = await startServices();
});
afterAll(async () => {
  await services?.stop();
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('store errors against the real endpoint', () => {
  it('reports a rejected token as bad-credentials without leaking the token, owner or script', async () => {
    const token = `wrong-token-${freshOwner()}`;
    const owner = freshOwner();
    const store = upstashStore({ url: services.url, token });
    const err = await rejection(store.acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toBeInstanceOf(StoreError);
    expect(isLeaseholdError(err, 'STORE_ERROR')).toBe(true);
    expect(err).toMatchObject({ kind: 'bad-credentials', store: 'upstash', retryable: false });
    // Which operation, which key, the kind and the scrubbed cause (what to check: the README's Errors table).
    expect((err as Error).message).toMatch(
      /^upstash: acquire of "test:k:[^"]+" failed: bad-credentials \(.+\)$/,
    );
    expectNoSecrets(err, secretTexts(token, services.token, owner));
  });

  it('reports the same for a user Redis instance with a bad token, for every operation', async () => {
    const token = `wrong-token-${freshOwner()}`;
    const owner = freshOwner();
    const store = upstashStore({ redis: new Redis({ url: services.url, token }) });
    const key = freshKey();
    const errors = [
      await rejection(store.acquire({ key, owner, ttlMs: 1_000 })),
      await rejection(store.extend({ key, owner, token: 7, ttlMs: 1_000 })),
      await rejection(store.release({ key, owner, token: 7 })),
      await rejection(store.inspect(key)),
    ];
    for (const err of errors) {
      expect(err).toMatchObject({ kind: 'bad-credentials' });
      expectNoSecrets(err, secretTexts(token, owner));
    }
  });

  // A token with a control or non-Latin-1 character inside (pasted over two lines, a stray byte from
  // a secrets file): fetch refuses the Authorization header and its TypeError quotes the whole header
  // value. The store does not know a user client's token, so the text itself must be cut. Nothing was
  // sent: the token is at fault (not retryable), the database was never "unreachable".
  it.each(['\n', '\r', '\u0000', '\u2028'])(
    'never echoes a user client token that fetch refuses as a header value (%j inside), and calls it bad-credentials',
    async (char) => {
      const token = `tok-${freshOwner()}${char}${freshOwner()}`;
      const owner = freshOwner();
      const redis = new Redis({ url: services.url, token, retry: false, enableAutoPipelining: false });
      const err = await rejection(upstashStore({ redis }).acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
      expect(err).toMatchObject({ kind: 'bad-credentials', retryable: false });
      expectNoSecrets(err, secretTexts(...token.split(char), owner));
    },
  );

  it('reports a closed port as unreachable and retryable', async () => {
    const owner = freshOwner();
    const token = `token-${freshOwner()}`;
    const store = upstashStore({ url: `http://127.0.0.1:${await closedPort()}`, token });
    const err = await rejection(store.acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind: 'unreachable', retryable: true });
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expectNoSecrets(err, secretTexts(token, owner));
  });

  it('scrubs a Redis error raised by EVALSHA and by the EVAL fallback (which carry owner and script)', async () => {
    const key = freshKey();
    const owner = freshOwner();
    // A lock key of the wrong type makes the script fail with WRONGTYPE.
    await services.admin.hset(upstashKeyNames(key).lock, { f: '1' });

    // The raw client error really holds the owner and the script: the threat the scrubbing removes.
    const names = Object.values(upstashKeyNames(key)).slice(0, 4); // an acquire
    const raw = await rejection(services.admin.eval(SCRIPT, names, [owner, '1000', '1', '0', '1']));
    expect(String((raw as Error).message)).toContain(owner);
    expect(String((raw as Error).message)).toContain('redis.call');

    const store = upstashStore({ url: services.url, token: services.token });
    const viaEvalsha = await rejection(store.acquire({ key, owner, ttlMs: 1_000 }));
    expect(viaEvalsha).toMatchObject({ kind: 'unknown', retryable: false });
    expect((viaEvalsha as Error).message).toContain('WRONGTYPE');
    expectNoSecrets(viaEvalsha, secretTexts(owner, services.token));

    await services.admin.scriptFlush();
    const viaEval = await rejection(store.acquire({ key, owner, ttlMs: 1_000 }));
    expect(viaEval).toMatchObject({ kind: 'unknown' });
    expect((viaEval as Error).message).toContain('WRONGTYPE');
    expectNoSecrets(viaEval, secretTexts(owner, services.token));
  });
});

/** A client double that fails every script call with `err` (errors Upstash sends that a local server cannot). */
function failingClient(err: unknown): UpstashRedisClient {
  const fail = () => Promise.reject(err);
  return {
    evalsha: fail,
    eval: fail,
    get: fail,
    subscribe: () => undefined,
  } as unknown as UpstashRedisClient;
}

function upstashError(message: string, name = 'UpstashError'): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** A client double that answers every script call with `reply`. */
function replyingClient(reply: unknown): UpstashRedisClient {
  const answer = () => Promise.resolve(reply);
  return {
    evalsha: answer,
    eval: answer,
    get: answer,
    subscribe: () => undefined,
  } as unknown as UpstashRedisClient;
}

describe('error classification', () => {
  const owner = freshOwner();
  const command = (c: string) =>
    `, command was: ["evalsha","abc",2,"leasehold:{k}","leasehold:{k}:fence","${owner}","${c}"]`;
  const cases: [string, unknown, string][] = [
    [
      'an Upstash request limit',
      upstashError(`ERR max requests limit exceeded. Limit: 10000, Usage: 10000${command('1')}`),
      'throttled',
    ],
    [
      'an Upstash daily limit',
      upstashError('Command failed: ERR max daily request limit exceeded'),
      'throttled',
    ],
    ['HTTP 429 text', upstashError(`Too Many Requests${command('2')}`), 'throttled'],
    ['WRONGPASS', upstashError(`WRONGPASS invalid or missing auth token${command('3')}`), 'bad-credentials'],
    [
      'a read-only token (NOPERM)',
      upstashError(`NOPERM this user has no permissions to run the 'evalsha' command${command('4')}`),
      'bad-credentials',
    ],
    [
      "a gateway's error page",
      upstashError('Unable to parse response body: <html>502 Bad Gateway</html>', 'UpstashJSONParseError'),
      'unreachable',
    ],
    [
      "a CDN's error code",
      upstashError('Unable to parse response body: error code: 1016', 'UpstashJSONParseError'),
      'unreachable',
    ],
    [
      'an unparsable answer',
      upstashError('Unable to parse response body: {"resu', 'UpstashJSONParseError'),
      'bad-response',
    ],
    [
      'an ordinary web page (a URL that is not the REST URL)',
      upstashError(
        'Unable to parse response body: <!doctype html><html><title>Welcome</title>',
        'UpstashJSONParseError',
      ),
      'bad-response',
    ],
    [
      'a fetch failure',
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
      }),
      'unreachable',
    ],
    ['an edge network failure', new TypeError('Network connection lost.'), 'unreachable'],
    [
      'a DNS failure',
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('getaddrinfo ENOTFOUND x.upstash.io'), { code: 'ENOTFOUND' }),
      }),
      'unreachable',
    ],
    [
      'an aborted request',
      Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }),
      'timeout',
    ],
    ['a missing result', new TypeError('Request did not return a result'), 'bad-response'],
    [
      'a server busy running a long script',
      upstashError(
        `BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.${command('6')}`,
      ),
      'unreachable',
    ],
    [
      'a server loading its data',
      upstashError(`LOADING Redis is loading the dataset in memory${command('7')}`),
      'unreachable',
    ],
    [
      'a replica after a failover',
      upstashError(`READONLY You can't write against a read only replica.${command('8')}`),
      'unreachable',
    ],
    ['any other Redis error', upstashError(`ERR something odd${command('5')}`), 'unknown'],
    [
      'a wrong type',
      upstashError(`WRONGTYPE Operation against a key holding the wrong kind of value${command('9')}`),
      'unknown',
    ],
  ];

  it.each(cases)('maps %s to its kind, with no owner or command in the error', async (_name, raw, kind) => {
    const store = upstashStore({ redis: failingClient(raw) });
    const err = await rejection(store.acquire({ key: 'k', owner, ttlMs: 1_000 }));
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind, store: 'upstash' });
    expect((err as StoreError).retryable).toBe(
      kind === 'throttled' || kind === 'unreachable' || kind === 'timeout',
    );
    expect(String(err)).not.toContain('command was');
    expectNoSecrets(err, secretTexts(owner));
  });

  it.each([
    ['a string', 'OK'],
    ['null', null],
    ['a wrong-length array', [1]],
    ['a non-integer token', [1, 1.5]],
    ['a zero token', [1, 0]],
    ['text in the array', [1, 'abc']],
    ['a nested array', [1, [5]]],
    ['a token past 2^53', [1, '9007199254740993']],
    ['a held answer without the fence', [0, 100]],
    ['a held answer with an extra item', [0, 100, 5, 1]],
    ['a token in exponent notation', [1, '1e3']],
    ['a token with a leading zero', [1, '012']],
    ['a token with a space', [1, ' 12']],
    ['an unknown verdict', [2, 5]],
  ])('reports %s as a bad-response to acquire', async (_name, reply) => {
    const store = upstashStore({ redis: replyingClient(reply) });
    const err = await rejection(store.acquire({ key: 'k', owner, ttlMs: 1_000 }));
    expect(err).toMatchObject({ kind: 'bad-response' });
    // The reply is not echoed.
    expect((err as Error).message).toBe('upstash: acquire of "k" failed: bad-response (unexpected reply)');
  });

  it('accepts integer replies given as numeric strings', async () => {
    const store = upstashStore({ redis: replyingClient(['1', '1763769600000001']) });
    expect(await store.acquire({ key: 'k', owner, ttlMs: 1_000 })).toEqual({
      acquired: true,
      token: 1763769600000001,
    });
  });

  it('accepts a held answer given as numeric strings', async () => {
    const store = upstashStore({ redis: replyingClient(['0', '1500', '-1']) });
    expect(await store.acquire({ key: 'k', owner, ttlMs: 1_000 })).toEqual({
      acquired: false,
      holderRemainingMs: 1500,
    });
  });

  it('reports a non-flag reply to extend and release as bad-response', async () => {
    const store = upstashStore({ redis: replyingClient(2) });
    expect(await rejection(store.extend({ key: 'k', owner, token: 1, ttlMs: 1_000 }))).toMatchObject({
      kind: 'bad-response',
    });
    expect(await rejection(store.release({ key: 'k', owner, token: 1 }))).toMatchObject({
      kind: 'bad-response',
    });
  });
});

describe('option and argument validation', () => {
  const secret = `tok-${freshOwner()}`;
  const invalid: [string, unknown, string][] = [
    ['no options', undefined, 'options'],
    ['neither redis nor url', {}, 'url'],
    ['an empty url', { url: '', token: secret }, 'url'],
    ['a redis:// url', { url: `redis://default:${secret}@x.upstash.io:6379`, token: secret }, 'url'],
    ['an unparsable url', { url: `not a url ${secret}`, token: secret }, 'url'],
    ['a missing token', { url: 'https://x.upstash.io' }, 'token'],
    ['an empty token', { url: 'https://x.upstash.io', token: '' }, 'token'],
    ['a token with a line break', { url: 'https://x.upstash.io', token: `${secret}\n` }, 'token'],
    ['both redis and url', { redis: {}, url: 'https://x.upstash.io', token: secret }, 'options'],
    ['a redis that is not a client', { redis: { get: () => 1 } }, 'redis'],
    ['a non-string prefix', { url: 'https://x.upstash.io', token: secret, prefix: 1 }, 'prefix'],
    ['a prefix with a slash', { url: 'https://x.upstash.io', token: secret, prefix: 'tenant/a:' }, 'prefix'],
    ['a prefix with a comma', { url: 'https://x.upstash.io', token: secret, prefix: 'a,b:' }, 'prefix'],
  ];

  it.each(invalid)(
    'rejects %s with InvalidArgumentError and never echoes the token',
    (_name, options, argument) => {
      let thrown: unknown;
      try {
        upstashStore(options as never);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect(thrown).toMatchObject({ argument, code: 'INVALID_ARGUMENT' });
      expectNoSecrets(thrown, [secret]);
    },
  );

  it('accepts a prefix of letters, digits and _ . : @ = -, and an empty one', () => {
    for (const prefix of ['myapp:locks:', 'tenant-a.eu_1@v=2:', '']) {
      expect(upstashStore({ url: 'https://x.upstash.io', token: secret, prefix }).prefix).toBe(prefix);
    }
  });

  it('accepts http and https URLs', () => {
    expect(upstashStore({ url: 'https://x.upstash.io', token: secret }).name).toBe('upstash');
    expect(upstashStore({ url: 'http://127.0.0.1:8079', token: secret }).name).toBe('upstash');
  });
});

describe('requestTimeoutMs', () => {
  it('bounds a call the network swallows: a retryable StoreError of kind timeout, for every operation', async () => {
    // Accepts connections and never answers: a network black hole.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const owner = freshOwner();
    const key = freshKey();
    try {
      const store = upstashStore({ url: `http://127.0.0.1:${port}`, token: 't', requestTimeoutMs: 200 });
      const started = performance.now();
      const errors = await Promise.all([
        rejection(store.acquire({ key, owner, ttlMs: 1_000 })),
        rejection(store.extend({ key, owner, token: 7, ttlMs: 1_000 })),
        rejection(store.release({ key, owner, token: 7 })),
        rejection(store.inspect(key)),
      ]);
      expect(performance.now() - started).toBeLessThan(3_000);
      for (const err of errors) {
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ kind: 'timeout', retryable: true });
        expectNoSecrets(err, secretTexts(owner));
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('changes nothing for calls answered in time, with a client of your own too', async () => {
    const key = freshKey();
    const owner = freshOwner();
    for (const store of [
      upstashStore({ url: services.url, token: services.token, requestTimeoutMs: 5_000 }),
      upstashStore({
        redis: new Redis({ url: services.url, token: services.token }),
        requestTimeoutMs: 5_000,
      }),
    ]) {
      const granted = await store.acquire({ key, owner, ttlMs: 5_000 });
      expect(granted.acquired).toBe(true);
      if (!granted.acquired) return;
      expect(await store.extend({ key, owner, ttlMs: 5_000, token: granted.token })).toBe(true);
      expect(await store.release({ key, owner, token: granted.token })).toBe(true);
    }
  });

  it.each([0, -1, 1.5, 2 ** 31, '100', null])('refuses %s', (requestTimeoutMs) => {
    expect(() =>
      upstashStore({
        url: services.url,
        token: services.token,
        requestTimeoutMs: requestTimeoutMs as number,
      }),
    ).toThrow(expect.objectContaining({ argument: 'requestTimeoutMs' }));
    expect(() =>
      upstashStore({
        url: services.url,
        token: services.token,
        requestTimeoutMs: requestTimeoutMs as number,
      }),
    ).toThrow(InvalidArgumentError);
  });
});

/** A token with a quote and a control character in it: fetch refuses it before sending anything. */
const quotedToken = () => `tok${freshOwner()}"${freshOwner()}\u0000${freshOwner()}`;
/** The parts of the token long enough to identify it: none may appear in an error. */
const parts = (token: string) =>
  token
    .split('"')
    .flatMap((part) => part.split('\u0000'))
    .filter((part) => part.length > 3);

describe('a REST token fetch refuses, with a quote in it (quoted whole in its TypeError)', () => {
  it('never echoes any part of a user client token with a quote in it that fetch refuses', async () => {
    const token = quotedToken();
    const owner = freshOwner();
    const redis = new Redis({ url: services.url, token, retry: false, enableAutoPipelining: false });
    const err = await rejection(upstashStore({ redis }).acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toMatchObject({ kind: 'bad-credentials', retryable: false });
    expectNoSecrets(err, secretTexts(...parts(token), owner));
  });

  it('never echoes any part of a { url, token } token with a quote in it that fetch refuses', async () => {
    const token = quotedToken();
    const owner = freshOwner();
    const store = upstashStore({ url: services.url, token });
    const err = await rejection(store.acquire({ key: freshKey(), owner, ttlMs: 1_000 }));
    expect(err).toMatchObject({ kind: 'bad-credentials', retryable: false });
    expectNoSecrets(err, secretTexts(token, ...parts(token), owner));
  });
});
