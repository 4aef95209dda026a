import { readFileSync } from 'node:fs';

/**
 * What main needs to know about the command line before it loads commander: which group is
 * addressed (so only that group's module is imported) and whether the answer is just the version.
 */

/** Global options that take a value: needed to find the group name before commander runs. */
const VALUE_OPTIONS = new Set(['--profile', '--config', '-o', '--output']);

/** The group a command line addresses (`opsctl --profile x config show` → `config`). */
export function targetGroup(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i]!;
    if (word === '--') return argv[i + 1];
    if (VALUE_OPTIONS.has(word)) {
      i += 1;
      continue;
    }
    if (word.startsWith('-')) continue;
    return word === 'help' ? argv[i + 1] : word;
  }
  return undefined;
}

/** The version in package.json (read at run time: one source of truth). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `opsctl --version` / `opsctl -V` alone: answered without loading commander. */
export function isVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
}

/**
 * `--yes=<profile>` → `--yes-profile <profile>`: confirms destructive steps on that protected
 * profile only. Rewritten before parsing so `--yes` stays a plain flag.
 */
export function expandYesProfile(argv: readonly string[]): string[] {
  return argv.flatMap((word) => {
    const match = /^--yes=(.+)$/.exec(word);
    return match === null ? [word] : ['--yes-profile', match[1]!];
  });
}
