/**
 * The dependency rules of the two products in this repository (`npm run lint` runs them):
 *   domain ← use cases (src/app) ← adapters ← composition / config ← entry points (functions/, src/cli/)
 * and the developer kit (kit/) may import the app, never the other way round; no cycles anywhere.
 * test/unit/dependency-rules.test.ts proves each rule fails on a deliberate bad import.
 * @type {import('dependency-cruiser').IConfiguration}
 */
const app = '^(src|functions)/';
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle ties modules into one; split the shared part out.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'app-not-kit',
      severity: 'error',
      comment:
        'The deployed app (functions/, src/) never imports the developer kit (kit/): it is not deployed.',
      from: { path: app },
      to: { path: '^kit/' },
    },
    {
      name: 'domain-pure',
      severity: 'error',
      comment: 'src/domain imports only src/domain (no ports, adapters, config, SDKs or I/O).',
      from: { path: '^src/domain/' },
      to: { pathNot: ['^src/domain/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'domain-no-io',
      severity: 'error',
      comment: 'src/domain is pure: do I/O in src/adapters behind a port.',
      from: { path: '^src/domain/' },
      to: { dependencyTypes: ['core'], path: '^(fs|http|https|net|child_process)(/|$)' },
    },
    {
      name: 'use-cases-inward',
      severity: 'error',
      comment:
        'Use cases (src/app) import the domain and their ports only: no adapters, config, composition or entry points.',
      from: { path: '^src/app/' },
      to: { path: ['^src/(adapters|cli|dashboard)/', '^src/(composition|config)\\.ts$', '^functions/'] },
    },
    {
      name: 'adapters-inward',
      severity: 'error',
      comment:
        'Adapters implement ports: they import the domain and src/app ports, never config, composition or entry points.',
      from: { path: '^src/adapters/' },
      to: { path: ['^src/(cli|dashboard)/', '^src/(composition|config)\\.ts$', '^functions/'] },
    },
    {
      name: 'sdk-in-adapters',
      severity: 'error',
      comment:
        'Only src/adapters imports Azure SDKs (functions/ the Functions library, composition the credential type).',
      from: { path: '^src/(domain|app|cli|dashboard)/|^src/config\\.ts$' },
      to: { path: '@azure/' },
    },
    {
      name: 'sdk-errors-in-adapters',
      severity: 'error',
      comment:
        "The SDKs that throw RestError stay in src/adapters, which map it into the ports' ServiceError: functions/ and composition decide on ServiceFailure.",
      from: { path: '^functions/|^src/(composition|config)\\.ts$' },
      to: {
        path: '@azure/(core-rest-pipeline|core-client|data-tables|storage-blob|storage-queue|arm-compute|eventgrid)(/|$)',
      },
    },
    {
      name: 'composition-below-entry-points',
      severity: 'error',
      comment: 'Composition and config wire adapters; they never import entry points.',
      from: { path: '^src/(composition|config)\\.ts$' },
      to: { path: ['^src/(cli|dashboard)/', '^functions/'] },
    },
    {
      name: 'entry-points-apart',
      severity: 'error',
      comment: 'The CLI and the dashboard do not import the Functions entry points.',
      from: { path: '^src/(cli|dashboard)/' },
      to: { path: '^functions/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['cjs', 'es6'],
  },
};
