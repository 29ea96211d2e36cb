import { inspect } from 'node:util';
import {
  DynamoDBServiceException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { type LockStore, StoreError, type StoreErrorKind } from '@leasehold/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toStoreError } from '../src/errors.js';
import { dynamoDbStore } from '../src/index.js';
import { dynamoDbLocal, freshLockTable, localClient, ownerId } from './support/dynamo.js';
import { closedPort, type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

const owner = ownerId();

/** Runs every store operation and returns what each one threw. */
async function failures(store: LockStore): Promise<unknown[]> {
  const calls = [
    () => store.acquire({ key: 'errors:k', owner, ttlMs: 1_000 }),
    () => store.extend({ key: 'errors:k', owner, token: 1, ttlMs: 1_000 }),
    () => store.release({ key: 'errors:k', owner, token: 1 }),
    () => store.inspect('errors:k'),
  ];
  const out: unknown[] = [];
  for (const call of calls) {
    try {
      await call();
      out.push(undefined);
    } catch (err) {
      out.push(err);
    }
  }
  return out;
}

function expectStoreError(err: unknown, kind: StoreErrorKind, retryable: boolean): StoreError {
  expect(err).toBeInstanceOf(StoreError);
  const e = err as StoreError;
  expect(e.kind).toBe(kind);
  expect(e.code).toBe('STORE_ERROR');
  expect(e.store).toBe('dynamodb');
  expect(e.retryable).toBe(retryable);
  expect(e.message).not.toContain(owner);
  expect(e.cause).toBeDefined();
  return e;
}

describe('store errors from real failures', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(dynamoDbLocal().endpoint);
  });
  beforeEach(() => proxy.reset());
  afterAll(() => proxy.close());

  it('a missing table is "table-missing" with what to do and the table name, on every operation', async () => {
    const client = localClient();
    const store = dynamoDbStore({ client, tableName: 'no-such-lock-table' });
    for (const err of await failures(store)) {
      const e = expectStoreError(err, 'table-missing', false);
      expect(e.message).toContain('createLockTable()');
      expect(e.message).toContain('"no-such-lock-table"');
      expect(e.cause).toBeInstanceOf(ResourceNotFoundException);
    }
    client.destroy();
  });

  it('a closed port is "unreachable" (retryable), after the SDK retried', async () => {
    const port = await closedPort();
    const client = localClient({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2 });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
    for (const err of await failures(store)) {
      const e = expectStoreError(err, 'unreachable', true);
      expect(e.message).toMatch(/could not be reached/);
      expect(e.message).toContain('after 2 attempts');
      expect((e.cause as { code?: string }).code).toBe('ECONNREFUSED');
    }
    client.destroy();
  });

  it('a store that never answers is "timeout" once the SDK requestTimeout passes (throwOnRequestTimeout)', async () => {
    const client = localClient({
      endpoint: proxy.endpoint,
      maxAttempts: 2,
      requestHandler: { requestTimeout: 150, throwOnRequestTimeout: true },
    });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
    proxy.inject({ kind: 'hang' }, { kind: 'hang' });
    const started = Date.now();
    const err = await store.acquire({ key: 'errors:hang', owner, ttlMs: 1_000 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    const e = expectStoreError(err, 'timeout', true);
    expect(e.message).toMatch(/outcome is unknown/);
    expect(proxy.seen.map((r) => r.fault)).toEqual(['hang', 'hang']);
    client.destroy();
  });

  it('a store that never answers is "timeout" once requestTimeoutMs passes, whatever the client settings', async () => {
    const client = localClient({ endpoint: proxy.endpoint });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks', requestTimeoutMs: 300 });
    for (const call of [
      () => store.acquire({ key: 'errors:hang', owner, ttlMs: 1_000 }),
      () => store.extend({ key: 'errors:hang', owner, token: 1, ttlMs: 1_000 }),
      () => store.release({ key: 'errors:hang', owner, token: 1 }),
      () => store.inspect('errors:hang'),
    ]) {
      proxy.inject({ kind: 'hang' });
      const started = Date.now();
      const err = await call().catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3_000);
      const e = expectStoreError(err, 'timeout', true);
      expect(e.message).toContain('requestTimeoutMs');
      expect(e.message).toMatch(/outcome is unknown/);
    }
    // Without a hang the same store answers normally (here: the table does not exist).
    const err = await store.inspect('errors:k').catch((e: unknown) => e);
    expectStoreError(err, 'table-missing', false);
    client.destroy();
  });

  it('a credential provider that never answers is "timeout" once requestTimeoutMs passes', async () => {
    // The SDK resolves credentials (an STS AssumeRole, SSO or container-metadata call) before its HTTP
    // handler, the only part that sees the abort signal.
    const client = localClient({ credentials: () => new Promise(() => {}) });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks', requestTimeoutMs: 200 });
    for (const call of [
      () => store.acquire({ key: 'errors:no-credentials', owner, ttlMs: 1_000 }),
      () => store.extend({ key: 'errors:no-credentials', owner, token: 1, ttlMs: 1_000 }),
      () => store.release({ key: 'errors:no-credentials', owner, token: 1 }),
      () => store.inspect('errors:no-credentials'),
    ]) {
      let timer: NodeJS.Timeout | undefined;
      const stillPending = new Promise((resolve) => {
        timer = setTimeout(resolve, 5_000, 'still pending');
      });
      const err = await Promise.race([call().catch((e: unknown) => e), stillPending]);
      clearTimeout(timer);
      const e = expectStoreError(err, 'timeout', true);
      expect(e.message).toContain('requestTimeoutMs');
    }
    client.destroy();
  });

  it('credentials DynamoDB rejects are "bad-credentials"', async () => {
    // DynamoDB Local rejects access key ids that are not alphanumeric, as AWS rejects unknown ones.
    const client = localClient({ credentials: { accessKeyId: 'not-a-key!', secretAccessKey: 'x' } });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
    for (const err of await failures(store)) {
      const e = expectStoreError(err, 'bad-credentials', false);
      expect(e.message).toMatch(/AWS_PROFILE/);
      expect((e.cause as Error).name).toBe('UnrecognizedClientException');
    }
    client.destroy();
  });

  it('credentials that cannot be loaded at all are "bad-credentials"', async () => {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/leasehold/credentials',
      AWS_CONFIG_FILE: '/nonexistent/leasehold/config',
    });
    const ddb = dynamoDbLocal();
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    // The SDK's default credential chain, with nothing to find.
    const client = new DynamoDBClient({ endpoint: ddb.endpoint, region: ddb.region, maxAttempts: 1 });
    try {
      const err = await dynamoDbStore({ client, tableName: 'leasehold-locks' })
        .acquire({ key: 'errors:k', owner, ttlMs: 1_000 })
        .catch((e: unknown) => e);
      const e = expectStoreError(err, 'bad-credentials', false);
      expect((e.cause as Error).name).toBe('CredentialsProviderError');
    } finally {
      client.destroy();
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it.each(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded'])(
    'DynamoDB throttling (%s) past the SDK retries is "throttled"',
    async (errorName) => {
      const client = localClient({ endpoint: proxy.endpoint, maxAttempts: 2 });
      const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
      const throttle = {
        kind: 'respond' as const,
        status: 400,
        body: JSON.stringify({
          __type: `com.amazonaws.dynamodb.v20120810#${errorName}`,
          message: 'Rate of requests exceeds the allowed throughput.',
        }),
      };
      proxy.inject(throttle, throttle);
      const err = await store.acquire({ key: 'errors:k', owner, ttlMs: 1_000 }).catch((e: unknown) => e);
      const e = expectStoreError(err, 'throttled', true);
      expect((e.cause as Error).name).toBe(errorName);
      // The SDK retried the throttled request before giving up.
      expect(proxy.seen).toHaveLength(2);
      client.destroy();
    },
  );

  it('a signature mismatch never puts the session token into the message', async () => {
    // Temporary credentials (Lambda, SSO, assumed roles) carry a session token, which the SDK signs as
    // the x-amz-security-token header. A signature DynamoDB does not accept (a proxy rewriting headers,
    // a secret key not matching its key id) is answered with the canonical request it computed:
    // that header and its value included.
    const sessionToken = 'IQoJb3JpZ2luX2VjEXAMPLE/SESSION+token//////////wEaCXVzLWVhc3QtMSJHMEUC==';
    const client = localClient({
      endpoint: proxy.endpoint,
      maxAttempts: 1,
      credentials: { ...dynamoDbLocal().credentials, sessionToken },
    });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
    const answer = () => ({
      kind: 'respond' as const,
      status: 400,
      body: JSON.stringify({
        __type: 'com.amazon.coral.service#InvalidSignatureException',
        message: `The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:${new URL(proxy.endpoint).host}\nx-amz-date:20261207T120000Z\nx-amz-security-token:${sessionToken}\nx-amz-target:DynamoDB_20120810.UpdateItem\n\ncontent-type;host;x-amz-date;x-amz-security-token;x-amz-target\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261207T120000Z\n20261207/us-east-1/dynamodb/aws4_request\nfedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210'\n`,
      }),
    });
    proxy.inject(answer(), answer(), answer(), answer());
    const errors = await failures(store);
    expect(proxy.seen).toHaveLength(4);
    for (const err of errors) {
      const e = expectStoreError(err, 'bad-credentials', false);
      expect((e.cause as Error).name).toBe('InvalidSignatureException');
      // Nor in the cause, which Node prints with the error (message and stack).
      expect((e.cause as Error).message).toContain('x-amz-security-token:<redacted>');
      expect(inspect(e, { depth: 5 })).not.toContain(sessionToken);
      expect(e.message).not.toContain(sessionToken);
      expect(e.message).not.toContain('IQoJb3JpZ2lu');
      expect(e.message).toContain('x-amz-security-token:<redacted>');
      // The rest of the answer stays, for debugging the signature.
      expect(e.message).toContain('x-amz-target:DynamoDB_20120810.UpdateItem');
    }
    client.destroy();
  });

  it('a server error past the SDK retries is retryable, not "held"', async () => {
    const client = localClient({ endpoint: proxy.endpoint, maxAttempts: 2 });
    const store = dynamoDbStore({ client, tableName: 'leasehold-locks' });
    const boom = {
      kind: 'respond' as const,
      status: 500,
      body: JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: 'oops',
      }),
    };
    proxy.inject(boom, boom);
    const err = await store.acquire({ key: 'errors:k', owner, ttlMs: 1_000 }).catch((e: unknown) => e);
    expectStoreError(err, 'unreachable', true);
  });

  it('a table with the wrong key schema is reported with the expected schema', async () => {
    const client = localClient();
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    const tableName = `wrong-key-${Date.now()}`;
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const err = await dynamoDbStore({ client, tableName })
      .acquire({ key: 'k', owner, ttlMs: 1_000 })
      .catch((e: unknown) => e);
    const e = expectStoreError(err, 'unknown', false);
    expect(e.message).toContain('"pk"');
    client.destroy();
  });
});

