// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.opsctl/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    // The domain never touches the terminal or the process: DESIGN.md's "commands thin, domain pure".
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['chalk', 'commander', 'ora', '@inquirer/prompts', 'cli-table3'] }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'only src/cli/main.ts decides exit codes' },
        { object: 'process', property: 'stdout', message: 'the domain returns data; the CLI prints it' },
      ],
    },
  },
  {
    files: ['bench/**', 'bin/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
);
