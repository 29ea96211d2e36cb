import { startLocalStores } from '@leasehold/local';
import type { TestProject } from 'vitest/node';
import type { LocalEndpoints } from '../../functions/local/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: LocalEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stores = await startLocalStores({ services: ['dynamodb', 'upstash'] });
  const { dynamodb, upstash } = stores;
  if (!dynamodb || !upstash) throw new Error('local stores did not start');
  project.provide('endpoints', {
    dynamodb: { endpoint: dynamodb.endpoint, region: dynamodb.region, credentials: dynamodb.credentials },
    upstash: { url: upstash.url, token: upstash.token },
  });
  return () => stores.stop();
}
