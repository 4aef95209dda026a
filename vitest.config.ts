import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration files start their own servers; they share them per file, so files run in
    // parallel (2 cores) while the tests inside a file run in order.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
