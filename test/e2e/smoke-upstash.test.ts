import { startLocalStores, startUpstashEndpoint } from '@leasehold/local';
import { describe, expect, it } from 'vitest';
import { smokeUpstash } from '../smoke/upstash.js';
import { endpoints } from '../support/harness.js';

describe('the real-Upstash smoke check (npm run smoke:upstash)', () => {
  it('passes every check on the local endpoint, which answers as Upstash does', async () => {
    const { url, token } = endpoints().upstash!;
    const checks = await smokeUpstash(url, token);
    expect(checks.map(({ name, ok }) => ({ name, ok }))).toEqual(
      checks.map(({ name }) => ({ name, ok: true })),
    );
    expect(checks).toHaveLength(4);
  });

  it('fails the key-locking check, and only that one, on a plain Redis behind a REST proxy', async () => {
    const local = await startLocalStores({ services: ['redis'] });
    const plain = await startUpstashEndpoint({ redisPort: local.redis!.port, upstashScriptFlags: false });
    try {
      const checks = await smokeUpstash(plain.url, plain.token);
      expect(checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
        'the script runs with allow-key-locking (the server accepts the flag)',
      ]);
    } finally {
      await plain.stop();
      await local.stop();
    }
  });
});
