import { StoreError } from '@leasehold/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../shared/handler.js';
import type { InvocationContext } from '../shared/invocation.js';
import { createLogger } from '../shared/logger.js';

const event = { routeKey: 'POST /payments' } as APIGatewayProxyEventV2;
const context = { awsRequestId: 'r1', getRemainingTimeInMillis: () => 10_000 } as InvocationContext;
const quiet = createLogger({ service: 'test' }, 'error', () => undefined);

/** A handler whose set-up is counted and whose route throws what `fail` returns (or answers 200). */
function handler(fail: () => unknown) {
  let setUps = 0;
  const handle = createHandler(
    'payment',
    'payment',
    async () => ++setUps,
    quiet,
    async () => {
      const err = fail();
      if (err) throw err;
      return { statusCode: 200, headers: {}, body: '{}' };
    },
  );
  return { handle, setUps: () => setUps };
}

describe('createHandler', () => {
  it('sets up once and reuses it across warm invocations, also after a lock store outage', async () => {
    const { handle, setUps } = handler(() => new StoreError('upstash', 'unreachable', 'down'));
    expect((await handle(event, context)).statusCode).toBe(503);
    expect((await handle(event, context)).statusCode).toBe(503);
    expect(setUps()).toBe(1);
  });

  it('sets up afresh after the lock store refused its credentials (a rotated token is read again)', async () => {
    let refuse = true;
    const { handle, setUps } = handler(() =>
      refuse ? new StoreError('upstash', 'bad-credentials', 'WRONGPASS') : undefined,
    );
    expect((await handle(event, context)).statusCode).toBe(503);
    refuse = false;
    expect((await handle(event, context)).statusCode).toBe(200);
    expect(setUps()).toBe(2);
    expect((await handle(event, context)).statusCode).toBe(200);
    expect(setUps()).toBe(2);
  });
});
