/**
 * File names looked for in each directory, in this order. A module of its own with no imports,
 * so Tab completion can find the configuration file without loading cosmiconfig and zod.
 */
export const SEARCH_PLACES: readonly string[] = [
  'opsctl.config.ts',
  'opsctl.config.js',
  'opsctl.config.mjs',
  'opsctl.config.cjs',
  'opsctl.config.json',
  'opsctl.config.yaml',
  'opsctl.config.yml',
  '.opsctlrc',
  '.opsctlrc.json',
  '.opsctlrc.yaml',
  '.opsctlrc.yml',
  '.opsctlrc.js',
  '.opsctlrc.mjs',
  'package.json',
];
