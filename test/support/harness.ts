import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import {
  createLocalTables,
  LocalData,
  type LocalTables,
  type LockStoreKind,
  localFunctionEnv,
  localTableNames,
} from '../../functions/local/index.js';

export const endpoints = () => inject('endpoints');

/** Fresh tables for one test file, the AWS variables set for the SDK, and data helpers. */
export async function prepare(): Promise<{ tables: LocalTables; data: LocalData }> {
  const tables = localTableNames(randomUUID().slice(0, 8));
  await createLocalTables(endpoints(), tables);
  // The functions' SDK clients find DynamoDB Local through the standard AWS variables, as on Lambda.
  const { AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } =
    localFunctionEnv(endpoints(), tables, 'dynamodb');
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB,
    AWS_REGION,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
  });
  return { tables, data: new LocalData(endpoints(), tables) };
}

export const envFor = (
  tables: LocalTables,
  store: LockStoreKind,
  lock: { ttlMs?: number; waitMs?: number } = {},
) => localFunctionEnv(endpoints(), tables, store, { waitMs: 10_000, ...lock });

export const stores: LockStoreKind[] = ['dynamodb', 'upstash'];

export const uid = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
