import { randomUUID } from 'node:crypto';
import { type LocalService, startLocalStores } from '@leasehold/local';
import {
  createLocalTables,
  LocalData,
  type LocalEndpoints,
  type LocalTables,
  localTableNames,
  useLocalAwsEnv,
} from '../../local/index.js';
import { createLogger } from '../../shared/logger.js';

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
export async function startLocalSetup(services: Array<Extract<LocalService, 'dynamodb' | 'upstash'>>) {
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

/** A unique id for one test's order, event or key: `label` plus a random suffix. */
export const uid = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** A logger that writes nothing (errors included): for handlers under test. */
export const quiet = createLogger({}, 'error', () => undefined);
