import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  LocalStartError,
  type RedisServer,
  startDynamoDbLocal,
  startRedisServer,
  startUpstashEndpoint,
} from '../src/index.js';
import { findFreePort } from '../src/process.js';
import { RespConnection } from '../src/resp.js';
import { isAlive } from './helpers.js';

// The race "a free port is found, then taken before the service binds it" is forced by making
// findFreePort hand out a port that is already taken, once.
vi.mock('../src/process.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/process.js')>();
  return { ...original, findFreePort: vi.fn(original.findFreePort) };
});

afterEach(() => {
  vi.mocked(findFreePort).mockClear();
});

async function redisPid(port: number): Promise<number> {
  const conn = await RespConnection.open('127.0.0.1', port);
  try {
    const info = String(await conn.send(['INFO', 'server']));
    return Number(/process_id:(\d+)/.exec(info)?.[1]);
  } finally {
    conn.close();
  }
}

describe('redis-server on a port another redis-server already holds', () => {
  let foreign: RedisServer;

  beforeAll(async () => {
    foreign = await startRedisServer();
  });

  afterAll(async () => {
    await foreign?.stop();
  });

  it('a fixed port: fails with LocalStartError instead of handing out the other server', async () => {
    const result = await startRedisServer({ port: foreign.port }).catch((e: unknown) => e);
    if (!(result instanceof Error)) await (result as RedisServer).stop();
    expect(result).toBeInstanceOf(LocalStartError);
    expect(result).toMatchObject({ service: 'redis', port: foreign.port, portInUse: true });
    expect(isAlive(foreign.pid)).toBe(true);
  });

  it('a free port taken before redis-server binds it: retries on another port', async () => {
    vi.mocked(findFreePort).mockResolvedValueOnce(foreign.port);
    const server = await startRedisServer();
    try {
      expect(server.port).not.toBe(foreign.port);
      expect(isAlive(server.pid)).toBe(true);
      expect(await redisPid(server.port)).toBe(server.pid);
    } finally {
      await server.stop();
    }
  });
});

describe('DynamoDB Local on a port another DynamoDB already answers on', () => {
  let fake: Server;
  let fakePort: number;

  beforeAll(async () => {
    // Answers ListTables like DynamoDB Local does.
    fake = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{"TableNames":["someone-elses-table"]}');
    });
    await new Promise<void>((resolve) => fake.listen({ host: '127.0.0.1', port: 0 }, resolve));
    fakePort = (fake.address() as { port: number }).port;
  });

  afterAll(async () => {
    fake?.closeAllConnections();
    await new Promise((resolve) => fake?.close(resolve));
  });

  it('a fixed port: fails at once with LocalStartError instead of handing out the other server', async () => {
    const result = await startDynamoDbLocal({ port: fakePort }).catch((e: unknown) => e);
    if (!(result instanceof Error)) await (result as { stop(): Promise<void> }).stop();
    expect(result).toBeInstanceOf(LocalStartError);
    expect(result).toMatchObject({ service: 'dynamodb', port: fakePort, portInUse: true });
    expect((result as Error).message).toContain(`port ${fakePort} is already in use`);
  });

  it('a free port taken before java binds it: retries on another port', async () => {
    vi.mocked(findFreePort).mockResolvedValueOnce(fakePort);
    const ddb = await startDynamoDbLocal();
    try {
      expect(ddb.port).not.toBe(fakePort);
      expect(isAlive(ddb.pid)).toBe(true);
      const response = await fetch(`${ddb.endpoint}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          authorization: `AWS4-HMAC-SHA256 Credential=${ddb.credentials.accessKeyId}/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
        },
        body: '{}',
      });
      expect(await response.json()).toEqual({ TableNames: [] });
    } finally {
      await ddb.stop();
    }
  });
});

describe('the Upstash endpoint on a port something else holds', () => {
  it('a fixed port: fails with LocalStartError, like the other services', async () => {
    const redis = await startRedisServer();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await startUpstashEndpoint({ redisPort: redis.port, port }).catch((e: unknown) => e);
      if (!(result instanceof Error)) await (result as { stop(): Promise<void> }).stop();
      expect(result).toBeInstanceOf(LocalStartError);
      expect(result).toMatchObject({ service: 'upstash', port, portInUse: true });
      expect((result as Error).cause).toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await redis.stop();
    }
  });
});
