import { createServer, type Socket } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awsClientConfig,
  SDK_MAX_ATTEMPTS as FUNCTIONS_ATTEMPTS,
} from '../../functions/shared/lock-store.js';
import { SDK_MAX_ATTEMPTS } from '../lib/examples-stack.js';

/**
 * The stack derives the Lambda timeout from SDK_MAX_ATTEMPTS attempts per AWS SDK call. The clients the
 * functions build (`new DynamoDBClient(awsClientConfig(env))`) must make exactly that many, whatever the
 * SDK's own default for the service is (DynamoDB's became 4).
 */
describe('the functions’ AWS SDK clients', () => {
  const sockets: Socket[] = [];
  let requests = 0;
  let port = 0;
  // An endpoint that accepts connections and never answers: every attempt runs into its timeout.
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      requests += (chunk.toString('latin1').match(/^POST \/ HTTP\/1\.1/gm) ?? []).length;
    });
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('are configured with the attempts the stack’s timeout budget counts', async () => {
    expect(FUNCTIONS_ATTEMPTS).toBe(SDK_MAX_ATTEMPTS);
    const config = awsClientConfig({});
    expect(await new DynamoDBClient({ ...config, region: 'us-east-1' }).config.maxAttempts()).toBe(
      SDK_MAX_ATTEMPTS,
    );
    expect(await new SecretsManagerClient({ ...config, region: 'us-east-1' }).config.maxAttempts()).toBe(
      SDK_MAX_ATTEMPTS,
    );
  });

  it('send a DynamoDB call that gets no answer exactly that many times', async () => {
    const client = new DynamoDBClient({
      ...awsClientConfig({ SDK_REQUEST_TIMEOUT_MS: '200' }),
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    await expect(
      client.send(new GetItemCommand({ TableName: 'orders', Key: { orderId: { S: 'o' } } })),
    ).rejects.toThrow();
    expect(requests).toBe(SDK_MAX_ATTEMPTS);
    client.destroy();
  }, 30_000);
});