describe('held is never an error', () => {
  it('a held key resolves { acquired: false } instead of throwing', async () => {
    const client = localClient();
    const tableName = await freshLockTable(client);
    const store = dynamoDbStore({ client, tableName });
    await store.acquire({ key: 'k', owner: ownerId(), ttlMs: 5_000 });
    await expect(store.acquire({ key: 'k', owner, ttlMs: 5_000 })).resolves.toMatchObject({
      acquired: false,
    });
    client.destroy();
  });
});

describe('toStoreError classification of SDK error objects', () => {
  const context = { operation: 'acquire', tableName: 'locks', secrets: [owner] };
  const metadata = { httpStatusCode: 400, attempts: 3 };
  const service = (name: string, message = 'x', status = 400) =>
    new DynamoDBServiceException({ name, $fault: 'client', message, $metadata: { httpStatusCode: status } });

  it.each<[string, unknown, StoreErrorKind]>([
    ['ExpiredTokenException', service('ExpiredTokenException'), 'bad-credentials'],
    ['InvalidSignatureException', service('InvalidSignatureException'), 'bad-credentials'],
    ['UnrecognizedClientException', service('UnrecognizedClientException'), 'bad-credentials'],
    ['AccessDeniedException', service('AccessDeniedException'), 'bad-credentials'],
    [
      'ProvisionedThroughputExceededException',
      new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: metadata }),
      'throttled',
    ],
    [
      'ThrottlingException',
      new ThrottlingException({ message: 'slow down', $metadata: metadata }),
      'throttled',
    ],
    [
      'RequestLimitExceeded',
      new RequestLimitExceeded({ message: 'slow down', $metadata: metadata }),
      'throttled',
    ],
    [
      'ResourceNotFoundException',
      new ResourceNotFoundException({ message: 'gone', $metadata: metadata }),
      'table-missing',
    ],
    [
      'InternalServerError',
      new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } }),
      'unreachable',
    ],
    ['TimeoutError', Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }), 'timeout'],
    ['ETIMEDOUT', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'timeout'],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), 'unreachable'],
    [
      'AggregateError of ECONNREFUSED',
      new AggregateError(
        [Object.assign(new Error('connect ECONNREFUSED ::1:1'), { code: 'ECONNREFUSED' })],
        'x',
      ),
      'unreachable',
    ],
    ['ValidationException', service('ValidationException'), 'unknown'],
    ['a plain Error', new Error('weird'), 'unknown'],
    ['a thrown string', 'weird', 'unknown'],
  ])('%s → %s', (_label, err, kind) => {
    const e = toStoreError(err, context);
    expect(e.kind).toBe(kind);
    expect(e.cause).toBe(err);
    expect(e.message.startsWith('dynamodb: acquire failed')).toBe(true);
  });

  it('redacts owner ids from messages', () => {
    const e = toStoreError(service('ValidationException', `bad value ${owner} for :owner`), context);
    expect(e.message).not.toContain(owner);
    expect(e.message).toContain('<redacted>');
  });

  it('returns a StoreError unchanged', () => {
    const original = new StoreError('dynamodb', 'timeout', 'x');
    expect(toStoreError(original, context)).toBe(original);
  });
});

