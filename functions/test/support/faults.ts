import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type LocalEndpoints, localDynamoDbClient } from '../../local/index.js';
import { sleep } from './local-setup.js';

/**
 * What happens to the chosen UpdateItem:
 * - 'lost': applied, then its answer lost inside the SDK's retry loop (a connection reset): the SDK
 *   resends it;
 * - 'crash': applied, then its answer lost outside the retry loop: the request fails;
 * - 'pause': held back `ms` before it is sent (a holder frozen right before this write).
 */
export type UpdateFault = 'lost' | 'crash' | 'pause';

/**
 * A document client on DynamoDB Local whose `nth` (default first) UpdateItem on `table` suffers `fault`;
 * every other call goes through untouched.
 */
export function faultyDocumentClient(
  endpoints: LocalEndpoints,
  table: string,
  { fault, nth = 1, ms = 0 }: { fault: UpdateFault; nth?: number; ms?: number },
) {
  const client = localDynamoDbClient(endpoints);
  let seen = 0;
  const hit = (context: { commandName?: string }, args: unknown) =>
    context.commandName === 'UpdateItemCommand' &&
    (args as { input?: { TableName?: string } }).input?.TableName === table &&
    ++seen === nth;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (fault === 'pause') {
        if (hit(context, args)) await sleep(ms);
        return next(args);
      }
      const out = await next(args);
      if (hit(context, args))
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
      return out;
    },
    // Inside the retry loop (deserialize) the SDK resends; outside it (initialize) the error is final.
    { step: fault === 'lost' ? 'deserialize' : 'initialize', name: 'updateFault' } as { step: 'initialize' },
  );
  return DynamoDBDocumentClient.from(client);
}
