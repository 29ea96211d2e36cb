// The README's "Errors" table, read at run time and proven row by row: every error name and code it
// lists is produced (for real where DynamoDB Local or the network stack can make it, as a wire answer
// of the fault proxy parsed by the real SDK for AWS error names, or injected into the real Node HTTP
// stack for the rest) and the store must reject with a StoreError of that row's kind, the documented
// `retryable`, the row's hint, and no secret anywhere. The names errors.ts classifies are compared
// with the table in both directions.
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { inspect } from 'node:util';
import { StoreError, type StoreErrorKind } from '@leasehold/core';
import { regexAlternatives } from '@leasehold/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbStore } from '../src/index.js';
import { dynamoDbLocal, freshResourceTable, localClient } from './support/dynamo.js';
import { closedPort, type Fault, type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const SOURCE = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');

/** Recognisable secrets: the owner id (a value the store sends) and a session token of the client. */
const OWNER = 'feedc0defeedc0defeedc0defeedc0de';
const SESSION_TOKEN = 'IQoJLEASEHOLDxSESSIONxTOKENxMUSTxNEVERxSHOW/+==';

// ---------------------------------------------------------------------------------------------------
// Reading the README.

/** The "Errors" section's text up to the next heading. */
const ERRORS_SECTION = README.slice(README.indexOf('\n## Errors\n')).split(/\n## (?!Errors\n)/)[0] ?? '';

/** "`retryable` is true for `throttled`, `timeout` and `unreachable`." → those kinds. */
const RETRYABLE_KINDS = new Set(
  [...(/`retryable` is true for ([^.]+)\./.exec(ERRORS_SECTION)?.[1] ?? '').matchAll(/`([\w-]+)`/g)].map(
    (m) => m[1],
  ),
);

interface Row {
  readonly kind: StoreErrorKind;
  /** The "Raised for" cell, as written. */
  readonly raisedFor: string;
  /** The hint a row quotes as `(hint "…")`: the message must carry it. */
  readonly hint: string | undefined;
  /** The names the cell lists, expanded by {@link listedNames}. */
  readonly names: readonly string[];
}

/**
 * The names a "Raised for" cell lists. The expansion rules, exactly as the table writes them:
 * 1. A backticked word is an error name or a system code: `ECONNRESET`, `ValidationException`.
 * 2. `Name(Exception)` stands for `Name` and `NameException`.
 * 3. "(each with or without `Exception`)" applies to every name before it in the cell: `Throttling`
 *    stands for `Throttling` and `ThrottlingException`. The backticked `Exception` in it is no name.
 * 4. "an HTTP 5xx answer" is the pseudo-name `HTTP 5xx` (errors.ts writes a 5xx status as `HTTP 5\d\d`).
 * 5. `requestTimeoutMs` is the store's option, not an error name: "the store's `requestTimeoutMs` ran
 *    out" is a condition, as is all other prose (see CONDITIONS).
 */
function listedNames(cell: string): string[] {
  const names: string[] = [];
  for (const m of cell.matchAll(
    /`(\w+)(\(Exception\))?`|\(each with or without `Exception`\)|an HTTP 5xx answer/g,
  )) {
    const [text, name, optionalSuffix] = m;
    if (text.startsWith('(each')) {
      names.splice(0, names.length, ...names.flatMap((n) => [n, `${n}Exception`])); // rule 3
    } else if (text === 'an HTTP 5xx answer') {
      names.push('HTTP 5xx'); // rule 4
    } else if (name !== undefined && name !== 'requestTimeoutMs') {
      names.push(name, ...(optionalSuffix ? [`${name}Exception`] : [])); // rules 1, 2 (5: skipped)
    }
  }
  return names;
}

function tableRows(): Row[] {
  const lines = ERRORS_SECTION.split('\n');
  const header = lines.findIndex((line) => /^\|\s*Kind\s*\|\s*Raised for\s*\|/.test(line));
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [kind = '', raisedFor = ''] = line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
    rows.push({
      kind: kind.replaceAll('`', '') as StoreErrorKind,
      raisedFor,
      hint: /\(hint "([^"]+)"\)/.exec(raisedFor)?.[1],
      names: listedNames(raisedFor),
    });
  }
  return rows;
}

const ROWS = tableRows();

/** Conditions the table states in prose (no error name): each must be in the cell of its kind. */
const CONDITIONS: readonly { kind: StoreErrorKind; phrase: string; hint?: string }[] = [
  { kind: 'timeout', phrase: "the store's `requestTimeoutMs` ran out" },
  { kind: 'throttled', phrase: 'any error the SDK flags as throttling' },
  { kind: 'bad-response', phrase: 'an acquire answered without a fence' },
  { kind: 'unknown', phrase: 'anything else', hint: 'unexpected error' },
];

