import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests open real sockets and child processes; two cores are all we have.
    pool: 'forks',
    maxWorkers: 2,
  },
});
