// Written as CommonJS on purpose: package.json has no "type": "module", so .ts files are CommonJS to
// both tsc and Vite's config loader (ESM syntax here makes Vite warn on every run), and vitest/config is
// ESM-only, so the type comes in through an import type with an explicit resolution mode.
// typescript-eslint 8.74 reads the import attributes below as an object literal assignment.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
type ViteUserConfig = import('vitest/config', { with: { 'resolution-mode': 'import' } }).ViteUserConfig;

// Three projects in one `vitest run`:
// - unit: every test/**/*.test.ts outside test/integration/, no network, default 5 s timeout;
// - integration: test/integration/**, against a real Azurite that test/global-setup.ts starts (or reuses
//   on the default ports) only when integration tests are selected;
// - e2e: test/e2e/**, the local app (`npm start`'s code, its own Azurite) in headless chromium.
const config: ViteUserConfig = {
  test: {
    pool: 'forks',
    // 2 cores: one worker per core; Azurite runs in its own process and mostly waits on I/O.
    maxWorkers: 2,
    teardownTimeout: 15_000,
    // In CI, also a JSON report: .ci/run prints its "N passed, N failed" line from it.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: 'test-results/vitest.json' }]]
      : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/e2e/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        // Browser tests: the whole local app (its own Azurite, sandbox) driven through Debian's chromium.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
};

module.exports = config;