// ---------------------------------------------------------------------------------------------------
// Reading errors.ts: the names its KINDS table classifies.

/**
 * Every string a KINDS pattern of errors.ts matches; `\d` is written `x`, as the README writes `HTTP 5xx`.
 */
const matchedStrings = (source: string): string[] => regexAlternatives(source, (c) => (c === 'd' ? 'x' : c));

/** [kind, hint, name] for every name the KINDS table of errors.ts matches, in its order. */
function implementedNames(): [StoreErrorKind, string, string][] {
  const block = SOURCE.slice(
    SOURCE.indexOf('const KINDS'),
    SOURCE.indexOf('];', SOURCE.indexOf('const KINDS')),
  );
  const entries = [...block.matchAll(/'([a-z-]+)',\s*'([^']*)',\s*\/((?:[^/\\\n]|\\.)+)\/[a-z]*/g)];
  expect(entries.length).toBeGreaterThan(0);
  return entries.flatMap(([, kind, hint, pattern]) =>
    matchedStrings(pattern as string).map((name): [StoreErrorKind, string, string] => [
      kind as StoreErrorKind,
      hint as string,
      name,
    ]),
  );
}

// ---------------------------------------------------------------------------------------------------
// Producing failures.

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(dynamoDbLocal().endpoint);
});
afterAll(() => proxy.close());

/** What an acquire by {@link OWNER} through `client` on `tableName` rejects with (it must reject). */
async function acquireFailure(
  client: ReturnType<typeof localClient>,
  tableName = 'leasehold-locks',
  requestTimeoutMs?: number,
): Promise<unknown> {
  try {
    const store = dynamoDbStore({ client, tableName, ...(requestTimeoutMs && { requestTimeoutMs }) });
    const result = await store.acquire({ key: 'documented:k', owner: OWNER, ttlMs: 1_000 });
    throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  } catch (err) {
    return err;
  } finally {
    client.destroy();
  }
}

/** A client through the fault proxy, with a session token, that does not retry. */
const proxiedClient = (extra: Parameters<typeof localClient>[0] = {}) =>
  localClient({
    endpoint: proxy.endpoint,
    maxAttempts: 1,
    credentials: { ...dynamoDbLocal().credentials, sessionToken: SESSION_TOKEN },
    ...extra,
  });

/** The proxy answers the next request with `fault`; resolves what the acquire rejects with. */
async function viaProxy(fault: Fault, extra: Parameters<typeof localClient>[0] = {}): Promise<unknown> {
  proxy.reset();
  proxy.inject(fault);
  return acquireFailure(proxiedClient(extra));
}

/**
 * The answer DynamoDB gives for an AWS error `name` (HTTP 400, JSON `__type`), echoing the owner id (as
 * a ValidationException echoes values) and the session token (as a signature mismatch echoes its
 * canonical request): the SDK builds the error from it as from a real answer.
 */
const awsAnswer = (name: string, status = 400): Fault => ({
  kind: 'respond',
  status,
  headers: { 'x-amzn-requestid': 'DOCUMENTEDERRORKINDS' },
  body: JSON.stringify({
    __type: `com.amazonaws.dynamodb.v20120810#${name}`,
    message: `Rejected :owner ${OWNER}.\nx-amz-security-token:${SESSION_TOKEN}\nx-amz-target:DynamoDB_20120810.UpdateItem`,
  }),
});

/**
 * A failure thrown inside Node's own HTTP stack (by the DNS lookup of the endpoint's host), so that the
 * SDK's NodeHttpHandler and retry middleware treat it as they treat a network error. `error` is shaped
 * as the layer that throws it in reality.
 */
function viaNodeHttp(error: Error): Promise<unknown> {
  const agent = new Agent({
    lookup: ((_host: string, _options: unknown, callback: (err: Error) => void) => callback(error)) as never,
  });
  return acquireFailure(
    localClient({
      endpoint: 'http://dynamodb.documented-error-kinds.test:8000',
      maxAttempts: 1,
      requestHandler: { httpAgent: agent },
    }),
  );
}

const SYSCALLS: Record<string, string> = {
  ENOTFOUND: 'getaddrinfo',
  EAI_AGAIN: 'getaddrinfo',
  EPIPE: 'write',
};

/** A Node system error (`connect ECONNREFUSED 10.0.0.1:443`), with errno and syscall. */
function systemError(code: string): Error {
  const syscall = SYSCALLS[code] ?? 'connect';
  return Object.assign(new Error(`${syscall} ${code} 10.0.0.1:443 (owner ${OWNER})`), {
    code,
    errno: -1,
    syscall,
  });
}

