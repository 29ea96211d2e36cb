import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    // One set of local services (DynamoDB Local, redis-server, the Upstash endpoint) for every file;
    // each file works in its own tables and keys.
    globalSetup: ['support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
