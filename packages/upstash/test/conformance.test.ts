import { startLocalStores } from '@leasehold/local';
import { runConformance } from '@leasehold/testkit';
import { Redis } from '@upstash/redis';
import { upstashKeyNames, upstashStore } from '../src/index.js';

runConformance('upstash', async () => {
  const local = await startLocalStores({ services: ['upstash'] });
  const { url, token } = local.upstash!;
  const admin = new Redis({ url, token, automaticDeserialization: false, enableAutoPipelining: false });
  return {
    // Each store gets its own client, as a separate Lambda instance would.
    newStore: () => upstashStore({ url, token }),
    async deleteState(key) {
      const names = upstashKeyNames(key);
      await admin.del(names.lock, names.fence);
    },
    // The redis-server behind the REST endpoint dies, as a failed Upstash database would.
    stopService: () => local.redis!.stop(),
    teardown: () => local.stop(),
  };
});