/**
 * How the failures a name stands for are shaped, by family: undici (the SDK's fetch handler) fails a
 * fetch with `TypeError: fetch failed` whose cause carries the code; Node's http2 and net errors are
 * plain Errors with a code; system errors as {@link systemError}.
 */
function shapedNetworkError(code: string): Error {
  if (code.startsWith('UND_ERR_')) {
    const cause = Object.assign(new Error(`undici failure (owner ${OWNER})`), {
      name: code === 'UND_ERR_SOCKET' ? 'SocketError' : 'ConnectTimeoutError',
      code,
    });
    return new TypeError('fetch failed', { cause });
  }
  if (code.startsWith('ERR_')) {
    return Object.assign(new Error(`${code} (owner ${OWNER})`), { code });
  }
  return systemError(code);
}

/**
 * An error as the SDK's credential and token providers throw it (`@smithy/property-provider`'s
 * classes, which this package does not depend on): the name is what the store classifies.
 */
const providerError = (name: string, message: string): Error =>
  Object.assign(new Error(message), { name, tryNextLink: false });

/** How each failure is made: `real` on DynamoDB Local or the real network; `wire` and `synthetic` not. */
type Making = 'real' | 'wire' | 'synthetic';

/** Real failures, by the name they carry. */
const REAL: Record<string, () => Promise<unknown>> = {
  // DynamoDB Local, asked for a table that does not exist.
  ResourceNotFoundException: () => acquireFailure(localClient(), 'no-such-documented-table'),
  // DynamoDB Local rejects an access key id that is not alphanumeric, as AWS rejects unknown ones.
  UnrecognizedClientException: () =>
    acquireFailure(localClient({ credentials: { accessKeyId: 'not-a-key!', secretAccessKey: 'x' } })),
  // A table whose partition key is not the string `pk`.
  ValidationException: async () => {
    const client = localClient();
    return acquireFailure(client, await freshResourceTable(client, 'documented-wrong-key'));
  },
  // The SDK's own request timeout over a request nobody answers.
  TimeoutError: () =>
    viaProxy({ kind: 'hang' }, { requestHandler: { requestTimeout: 100, throwOnRequestTimeout: true } }),
  ECONNREFUSED: async () =>
    acquireFailure(localClient({ endpoint: `http://127.0.0.1:${await closedPort()}`, maxAttempts: 1 })),
  // The connection cut after the request reached DynamoDB: Node reports "socket hang up".
  ECONNRESET: () => viaProxy({ kind: 'apply-then-drop' }),
  'HTTP 5xx': () =>
    viaProxy({
      kind: 'respond',
      status: 500,
      body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'x' }),
    }),
};

/** Names that are not AWS error answers: thrown by the SDK's credential providers or the network stack. */
const CLIENT_SIDE: Record<string, () => Promise<unknown>> = {
  CredentialsProviderError: () =>
    acquireFailure(
      localClient({
        credentials: () =>
          Promise.reject(
            providerError('CredentialsProviderError', `Could not load credentials for ${OWNER}`),
          ),
      }),
    ),
  TokenProviderError: () =>
    acquireFailure(
      localClient({
        credentials: () =>
          Promise.reject(
            providerError('TokenProviderError', `The SSO session token for ${OWNER} has expired`),
          ),
      }),
    ),
};

/** The failure a listed name stands for, and how it is made. */
function producerOf(name: string): [Making, () => Promise<unknown>] {
  const real = REAL[name];
  if (real) return ['real', real];
  const clientSide = CLIENT_SIDE[name];
  if (clientSide) return ['synthetic', clientSide];
  if (/^(E[A-Z_]+|ERR_[A-Z0-9_]+|UND_ERR_[A-Z_]+)$/.test(name)) {
    return ['synthetic', () => viaNodeHttp(shapedNetworkError(name))];
  }
  // Any other name is an AWS error answer.
  return ['wire', () => viaProxy(awsAnswer(name))];
}

/** Real failures for the prose conditions, by phrase. */
const CONDITION_FAILURES: Record<string, [Making, () => Promise<unknown>]> = {
  "the store's `requestTimeoutMs` ran out": [
    'real',
    async () => {
      proxy.reset();
      proxy.inject({ kind: 'hang' });
      return acquireFailure(proxiedClient(), 'leasehold-locks', 200);
    },
  ],
  'any error the SDK flags as throttling': [
    'synthetic',
    () =>
      viaNodeHttp(
        Object.assign(new Error(`slow down ${OWNER}`), {
          name: 'SomeNewLimitError',
          $retryable: { throttling: true },
        }),
      ),
  ],
  'an acquire answered without a fence': [
    'wire',
    () =>
      viaProxy({ kind: 'respond', status: 200, body: JSON.stringify({ Attributes: { pk: { S: 'x' } } }) }),
  ],
  'anything else': ['wire', () => viaProxy(awsAnswer('LeaseholdNeverHeardOfThisException'))],
};

