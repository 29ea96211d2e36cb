import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          // One set of local services (DynamoDB Local, redis-server, the Upstash endpoint) for every
          // file; each file works in its own tables and keys.
          globalSetup: ['support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['faults/**/*.test.ts'],
          // The fault soaks start their own services (they pause, flush and restart them) and run
          // after the e2e tests, one file at a time: they load both cores.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
