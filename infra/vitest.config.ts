import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Synthesis bundles both handlers with esbuild (about a second each) and `cdk synth` spawns the whole
    // app (about 10 s): each file synthesizes once in beforeAll and shares the result.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