/** Everything a printed StoreError shows: message, stack, and its cause chain with theirs. */
const printed = (err: unknown) => inspect(err, { depth: 10 });

function expectDocumented(err: unknown, row: Row | undefined, kind: StoreErrorKind, hint?: string): void {
  expect(err, printed(err)).toBeInstanceOf(StoreError);
  const e = err as StoreError;
  expect({ kind: e.kind, store: e.store, code: e.code }, e.message).toEqual({
    kind,
    store: 'dynamodb',
    code: 'STORE_ERROR',
  });
  expect(e.retryable).toBe(RETRYABLE_KINDS.has(kind));
  expect(e.message).toContain(`: ${kind}, `);
  if (hint ?? row?.hint) expect(e.message).toContain(hint ?? row?.hint);
  // A failed request keeps the SDK error as the cause; an answer without a fence has none.
  if (kind !== 'bad-response') expect(e.cause).toBeDefined();
  for (const secret of [OWNER, SESSION_TOKEN, 'IQoJLEASEHOLD']) {
    expect(e.message).not.toContain(secret);
    expect(e.stack ?? '').not.toContain(secret);
    expect(printed(e)).not.toContain(secret);
  }
}

// ---------------------------------------------------------------------------------------------------

describe('the README Errors table', () => {
  it('is found, names a retryable set, and every row names failures or states a known condition', () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(9);
    expect([...RETRYABLE_KINDS].sort()).toEqual(['throttled', 'timeout', 'unreachable']);
    for (const row of ROWS) {
      const conditions = CONDITIONS.filter((c) => c.kind === row.kind && row.raisedFor.includes(c.phrase));
      expect(row.names.length + conditions.length, `row ${row.kind}: ${row.raisedFor}`).toBeGreaterThan(0);
    }
    for (const condition of CONDITIONS) {
      const rows = ROWS.filter((r) => r.kind === condition.kind && r.raisedFor.includes(condition.phrase));
      expect(rows, `"${condition.phrase}" under ${condition.kind}`).toHaveLength(1);
    }
  });

  it('lists exactly the names errors.ts classifies, each under the kind it gets', () => {
    const documented = ROWS.flatMap((row) => row.names.map((name) => `${name} → ${row.kind}`));
    const implemented = implementedNames().map(([kind, , name]) => `${name} → ${kind}`);
    expect(new Set(documented).size, 'a name listed twice').toBe(documented.length);
    // Classified by errors.ts but not (or not under that kind) in the README: a doc gap.
    expect(implemented.filter((entry) => !documented.includes(entry))).toEqual([]);
    // In the README but not classified so by errors.ts.
    expect(documented.filter((entry) => !implemented.includes(entry))).toEqual([]);
  });

  it('orders its rows as errors.ts tries its patterns ("the first row that matches wins")', () => {
    const readmeOrder = ROWS.filter((row) => row.names.length > 0).map((row) => row.kind);
    const implemented = implementedNames();
    const sourceOrder = implemented
      .filter(([, hint], i) => i === 0 || implemented[i - 1]?.[1] !== hint)
      .map(([kind]) => kind);
    expect(readmeOrder).toEqual(sourceOrder);
  });

  it('quotes the hints that errors.ts puts in the message', () => {
    const hints = new Set(implementedNames().map(([, hint]) => hint));
    for (const row of ROWS.filter((r) => r.hint !== undefined && r.names.length > 0)) {
      expect(hints, row.raisedFor).toContain(row.hint);
    }
    expect(SOURCE).toContain("['unknown', 'unexpected error']");
  });
});

const CASES = ROWS.flatMap((row) =>
  row.names.map((name) => {
    const [making, produce] = producerOf(name);
    return { label: `${name} (${making})`, row, produce };
  }),
);

describe('every listed name makes the store reject with its row kind, retryable flag and hint, no secret shown', () => {
  it.each(CASES)('$label → $row.kind', async ({ row, produce }) => {
    expectDocumented(await produce(), row, row.kind);
  });
});

describe('every condition the table states in prose makes the store reject as documented', () => {
  it.each(CONDITIONS.map((c) => ({ ...c, making: CONDITION_FAILURES[c.phrase]?.[0] })))(
    '$phrase ($making) → $kind',
    async ({ kind, phrase, hint }) => {
      const making = CONDITION_FAILURES[phrase];
      expect(making, `no failure for "${phrase}"`).toBeDefined();
      const row = ROWS.find((r) => r.kind === kind && r.raisedFor.includes(phrase));
      expectDocumented(await making?.[1](), row, kind, hint);
    },
  );
});
