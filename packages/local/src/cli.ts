#!/usr/bin/env node
/**
 * `leasehold-local`: starts the local stores, prints their endpoints and the environment variables
 * to export, and keeps them running until SIGINT or SIGTERM.
 *
 * @example
 * ```sh
 * npx leasehold-local                           # DynamoDB Local + redis-server + Upstash REST
 * npx leasehold-local --services dynamodb,upstash --token dev-token
 * ```
 *
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { LocalPrerequisiteError } from './errors.js';
import { LOCAL_SERVICES, type LocalService, type LocalStores, startLocalStores } from './stores.js';
import { validateNameList, validateToken } from './validate.js';

const USAGE = `Usage: leasehold-local [options]

Starts DynamoDB Local, redis-server and an Upstash-compatible REST endpoint on 127.0.0.1,
prints the environment variables to use them, and runs until Ctrl-C (SIGINT) or SIGTERM.

Options:
  --services <list>  comma-separated subset of: ${LOCAL_SERVICES.join(', ')} (default: all;
                     upstash also starts redis)
  --token <token>    bearer token for the Upstash REST endpoint (default: random)
  -h, --help         show this help

Needs Java 17+ (for DynamoDB Local) and redis-server on PATH.
`;

function parseServices(value: string | undefined): LocalService[] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  validateNameList(names, LOCAL_SERVICES, '--services', 'service');
  return names as LocalService[];
}

function shellValue(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'"'"'`)}'`;
}

function describe(stores: LocalStores): string {
  const rows: string[] = [];
  if (stores.dynamodb !== undefined) {
    rows.push(`  DynamoDB Local  ${stores.dynamodb.endpoint}  (pid ${stores.dynamodb.pid})`);
  }
  if (stores.redis !== undefined)
    rows.push(`  redis-server    ${stores.redis.url}  (pid ${stores.redis.pid})`);
  if (stores.upstash !== undefined) rows.push(`  Upstash REST    ${stores.upstash.url}`);
  const exports = Object.entries(stores.env).map(([name, value]) => `export ${name}=${shellValue(value)}`);
  return [
    'Leasehold local stores are running on 127.0.0.1 (in memory, nothing persisted).',
    '',
    ...rows,
    '',
    'Environment for your shell or .env file:',
    '',
    ...exports,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number | undefined> {
  let services: LocalService[] | undefined;
  let token: string | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        services: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    services = parseServices(values.services);
    token = values.token;
    validateToken(token, '--token');
  } catch (error) {
    process.stderr.write(`leasehold-local: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  let stores: LocalStores;
  try {
    stores = await startLocalStores({
      ...(services === undefined ? {} : { services }),
      ...(token === undefined ? {} : { token }),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const prefix = error instanceof LocalPrerequisiteError ? 'missing prerequisite: ' : '';
    process.stderr.write(`leasehold-local: ${prefix}${message}\n`);
    return 1;
  }

  process.stdout.write(describe(stores));
  // Child processes and the HTTP server are unref'd; this keeps the CLI running until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`leasehold-local: ${signal} again, exiting now\n`);
      process.exit(1); // the exit hook kills the child processes
    }
    stopping = true;
    process.stdout.write(`\n${signal} received, stopping the local stores...\n`);
    stores.stop().then(
      () => {
        clearInterval(keepAlive);
        process.stdout.write('Stopped.\n');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`leasehold-local: stop failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`leasehold-local: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
