import { defineConfig } from 'vitest/config';

export default defineConfig({
  // src/build/*.cts (CommonJS that bin/coupon-audit loads before the bundle) are TypeScript too,
  // where a module the tests import imports one (cli/main.ts: build/mask-argv.cts).
  oxc: { include: /\.[cm]?tsx?$/ },
  test: {
    include: ['test/**/*.test.ts'],
    // Starts a throwaway server for the run unless TEST_DATABASE_URL names one.
    globalSetup: ['test/global-setup.ts'],
    // In the workers: on Ctrl-C, stop the throwaway servers a test file started before exiting.
    setupFiles: ['test/worker-signals.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration files each own a database; a few at once keeps a 2-core machine responsive.
    maxWorkers: 3,
  },
});
