// The README's "Errors" table, read at run time and proven row by row: every error name and text it
// lists is produced (for real on the local Upstash endpoint, its redis-server or the network where they
// can make it; otherwise as the HTTP answer Upstash or a gateway would send, from a tiny local server,
// so that @upstash/redis builds the error itself; or as a fetch failure shaped as undici's) and the
// store must reject with a StoreError of that row's kind and the documented `retryable`, showing no
// secret. The texts src/errors.ts classifies are compared with the table in both directions.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StoreError, type StoreErrorKind } from '@leasehold/core';
import { startUpstashEndpoint } from '@leasehold/local';
import { regexAlternatives } from '@leasehold/testkit';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstashKeyNames, upstashStore } from '../src/index.js';
import {
  expectNoSecrets,
  freshKey,
  rejection,
  type Services,
  secretTexts,
  sleep,
  startServices,
} from './support/services.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const SOURCE = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');

/** Recognisable secrets: the owner id and the REST token of the stores under test. */
const OWNER = 'feedc0defeedc0defeedc0defeedc0de';
const TOKEN = 'AXleaseholdRESTtokenMUSTnotSHOWdocumentedERRORkinds0';

// ---------------------------------------------------------------------------------------------------
// Reading the README.

const ERRORS_SECTION = README.slice(README.indexOf('\n## Errors\n')).split(/\n## (?!Errors\n)/)[0] ?? '';

/** "`retryable` is `true` for `unreachable`, `throttled` and `timeout`." → those kinds. */
const RETRYABLE_KINDS = new Set(
  [...(/`retryable` is `true` for ([^.]+)\./.exec(ERRORS_SECTION)?.[1] ?? '').matchAll(/`([\w-]+)`/g)].map(
    (m) => m[1],
  ),
);

interface Row {
  readonly kind: StoreErrorKind;
  /** The "what happened" cell, as written. */
  readonly happened: string;
  readonly names: readonly string[];
}

/**
 * The error names and texts a "what happened" cell lists. The rules, exactly as the table writes them:
 * 1. A backticked text is a name or a text of the error: `WRONGPASS`, `fetch failed`, `error code: 1016`.
 * 2. In a parenthesised list that holds a backticked name, a bare item of one word is a name too:
 *    401, forbidden, 429. An item with prose after its backticked name is that name: "`BUSY` running a
 *    long script" is `BUSY`. Other bare items are prose; "…" says the list goes on and is no name.
 * 3. `requestTimeoutMs` is the store's option and `fetch` the Web API, not error names: "no answer
 *    within `requestTimeoutMs`" and "`fetch` refused it as a header value" are conditions, as is all
 *    other prose (see CONDITIONS). (`fetch failed`, the error's text, is a name by rule 1.)
 */
function listedNames(cell: string): string[] {
  const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string); // rule 1
  for (const [, list] of cell.matchAll(/\(([^()]*`[^()]*)\)/g)) {
    for (const item of (list as string).split(',').map((s) => s.trim())) {
      if (/^[\w-]+$/.test(item)) names.push(item); // rule 2
    }
  }
  return names.filter((name) => name !== 'requestTimeoutMs' && name !== 'fetch'); // rule 3
}

function tableRows(): Row[] {
  const lines = ERRORS_SECTION.split('\n');
  const header = lines.findIndex((line) => /^\|\s*kind\s*\|\s*what happened\s*\|/.test(line));
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [kind = '', happened = ''] = line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
    rows.push({ kind: kind.replaceAll('`', '') as StoreErrorKind, happened, names: listedNames(happened) });
  }
  return rows;
}

const ROWS = tableRows();
const rowOf = (kind: StoreErrorKind) => ROWS.find((row) => row.kind === kind);

// ---------------------------------------------------------------------------------------------------
// Reading src/errors.ts: what each of its patterns matches, and the rules of its kind expression.

/** The kind each pattern of errors.ts leads to (read off its kind expression). */
const PATTERN_KINDS: Record<string, StoreErrorKind> = {
  CREDENTIALS: 'bad-credentials',
  THROTTLED: 'throttled',
  NETWORK: 'unreachable',
  DOWN: 'unreachable',
  REFUSED_FOR_NOW: 'unreachable',
  GATEWAY: 'unreachable',
};

/** The alternatives of a pattern, as patterns; spaces at either end go (a list names the word). */
const alternativesOf = (source: string): string[] =>
  regexAlternatives(source).map((alternative) => alternative.trim());

/** [pattern name, kind, alternative] for every alternative of every pattern constant of errors.ts. */
function implementedTexts(): [string, StoreErrorKind, string][] {
  const constants = [...SOURCE.matchAll(/^const (\w+) =\s*\/(.+)\/[a-z]*;$/gm)];
  expect(constants.map(([, name]) => name).sort()).toEqual(Object.keys(PATTERN_KINDS).sort());
  return constants.flatMap(([, name, pattern]) =>
    alternativesOf(pattern as string).map((alternative): [string, StoreErrorKind, string] => [
      name as string,
      PATTERN_KINDS[name as string] as StoreErrorKind,
      alternative,
    ]),
  );
}

/**
 * The rules of the kind expression besides the patterns: each must be in errors.ts as written here,
 * and be listed in (or covered by the prose of) the README row of its kind.
 */
const NAME_RULES: readonly [source: string, kind: StoreErrorKind, name: string][] = [
  ['/^(Abort|Timeout)Error$/.test(name)', 'timeout', 'AbortError'],
  ['/^(Abort|Timeout)Error$/.test(name)', 'timeout', 'TimeoutError'],
  ["name === 'UpstashJSONParseError' ||", 'bad-response', 'UpstashJSONParseError'],
  ['/did not return a result/i.test(detail)', 'bad-response', 'did not return a result'],
  ["name === 'TypeError'", 'unreachable', 'TypeError'],
  ['NETWORK.test(detail) || code)', 'unreachable', 'any system error code'],
];

/**
 * Implementation texts that are not listed word for word but that a row's prose states: the phrase
 * must be in the row of that kind. Anything not listed, nor here, is a doc gap.
 */
const PROSE: readonly [kind: StoreErrorKind, phrase: string, covers: RegExp][] = [
  [
    'bad-credentials',
    'the REST token was rejected',
    /^(unauthori\[sz\]ed|invalid (auth )?token|missing auth)$/,
  ],
  ['bad-credentials', '`fetch` refused it as a header value', /^(header value|ByteString)$/],
  [
    'throttled',
    'a rate or plan limit',
    /^(max (daily |monthly )?requests? limit|rate\.?limit|too many requests|throttl)$/,
  ],
  ['unreachable', 'connection refused or reset', /^(socket|terminated|other side closed|EPIPE)$/],
  [
    'unreachable',
    'DNS or network failure',
    /^(network|failed to fetch|load failed|ENOTFOUND|EAI_AGAIN|E(HOST|NET)UNREACH)$/,
  ],
  ['unreachable', "a gateway's error page", /^(service unavailable|gateway time-?out|upstream|50\[234\])$/],
  ['unreachable', 'not reachable or unavailable', /^(not reachable|unreachable|unavailable)$/],
  ['unreachable', '(`fetch failed`, `ECONNREFUSED`, …)', /^any system error code$/],
  ['unreachable', 'timed out (ETIMEDOUT)', /^ETIMEDOUT$/],
  ['unreachable', 'any TypeError that fetch throws', /^TypeError$/],
  ['bad-response', 'an unparsable body', /^UpstashJSONParseError$/],
  ['bad-response', 'no result', /^did not return a result$/],
];

/** True when the README states `text` under `kind`: listed (matched by it), or covered by PROSE. */
function documented(kind: StoreErrorKind, text: string): boolean {
  const row = rowOf(kind);
  if (row === undefined) return false;
  let listed = false;
  try {
    const pattern = new RegExp(`^${text}$`, 'i');
    listed = row.names.some((name) => pattern.test(name) || name.toLowerCase().includes(text.toLowerCase()));
    // A shorter alternative (`ECONN`, `error code: \d`) is listed when it starts a listed name.
    listed ||= row.names.some((name) => new RegExp(`^${text}`, 'i').test(name));
  } catch {
    listed = row.names.includes(text);
  }
  return (
    listed ||
    PROSE.some(([k, phrase, covers]) => k === kind && covers.test(text) && row.happened.includes(phrase))
  );
}

// ---------------------------------------------------------------------------------------------------
// Producing failures.

let services: Services;

/** An answer of the tiny server: an HTTP answer, or no answer at all, or a cut connection. */
type Answer = { status: number; body: string; type?: string } | 'hang' | 'cut';

/**
 * A tiny local HTTP server standing in for Upstash or a gateway in front of it: every request gets
 * `answer` (a body may use `{auth}`: the request's Authorization header, as a debugging proxy echoes).
 */
async function startAnswerServer() {
  let answer: Answer = 'hang';
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (answer === 'hang') return;
      if (answer === 'cut') {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' });
      res.end(answer.body.replaceAll('{auth}', String(req.headers.authorization)));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answer(next: Answer) {
      for (const socket of sockets) socket.destroy();
      answer = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let answers: Awaited<ReturnType<typeof startAnswerServer>>;

beforeAll(async () => {
  [services, answers] = await Promise.all([startServices(), startAnswerServer()]);
});
afterAll(async () => {
  await Promise.all([services?.stop(), answers?.close()]);
});

/** What an acquire of `key` by {@link OWNER} rejects with. */
const acquireFailure = (store: ReturnType<typeof upstashStore>, key = freshKey('documented')) =>
  rejection(store.acquire({ key, owner: OWNER, ttlMs: 1_000 }));

/** The tiny server answers `answer`; a store with {@link TOKEN} acquires from it. */
function answered(answer: Answer): Promise<unknown> {
  answers.answer(answer);
  return acquireFailure(upstashStore({ url: answers.url, token: TOKEN }));
}

/** An Upstash error answer: HTTP `status`, `{"error": text}`; @upstash/redis appends the command. */
const upstashAnswer = (text: string, status = 400): Answer => ({
  status,
  body: JSON.stringify({ error: text }),
});

/** A store over the real local endpoint and its redis-server. */
const realStore = () => upstashStore({ url: services.url, token: services.token });

/** Runs `commands` on the local redis-server, then the acquire, then `undo`. */
async function withRedisState(commands: string[][], undo: string[][]): Promise<unknown> {
  try {
    for (const command of commands) await services.admin.exec(command as [string, ...string[]]);
    return await acquireFailure(realStore());
  } finally {
    for (const command of undo) await services.admin.exec(command as [string, ...string[]]);
  }
}

/** The global fetch (which @upstash/redis uses) rejects as undici does when `cause` happened. */
async function fetchFails(cause: Error): Promise<unknown> {
  const original = globalThis.fetch;
  globalThis.fetch = () => Promise.reject(new TypeError('fetch failed', { cause }));
  try {
    return await acquireFailure(upstashStore({ url: 'https://documented-kinds.upstash.io', token: TOKEN }));
  } finally {
    globalThis.fetch = original;
  }
}

/** A client of your own whose `signal` ends every request after 50 ms, against a server that stalls. */
function signalled(signal: () => AbortSignal): Promise<unknown> {
  answers.answer('hang');
  const redis = new Redis({ url: answers.url, token: TOKEN, signal, retry: false });
  return acquireFailure(upstashStore({ redis }));
}

/** An acquire from a loopback port nothing listens on (fetch refuses port 1 itself: "bad port"). */
async function refused(): Promise<unknown> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
  return acquireFailure(upstashStore({ url, token: TOKEN }));
}

type Making = 'real' | 'answer' | 'synthetic';

/** How each listed name is produced. */
const PRODUCERS: Record<string, [Making, () => Promise<unknown>]> = {
  // unreachable
  'fetch failed': ['real', () => refused()],
  ECONNREFUSED: ['real', () => refused()],
  '502 Bad Gateway': [
    'answer',
    () =>
      answered({
        status: 502,
        type: 'text/html',
        body: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center><!-- {auth} --></body></html>',
      }),
  ],
  'error code: 1016': [
    'answer',
    () => answered({ status: 530, type: 'text/plain', body: 'error code: 1016' }),
  ],
  BUSY: [
    'real',
    async () => {
      // A script that runs for 800 ms, past a busy threshold of 50 ms: Redis answers BUSY meanwhile.
      await services.admin.exec(['CONFIG', 'SET', 'busy-reply-threshold', '50']);
      const busy = services.admin.eval(
        "local t=redis.call('TIME') local s=t[1]*1000000+t[2] while true do local n=redis.call('TIME') if n[1]*1000000+n[2]-s>800000 then break end end return 1",
        [],
        [],
      );
      try {
        await sleep(150);
        return await acquireFailure(realStore());
      } finally {
        await busy;
        await services.admin.exec(['CONFIG', 'SET', 'busy-reply-threshold', '5000']);
      }
    },
  ],
  LOADING: ['answer', () => answered(upstashAnswer('LOADING Redis is loading the dataset in memory'))],
  READONLY: [
    'real',
    // A replica of a master that is down: writes are refused.
    () => withRedisState([['REPLICAOF', '127.0.0.1', '1']], [['REPLICAOF', 'NO', 'ONE']]),
  ],
  // Not real here: a stale replica refuses the store's script with READONLY before MASTERDOWN.
  MASTERDOWN: [
    'answer',
    () =>
      answered(
        upstashAnswer("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
      ),
  ],
  CLUSTERDOWN: ['answer', () => answered(upstashAnswer('CLUSTERDOWN The cluster is down'))],
  TRYAGAIN: [
    'answer',
    () => answered(upstashAnswer('TRYAGAIN Multiple keys request during rehashing of slot')),
  ],
  // bad-credentials
  WRONGPASS: ['real', () => acquireFailure(upstashStore({ url: services.url, token: TOKEN }))],
  NOAUTH: ['answer', () => answered(upstashAnswer('NOAUTH Authentication required.', 401))],
  NOPERM: [
    'answer',
    () => answered(upstashAnswer("NOPERM this user has no permissions to run the 'evalsha' command")),
  ],
  401: ['answer', () => answered({ status: 401, type: 'text/plain', body: '401 Unauthorized' })],
  forbidden: ['answer', () => answered({ status: 403, type: 'text/html', body: '<h1>Forbidden</h1>' })],
  // throttled
  'max requests limit': [
    'answer',
    () => answered(upstashAnswer('ERR max requests limit exceeded. Limit: 10000, Usage: 10000', 429)),
  ],
  'max concurrent connections': [
    'answer',
    () => answered(upstashAnswer('ERR max concurrent connections exceeded. Limit: 100', 429)),
  ],
  429: ['answer', () => answered({ status: 429, type: 'text/plain', body: '429 Too Many Requests' })],
  // timeout
  AbortError: [
    'real',
    () =>
      signalled(() => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 50);
        return controller.signal;
      }),
  ],
  TimeoutError: ['real', () => signalled(() => AbortSignal.timeout(50))],
  // bad-response
  'unexpected reply': ['answer', () => answered({ status: 200, body: JSON.stringify({ result: 'OK' }) })],
  // unknown
  WRONGTYPE: [
    'real',
    async () => {
      const key = freshKey('wrongtype');
      // The lock key written as a hash by something else.
      await services.admin.hset(upstashKeyNames(key).lock, { f: '1' });
      return acquireFailure(realStore(), key);
    },
  ],
};

/** Statuses listed on their own: the same status with no body text that names it. */
const BARE_STATUS: Record<string, Answer> = {
  401: { status: 401, body: '' },
  429: { status: 429, body: '' },
};

/** Conditions the table states in prose (no name): each must be in the row of its kind. */
const CONDITIONS: readonly {
  kind: StoreErrorKind;
  phrase: string;
  making: Making;
  produce: () => Promise<unknown>;
}[] = [
  {
    kind: 'unreachable',
    phrase: 'connection refused or reset',
    making: 'real',
    // The server cuts the connection without answering (the client's retries included).
    produce: () => answered('cut'),
  },
  {
    kind: 'unreachable',
    phrase: 'DNS or network failure',
    making: 'synthetic',
    produce: () =>
      fetchFails(
        Object.assign(new Error(`getaddrinfo ENOTFOUND documented-kinds.upstash.io (${OWNER})`), {
          code: 'ENOTFOUND',
          errno: -3008,
          syscall: 'getaddrinfo',
          hostname: 'documented-kinds.upstash.io',
        }),
      ),
  },
  {
    kind: 'unreachable',
    phrase: 'the REST server answering that the database is not reachable or unavailable',
    making: 'real',
    // The local Upstash endpoint in front of a redis-server that is not there.
    produce: async () => {
      const endpoint = await startUpstashEndpoint({ redisPort: 1, token: TOKEN });
      try {
        return await acquireFailure(upstashStore({ url: endpoint.url, token: TOKEN }));
      } finally {
        await endpoint.stop();
      }
    },
  },
  {
    kind: 'bad-credentials',
    phrase: '`fetch` refused it as a header value',
    making: 'real',
    // A client of your own (the store's options refuse such a token before anything is sent).
    produce: () =>
      acquireFailure(
        upstashStore({ redis: new Redis({ url: services.url, token: `${TOKEN}\n${OWNER}`, retry: false }) }),
      ),
  },
  {
    kind: 'timeout',
    phrase: 'no answer within `requestTimeoutMs`',
    making: 'real',
    produce: () => {
      answers.answer('hang');
      return acquireFailure(upstashStore({ url: answers.url, token: TOKEN, requestTimeoutMs: 100 }));
    },
  },
  {
    kind: 'bad-response',
    phrase: 'an unparsable body (an ordinary web page too',
    making: 'answer',
    produce: () =>
      answered({
        status: 200,
        type: 'text/html',
        body: '<!doctype html><html><head><title>Welcome</title></head><body>It works! {auth}</body></html>',
      }),
  },
  {
    kind: 'bad-response',
    phrase: 'no result',
    making: 'answer',
    produce: () => answered({ status: 200, body: '{}' }),
  },
  {
    kind: 'bad-response',
    phrase: 'a script reply of the wrong shape',
    making: 'answer',
    produce: () => answered({ status: 200, body: JSON.stringify({ result: [7, 7, 7, 7] }) }),
  },
  {
    kind: 'unknown',
    phrase: 'any other Redis error',
    making: 'answer',
    produce: () => answered(upstashAnswer('ERR value is not an integer or out of range')),
  },
];

function expectDocumented(err: unknown, kind: StoreErrorKind, ...secrets: string[]): StoreError {
  expect(err).toBeInstanceOf(StoreError);
  const e = err as StoreError;
  expect({ kind: e.kind, store: e.store, code: e.code }, e.message).toEqual({
    kind,
    store: 'upstash',
    code: 'STORE_ERROR',
  });
  expect(e.retryable).toBe(RETRYABLE_KINDS.has(kind));
  expect(e.message).toMatch(new RegExp(`^upstash: acquire of "[^"]+" failed: ${kind} \\(.+\\)$`, 's'));
  expectNoSecrets(err, secretTexts(OWNER, TOKEN, services.token, ...secrets));
  return e;
}

// ---------------------------------------------------------------------------------------------------

describe('the README Errors table', () => {
  it('is found with a row per kind this store raises, a retryable set, and names or known conditions in each row', () => {
    expect(ROWS.map((row) => row.kind).sort()).toEqual(
      ['bad-credentials', 'bad-response', 'throttled', 'timeout', 'unknown', 'unreachable'].sort(),
    );
    expect([...RETRYABLE_KINDS].sort()).toEqual(['throttled', 'timeout', 'unreachable']);
    for (const { kind, phrase } of CONDITIONS) expect(rowOf(kind)?.happened, kind).toContain(phrase);
    for (const row of ROWS) expect(row.names.length, row.kind).toBeGreaterThan(0);
  });

  it('states every text errors.ts classifies, under the kind it gets', () => {
    const undocumented = implementedTexts()
      .filter(([, kind, text]) => !documented(kind, text))
      .map(([pattern, kind, text]) => `${pattern}: /${text}/ → ${kind}`);
    expect(undocumented).toEqual([]);
  });

  it('states every rule of the kind expression of errors.ts, under the kind it gives', () => {
    const rules = NAME_RULES.filter(([source]) => SOURCE.includes(source));
    expect(rules).toEqual(NAME_RULES);
    const undocumented = rules
      .filter(([, kind, name]) => !documented(kind, name))
      .map(([source, kind, name]) => `${name} (${source}) → ${kind}`);
    expect(undocumented).toEqual([]);
  });

  it('lists no name that errors.ts leaves to another kind', () => {
    // Every listed name must be matched by a pattern or rule of its own kind, or be the store's own text.
    const implemented = [
      ...implementedTexts().map(([, kind, text]) => [kind, text] as const),
      ...NAME_RULES.map(([, kind, name]) => [kind, name] as const),
    ];
    const unmatched = ROWS.flatMap((row) =>
      row.names
        .filter((name) => name !== 'unexpected reply' && name !== 'WRONGTYPE') // the store's own text; the fallback
        .filter(
          (name) =>
            !implemented.some(
              ([kind, text]) => kind === row.kind && new RegExp(`\\b${text}`, 'i').test(name),
            ),
        )
        .map((name) => `${name} → ${row.kind}`),
    );
    expect(unmatched).toEqual([]);
  });
});

const CASES = ROWS.flatMap((row) =>
  row.names.map((name) => ({ name, kind: row.kind, making: PRODUCERS[name]?.[0] ?? 'none' })),
);

describe('every listed name makes the store reject with its row kind and retryable flag, no secret shown', () => {
  it.each(CASES)('$name ($making) → $kind', async ({ name, kind }) => {
    const producer = PRODUCERS[name];
    expect(producer, `no failure made for ${name}`).toBeDefined();
    const e = expectDocumented(await producer?.[1](), kind);
    // The name is in the message, where the failure carries it as text.
    if (!/^(AbortError|TimeoutError|forbidden)$/.test(name))
      expect(e.message.toLowerCase()).toContain(name.toLowerCase());
  });

  it.each(Object.entries(BARE_STATUS))(
    'HTTP %s with no text naming it (answer) → bad-response: @upstash/redis does not pass the status on',
    async (status, answer) => {
      expect(ROWS.find((r) => r.names.includes(status))?.happened).toContain("in the answer's text");
      expect(rowOf('bad-response')?.happened).toContain('an error status with an empty body');
      expectDocumented(await answered(answer), 'bad-response');
    },
  );
});

describe('every condition the table states in prose makes the store reject as documented', () => {
  it.each(CONDITIONS)('$phrase ($making) → $kind', async ({ kind, produce }) => {
    expectDocumented(await produce(), kind);
  });
});
