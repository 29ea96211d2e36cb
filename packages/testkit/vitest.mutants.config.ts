import { defineConfig } from 'vitest/config';

// Only for test/mutants/prove.mjs: the conformance suite over one deliberately broken store.
export default defineConfig({
  test: {
    include: ['test/mutants/*.mutant.ts'],
    testTimeout: 30_000,
  },
});
