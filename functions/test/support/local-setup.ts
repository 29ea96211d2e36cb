import { randomUUID } from 'node:crypto';
import { type LocalService, startLocalStores } from '@leasehold/local';
import { afterAll, beforeAll } from 'vitest';
import {
  createLocalTables,
  LocalData,
  type LocalEndpoints,
  type LocalTables,
  type LockStoreKind,
  localFunctionEnv,
  localTableNames,
  useLocalAwsEnv,
} from '../../local/index.js';
import { createLogger } from '../../shared/logger.js';

/** The local stores a handler test may start (DynamoDB always runs: the example tables live there). */
export type TestService = Extract<LocalService, 'dynamodb' | 'upstash'>;

/** What a handler test runs on: local stores, fresh tables, and a client to read them. */
export interface LocalSetup {
  readonly endpoints: LocalEndpoints;
  readonly tables: LocalTables;
  readonly data: LocalData;
  stop(): Promise<void>;
}

/**
 * Starts the local stores, creates a fresh set of tables and points this process's AWS environment at
 * DynamoDB Local, as the handlers read it from `process.env` (the Lambda runtime's way).
 */
export async function startLocalSetup(services: TestService[]) {
  const local = await startLocalStores({ services });
  const { dynamodb, upstash } = local;
  if (!dynamodb || (services.includes('upstash') && !upstash))
    throw new Error('the local stores did not start');
  const endpoints: LocalEndpoints = {
    dynamodb: { endpoint: dynamodb.endpoint, region: dynamodb.region, credentials: dynamodb.credentials },
    ...(upstash && { upstash: { url: upstash.url, token: upstash.token } }),
  };
  const tables = localTableNames(randomUUID().slice(0, 8));
  await createLocalTables(endpoints, tables);
  useLocalAwsEnv(endpoints);
  const data = new LocalData(endpoints, tables);
  return {
    endpoints,
    tables,
    data,
    async stop() {
      data.close();
      await local.stop();
    },
  } satisfies LocalSetup;
}

/** A test file's local setup, readable once its `beforeAll` has run (see {@link useLocalSetup}). */
export interface TestSetup {
  readonly endpoints: LocalEndpoints;
  readonly tables: LocalTables;
  readonly data: LocalData;
  /** The environment a function gets from the stack, with `store` as its lock store (default DynamoDB). */
  functionEnv(store?: LockStoreKind): Record<string, string>;
}

/**
 * Registers the `beforeAll` that starts the local setup on `services` (see {@link startLocalSetup})
 * and the `afterAll` that stops it, for the calling test file. The fields of the returned object are
 * read lazily, so they may be used in tests and hooks that run after setup, not at module load time.
 * Hooks a file registers after this call run after the setup has started, and (vitest runs `afterAll`
 * hooks as a stack) before it stops.
 */
export function useLocalSetup(services: TestService[] = ['dynamodb']): TestSetup {
  let started: LocalSetup | undefined;
  const current = () => {
    if (!started) throw new Error('the local setup is read before its beforeAll has run');
    return started;
  };
  beforeAll(async () => {
    started = await startLocalSetup(services);
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
  });
  return {
    get endpoints() {
      return current().endpoints;
    },
    get tables() {
      return current().tables;
    },
    get data() {
      return current().data;
    },
    functionEnv: (store = 'dynamodb') => localFunctionEnv(current().endpoints, current().tables, store),
  };
}

/** A unique id for one test's order, event or key: `label` plus a random suffix. */
export const uid = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** A logger that writes nothing (errors included): for handlers under test. */
export const quiet = createLogger({}, 'error', () => undefined);

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
