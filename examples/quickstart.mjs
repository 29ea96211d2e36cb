// `npm run example`, a short API tour: start the embedded local stores, then take leases with
// fencing tokens from both stores, the way a Lambda handler would. No AWS account, no Docker.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createLocker, LockTimeoutError } from '@leasehold/core';
import { createLockTable, dynamoDbStore } from '@leasehold/dynamodb';
import { startLocalStores } from '@leasehold/local';
import { upstashStore } from '@leasehold/upstash';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

console.log('Starting DynamoDB Local, redis-server and the Upstash-compatible endpoint on loopback...');
const local = await startLocalStores();
let failures = 0;
try {
  const client = new DynamoDBClient({
    endpoint: local.dynamodb.endpoint,
    region: local.dynamodb.region,
    credentials: local.dynamodb.credentials,
  });
  await createLockTable(client, 'leasehold-locks');

  const stores = {
    dynamodb: () =>
      dynamoDbStore({
        client: new DynamoDBClient({
          endpoint: local.dynamodb.endpoint,
          region: local.dynamodb.region,
          credentials: local.dynamodb.credentials,
        }),
        tableName: 'leasehold-locks',
      }),
    upstash: () => upstashStore({ url: local.upstash.url, token: local.upstash.token }),
  };

  for (const [name, newStore] of Object.entries(stores)) {
    console.log(`\n== ${name}`);
    // Two lockers with their own clients stand for two Lambda instances racing on one order.
    const a = createLocker({ store: newStore(), ttlMs: 2_000 });
    const b = createLocker({ store: newStore(), ttlMs: 2_000 });
    const key = `payment:order-${Date.now()}`;

    let balance = 0;
    const charge = async (locker, who) =>
      locker.withLock(key, async (lease) => {
        const before = balance; // a non-atomic read-modify-write: safe only under the lock
        await sleep(20);
        balance = before + 1;
        console.log(`  ${who} charged once with fencing token ${lease.token}`);
      });
    await Promise.all([
      charge(a, 'instance A'),
      charge(b, 'instance B'),
      charge(a, 'instance A'),
      charge(b, 'instance B'),
    ]);
    if (balance !== 4) failures++;
    console.log(`  4 sections ran one at a time: counter = ${balance} (expected 4)`);

    const held = await a.acquire(key);
    try {
      await b.acquire(key, { waitMs: 200 });
      failures++;
      console.log('  ERROR: a held lock was granted twice');
    } catch (err) {
      if (!(err instanceof LockTimeoutError)) throw err;
      console.log(
        `  held lock: B got ${err.code} after ${err.waitedMs} ms (holder has ${err.holder.remainingMs} ms left)`,
      );
    }
    await held.release();
    const state = await b.inspect(key);
    console.log(`  after release: held=${state.held}, last token ${state.token}`);
    await a.close();
    await b.close();
  }
} finally {
  await local.stop();
  console.log('\nLocal stores stopped.');
}
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('All checks passed.');
