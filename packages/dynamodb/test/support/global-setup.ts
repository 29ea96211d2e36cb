import type { TestProject } from 'vitest/node';

/** Where the tests find DynamoDB Local (or another DynamoDB endpoint). */
export interface DynamoDbEndpoint {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoDb: DynamoDbEndpoint;
  }
}

/**
 * Starts ONE DynamoDB Local (via @leasehold/local) for every test file; each test file works in its own
 * tables. LEASEHOLD_DYNAMODB_ENDPOINT points the tests at an already running endpoint instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.LEASEHOLD_DYNAMODB_ENDPOINT;
  if (external !== undefined && external !== '') {
    project.provide('dynamoDb', {
      endpoint: external,
      region: process.env.AWS_REGION ?? 'us-east-1',
      credentials: {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'leaseholdlocal',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'leaseholdlocalsecret',
      },
    });
    return async () => {};
  }
  const { startDynamoDbLocal } = await import('@leasehold/local');
  const ddb = await startDynamoDbLocal();
  project.provide('dynamoDb', { endpoint: ddb.endpoint, region: ddb.region, credentials: ddb.credentials });
  return () => ddb.stop();
}
