// The conformance suite over a mutant of a real store (see mutants.ts): run by prove.mjs, not by `npm test`.
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLockTable, dynamoDbStore } from '@leasehold/dynamodb';
import { startDynamoDbLocal, startLocalStores, startUpstashEndpoint } from '@leasehold/local';
import { upstashKeyNames, upstashStore } from '@leasehold/upstash';
import { Redis } from '@upstash/redis';
import { runConformance } from '../../src/conformance.js';
import { MUTANTS } from './mutants.js';

const name = process.env.LEASEHOLD_MUTANT ?? '';
const mutant = MUTANTS[name];
if (!mutant) throw new Error(`LEASEHOLD_MUTANT: one of ${Object.keys(MUTANTS).join(', ')}`);

// A mutant keeps the optional methods of the store it wraps (mutants.ts, `bound`).
const upstashSupports = { supports: { waitForRelease: true, withdraw: true } };
const dynamoDbSupports = { supports: { waitForRelease: false, withdraw: true } };

if ((mutant.store ?? 'upstash') === 'upstash') {
  runConformance(`upstash, mutant ${name}`, upstashSupports, async () => {
    const local = await startLocalStores({ services: ['redis'] });
    const endpoint = await startUpstashEndpoint({ redisPort: local.redis!.port, upstashScriptFlags: true });
    const { url, token } = endpoint;
    const admin = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
    return {
      newStore: () => mutant.wrap(upstashStore({ url, token })),
      async deleteState(key) {
        const names = upstashKeyNames(key);
        await admin.del(names.lock, names.fence);
      },
      stopService: () => local.redis!.stop(),
      async teardown() {
        await endpoint.stop();
        await local.stop();
      },
    };
  });
} else {
  runConformance(`dynamodb, mutant ${name}`, dynamoDbSupports, async () => {
    const ddb = await startDynamoDbLocal();
    const newClient = () =>
      new DynamoDBClient({
        endpoint: ddb.endpoint,
        region: ddb.region,
        credentials: ddb.credentials,
        maxAttempts: 2,
      });
    const admin = newClient();
    const tableName = 'leasehold-conformance';
    await createLockTable(admin, tableName);
    return {
      newStore: () => mutant.wrap(dynamoDbStore({ client: newClient(), tableName })),
      async deleteState(key) {
        await admin.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: key } } }));
      },
      stopService: () => ddb.stop(),
      teardown: () => ddb.stop(),
    };
  });
}
