import { startLocalStores, startUpstashEndpoint } from '@leasehold/local';
import { runConformance } from '@leasehold/testkit';
import { Redis } from '@upstash/redis';
import { upstashKeyNames, upstashStore } from '../src/index.js';

/**
 * The suite over the REST endpoint as Upstash answers (`upstashScriptFlags`: the script runs with its
 * `allow-key-locking` flag) and as a plain Redis behind a REST proxy answers (the flag refused: the
 * store falls back to the script without it).
 */
for (const upstashScriptFlags of [true, false]) {
  runConformance(
    upstashScriptFlags ? 'upstash' : 'upstash on a plain Redis behind a REST proxy',
    // Both optional methods, on either path: the suite checks that the store has them.
    { supports: { waitForRelease: true, withdraw: true } },
    async () => {
      const local = await startLocalStores({ services: ['redis'] });
      const endpoint = await startUpstashEndpoint({ redisPort: local.redis!.port, upstashScriptFlags });
      const { url, token } = endpoint;
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
        async teardown() {
          await endpoint.stop();
          await local.stop();
        },
      };
    },
  );
}
