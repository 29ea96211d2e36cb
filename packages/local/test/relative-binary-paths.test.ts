/**
 * `redisServerPath`, `javaPath` and `JAVA_HOME` may be relative to the caller's working directory, as
 * any path given to a program is. Each service runs with another working directory (redis-server in
 * its temporary directory, java in the jar's), so such a path must be resolved before it is spawned:
 * otherwise the spawn fails with ENOENT, reported as a missing prerequisite ("Install Redis ..."),
 * although `java -version`, run from the caller's directory, found the same binary.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDynamoDbLocal, startRedisServer } from '../src/index.js';

const which = (name: string) =>
  execFileSync('sh', ['-c', `readlink -f "$(command -v ${name})"`])
    .toString()
    .trim();

describe('a binary path relative to the working directory', () => {
  let project: string;
  let cwd: string;

  beforeEach(async () => {
    cwd = process.cwd();
    project = await mkdtemp(join(tmpdir(), 'leasehold-relative-paths-'));
    await mkdir(join(project, 'bin'));
    await symlink(which('redis-server'), join(project, 'bin', 'redis-server'));
    await symlink(which('java'), join(project, 'bin', 'java'));
    process.chdir(project);
  });

  afterEach(async () => {
    process.chdir(cwd);
    await rm(project, { recursive: true, force: true });
  });

  it('redisServerPath: ./bin/redis-server starts redis-server, and restart() runs it again from anywhere', async () => {
    const server = await startRedisServer({ redisServerPath: './bin/redis-server' });
    try {
      // The path was resolved against the directory it was given in, not the current one.
      process.chdir(cwd);
      await server.restart();
    } finally {
      await server.stop();
    }
  });

  it('javaPath: ./bin/java starts DynamoDB Local', async () => {
    const ddb = await startDynamoDbLocal({ javaPath: './bin/java' });
    await ddb.stop();
  }, 90_000);

  it('a relative JAVA_HOME: $JAVA_HOME/bin/java starts DynamoDB Local', async () => {
    vi.stubEnv('JAVA_HOME', '.'); // ./bin/java
    try {
      const ddb = await startDynamoDbLocal();
      await ddb.stop();
    } finally {
      vi.unstubAllEnvs();
    }
  }, 90_000);

  it('the relative paths really are valid from here (sanity: the same binaries run)', () => {
    expect(execFileSync('./bin/redis-server', ['--version']).toString()).toMatch(/Redis server/);
    expect(execFileSync('./bin/java', ['-version'], { stdio: 'pipe' }).toString()).toBe('');
  });
});