describe('messages', () => {
  /** A stand-in client: answers or throws whatever `answer` makes of each command's input. */
  const fakeClient = (answer: (input: Record<string, unknown>) => unknown) =>
    ({
      send: async (command: { input: Record<string, unknown> }) => answer(command.input),
    }) as never;

  it('name the operation, table, attempts, kind and AWS error', () => {
    const err = new ProvisionedThroughputExceededException({
      message: 'slow down',
      $metadata: { httpStatusCode: 400, attempts: 3 },
    });
    expect(toStoreError(err, { operation: 'acquire', tableName: 'locks' }).message).toBe(
      'dynamodb: acquire failed on table "locks" after 3 attempts: throttled, retry later (ProvisionedThroughputExceededException: slow down)',
    );
  });

  it('count an HTTP 5xx anywhere in the cause chain as "unreachable"', () => {
    const cause = new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 503 } });
    const e = toStoreError(new Error('wrapped', { cause }), { operation: 'extend', tableName: 'locks' });
    expect(e.kind).toBe('unreachable');
    expect(e.message).toContain('server error');
  });

  it('redact the owner id and the release nonce, whatever the operation', async () => {
    let sent: string[] = [];
    const store = dynamoDbStore({
      tableName: 'locks',
      client: fakeClient((input) => {
        const values = input.ExpressionAttributeValues as Record<string, { S?: string }>;
        sent = Object.values(values).flatMap((v) => (v.S === undefined ? [] : [v.S]));
        throw new Error(`rejected ${sent.join(' and ')}`);
      }),
    });
    const err = await store.release({ key: 'k', owner, token: 1 }).catch((e: unknown) => e);
    const e = expectStoreError(err, 'unknown', false);
    expect(sent).toHaveLength(2); // the owner and the nonce
    for (const secret of sent) expect(e.message).not.toContain(secret);
    expect(e.message).toContain(
      'release failed on table "locks": unknown, unexpected error (Error: rejected <redacted> and <redacted>)',
    );
  });

  it('report an acquire answered without a fence as "bad-response", naming the table', async () => {
    const store = dynamoDbStore({ tableName: 'locks', client: fakeClient(() => ({ Attributes: {} })) });
    const err = await store.acquire({ key: 'k', owner, ttlMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind: 'bad-response', retryable: false });
    expect((err as Error).message).toContain('acquire failed on table "locks": bad-response');
  });
});
