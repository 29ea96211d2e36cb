import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '@leasehold/local';
import { runConformance } from '@leasehold/testkit';
import { createLockTable, dynamoDbStore } from '../src/index.js';

// Its own DynamoDB Local per harness: the outage test stops the service it was given. The store has
// withdraw but no waitForRelease (core polls it): the suite checks both.
runConformance('dynamodb', { supports: { waitForRelease: false, withdraw: true } }, async () => {
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
    // Each store gets its own client, as a separate Lambda instance would.
    newStore: () => dynamoDbStore({ client: newClient(), tableName }),
    async deleteState(key) {
      await admin.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: { S: key } } }));
    },
    stopService: () => ddb.stop(),
    teardown: () => ddb.stop(),
  };
});
