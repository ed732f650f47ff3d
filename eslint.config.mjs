// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Node globals for the few plain JavaScript files (bin/, config files); TypeScript files get theirs from
// @types/node through the type checker.
const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  require: 'readonly',
  module: 'writable',
  exports: 'writable',
  __dirname: 'readonly',
  __filename: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  URL: 'readonly',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.azurite/'] },

  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Table keys may not contain control characters (see platform facts), so the code that validates
      // and encodes keys matches them on purpose.
      'no-control-regex': 'off',
    },
  },

  // Plain JavaScript is outside tsconfig.json: lint it without type information.
  {
    files: ['**/*.{js,cjs,mjs}'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: nodeGlobals },
  },
  {
    files: ['**/*.{js,cjs}'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },

  // The domain is pure: no Azure SDK, no I/O.
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'http', 'https', 'node:fs', 'node:http', 'node:https'].map((name) => ({
            name,
            message: 'src/domain is pure: do I/O in src/adapters behind a port.',
          })),
          patterns: [
            {
              group: ['@azure/*'],
              message: 'src/domain is pure: only src/adapters imports @azure/*.',
            },
            {
              group: ['fs/*', 'node:fs/*'],
              message: 'src/domain is pure: do I/O in src/adapters behind a port.',
            },
          ],
        },
      ],
    },
  },

  // One error model: above src/adapters, code decides on the ports' ServiceFailure (failureOf), never on
  // an HTTP status or an error's name (adapters map SDK errors; src/adapters/service-errors.ts).
  {
    files: ['src/{app,domain,cli,dashboard}/**/*.ts', 'src/*.ts', 'functions/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "BinaryExpression > MemberExpression[property.name='statusCode']",
          message: 'HTTP statuses stay in src/adapters: decide on failureOf(error) (ServiceFailure).',
        },
        {
          selector: 'BinaryExpression > Literal[value=/^[A-Za-z]*Error$/]',
          message: "Decide on failureOf(error) or instanceof, not on an error's name.",
        },
      ],
    },
  },

  // Tests: vitest's expect(...).rejects and mocks make these noisy without finding bugs.
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
