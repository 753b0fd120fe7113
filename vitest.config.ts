import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string): string => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name; in tests that name means the sources.
    alias: [
      { find: /^wspipe$/, replacement: src('index.ts') },
      { find: /^wspipe\/protocol$/, replacement: src('protocol/index.ts') },
      { find: /^wspipe\/streams$/, replacement: src('streams/index.ts') },
      { find: /^wspipe\/relay$/, replacement: src('relay/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.{ts,mjs}'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests open real sockets and child processes; two cores are all we have.
    pool: 'forks',
    maxWorkers: 2,
  },
});
