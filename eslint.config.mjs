// Type-aware lint; formatting is Prettier's job (eslint-config-prettier turns style rules off).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'src/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { n },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'n/prefer-node-protocol': 'error',
      'n/no-process-exit': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'describe', property: 'only', message: 'Do not commit .only' },
        { object: 'it', property: 'only', message: 'Do not commit .only' },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@grpc/*', 'undici', 'node:http', 'node:http2', 'pino', 'prom-client'],
              message: 'The decision core is transport-independent.',
            },
            {
              group: ['../rti/*', '../adapters/*', '../observability/*', '../config/*'],
              message: 'The decision core imports only ./ and node: builtins.',
            },
          ],
        },
      ],
    },
  },
  {
    // The challenge primitives are imported by the core; the provider clients (providers/) do I/O.
    files: ['src/challenge/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@grpc/*', 'undici', 'node:http', 'node:http2', 'pino', 'prom-client'],
              message: 'The challenge primitives are pure and transport-independent.',
            },
            {
              group: ['../rti/*', '../adapters/*', '../observability/*', '../config/*'],
              message: 'The challenge primitives import only ../core/ types and node: builtins.',
            },
          ],
        },
      ],
    },
  },
  {
    // Only main ends the process or sets its exit code; the rest returns or throws.
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "AssignmentExpression > MemberExpression.left[object.name='process'][property.name='exitCode']",
          message: 'Return the exit code; only src/main.ts sets it.',
        },
      ],
    },
  },
  {
    files: ['src/main.ts'],
    rules: { 'n/no-process-exit': 'off' },
  },
  {
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Small Node scripts run by npm: they report on the console and set their exit status.
    files: ['scripts/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: { 'n/no-process-exit': 'off' },
  },
  prettier,
);
