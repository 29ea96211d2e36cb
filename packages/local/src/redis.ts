import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPrerequisiteError, LocalStartError } from './errors.js';
import {
  delay,
  findFreePort,
  type ManagedChild,
  onProcessExit,
  resolveExecutable,
  spawnManaged,
} from './process.js';
import { RespConnection } from './resp.js';
import {
  validateNonEmptyString,
  validateOptionsObject,
  validatePort,
  validateTimeoutMs,
} from './validate.js';

/**
 * Options for {@link startRedisServer}.
 *
 * @example
 * ```ts
 * const server = await startRedisServer({ port: 6380, redisServerPath: '/usr/local/bin/redis-server' });
 * ```
 */
export interface RedisServerOptions {
  /** Loopback port to listen on. Default: a free port. */
  port?: number;
  /** The redis-server binary to run. Default: `redis-server` from PATH. */
  redisServerPath?: string;
  /** How long to wait for redis-server to answer PING, in ms: an integer from 1 to 2147483647. Default: 15 000. */
  startTimeoutMs?: number;
}

/**
 * A running redis-server on 127.0.0.1 with no persistence (`--save ''`, `--appendonly no`, a temporary
 * `--dir` that is deleted on stop).
 *
 * @example
 * ```ts
 * import { startRedisServer } from '@leasehold/local';
 *
 * const redis = await startRedisServer();
 * console.log(redis.url); // redis://127.0.0.1:38017
 * await redis.restart();  // same port, all data gone: simulates a crash with data loss
 * await redis.stop();
 * ```
 */
export interface RedisServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The loopback port it listens on; kept across {@link RedisServer.restart}. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The current redis-server process id (changes on {@link RedisServer.restart}). */
  readonly pid: number;
  /** Stops redis-server (SIGTERM, SIGKILL after a grace period) and removes its directory. Idempotent. */
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. POSIX only. */
  pause(): void;
  /** Unfreezes the process (SIGCONT) after {@link RedisServer.pause}. */
  resume(): void;
  /** Kills redis-server and starts a new one on the same port with no data. */
  restart(): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 15_000;

/**
 * Asks the redis-server on `port` for its process id (`INFO server`): undefined if nothing answers.
 * A port that was taken between probing and binding may be answered by another redis-server, so
 * the answer must come from our own process.
 */
async function answeringPid(port: number): Promise<number | undefined> {
  let conn: RespConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    conn = await RespConnection.open(HOST, port, 1_000);
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), 1_000);
    });
    const reply = await Promise.race([conn.send(['INFO', 'server']), timeout]);
    if (!Buffer.isBuffer(reply)) return undefined;
    const match = /^process_id:(\d+)\r?$/m.exec(reply.toString('latin1'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    conn?.close();
  }
}

async function spawnRedis(
  binary: string,
  port: number,
  dir: string,
  timeoutMs: number,
): Promise<ManagedChild> {
  const args = [
    '--bind',
    HOST,
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--dir',
    dir,
    '--protected-mode',
    'yes',
  ];
  let child: ManagedChild;
  try {
    child = await spawnManaged(binary, args, dir, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES') {
      throw new LocalPrerequisiteError(
        'redis-server',
        binary === 'redis-server'
          ? 'redis-server was not found on PATH'
          : `redis-server could not be run from ${binary} (${code})`,
        { cause: error },
      );
    }
    throw error;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.hasExited()) {
      const exit = await child.exited;
      throw new LocalStartError(
        'redis',
        port,
        `redis-server exited before it answered (code ${String(exit.code)}, signal ${String(exit.signal)})`,
        child.outputTail(),
      );
    }
    // Another redis-server answering on this port (it took the port first) does not count: ours
    // will exit with "Address already in use".
    if ((await answeringPid(port)) === child.pid) return child;
    if (Date.now() > deadline) {
      await child.stop();
      throw new LocalStartError(
        'redis',
        port,
        `redis-server did not answer on ${HOST}:${port} within ${timeoutMs} ms`,
        child.outputTail(),
      );
    }
    await delay(30);
  }
}

class LocalRedisServer implements RedisServer {
  readonly host = HOST;
  private stopped = false;
  private restarting: Promise<void> | undefined;

  constructor(
    private child: ManagedChild,
    readonly port: number,
    private readonly dir: string,
    private readonly binary: string,
    private readonly startTimeoutMs: number,
    private readonly cancelDirCleanup: () => void,
  ) {}

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  get pid(): number {
    return this.child.pid;
  }

  pause(): void {
    this.child.pause();
  }

  resume(): void {
    this.child.resume();
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error('redis-server was stopped; start a new one with startRedisServer()');
    if (this.restarting !== undefined) return this.restarting;
    this.restarting = (async () => {
      await this.child.stop();
      this.child = await spawnRedis(this.binary, this.port, this.dir, this.startTimeoutMs);
    })();
    try {
      await this.restarting;
    } finally {
      this.restarting = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.restarting?.catch(() => {});
    await this.child.stop();
    await rm(this.dir, { recursive: true, force: true });
    this.cancelDirCleanup();
  }
}

/**
 * Starts `redis-server` from PATH on a free 127.0.0.1 port with persistence off, and waits until it
 * answers PING. Throws {@link LocalPrerequisiteError} if redis-server is not installed.
 *
 * @param options - `port` to use a fixed port; `redisServerPath` for a binary not on PATH; `startTimeoutMs`.
 * @example
 * ```ts
 * import { startRedisServer } from '@leasehold/local';
 *
 * const server = await startRedisServer();
 * try {
 *   // connect any Redis client to server.url (redis://127.0.0.1:<port>)
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  // Every option is checked before the temporary directory is made or anything is started.
  validateOptionsObject(options);
  validatePort(options.port);
  validateNonEmptyString(options.redisServerPath, 'redisServerPath');
  validateTimeoutMs(options.startTimeoutMs);
  // Resolved once, here: a restart() must run the same binary even if the working directory changed.
  const binary = resolveExecutable(options.redisServerPath ?? 'redis-server');
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-redis-'));
  const cancelDirCleanup = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await findFreePort());
      try {
        const child = await spawnRedis(binary, port, dir, timeoutMs);
        return new LocalRedisServer(child, port, dir, binary, timeoutMs, cancelDirCleanup);
      } catch (error) {
        // A free port can be taken between probing and binding: try another one.
        const retry = error instanceof LocalStartError && error.portInUse && options.port === undefined;
        if (!retry || attempt >= 3) throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    cancelDirCleanup();
    throw error;
  }
}
