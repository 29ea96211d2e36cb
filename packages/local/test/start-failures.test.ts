import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStartError, startDynamoDbLocal, startRedisServer } from '../src/index.js';
import { isAlive } from './helpers.js';

describe('a service that does not come up', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leasehold-start-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A shell script standing in for a binary; it records its pid in `<name>.pid`. */
  async function fake(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\necho $$ > '${path}.pid'\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  async function pidOf(path: string): Promise<number> {
    return Number((await readFile(`${path}.pid`, 'utf8')).trim());
  }

  it('redis-server that never answers: a LocalStartError after the timeout, with its output, and it is killed', async () => {
    const binary = await fake('redis-server', 'echo "fake redis: warming up" >&2\nexec sleep 600');
    const error = await startRedisServer({ redisServerPath: binary, startTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LocalStartError);
    expect(error).toMatchObject({ name: 'LocalStartError', service: 'redis', portInUse: false });
    expect((error as Error).message).toMatch(/redis-server did not answer on 127\.0\.0\.1:\d+ within 300 ms/);
    expect((error as LocalStartError).output).toContain('fake redis: warming up');
    const pid = await pidOf(binary);
    expect(isAlive(pid)).toBe(false);
  });

  it('redis-server that exits at once: a LocalStartError with its exit code and stderr', async () => {
    const binary = await fake('redis-server', 'echo "fake redis: bad config" >&2\nexit 3');
    const error = await startRedisServer({ redisServerPath: binary }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalStartError);
    expect((error as Error).message).toMatch(/exited before it answered \(code 3/);
    expect((error as Error).message).toContain('fake redis: bad config');
  });

  it('DynamoDB Local that never answers: a LocalStartError after the timeout, and java is killed', async () => {
    const java = await fake(
      'java',
      [
        'if [ "$1" = "-version" ]; then echo \'openjdk version "17.0.15" 2025-04-15\' >&2; exit 0; fi',
        'echo "fake java: still loading" >&2',
        'exec sleep 600',
      ].join('\n'),
    );
    const error = await startDynamoDbLocal({ javaPath: java, startTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalStartError);
    expect(error).toMatchObject({ service: 'dynamodb', portInUse: false });
    expect((error as Error).message).toMatch(
      /DynamoDB Local did not answer on 127\.0\.0\.1:\d+ within 300 ms/,
    );
    expect((error as LocalStartError).output).toContain('fake java: still loading');
    expect(isAlive(await pidOf(java))).toBe(false);
  });
});
