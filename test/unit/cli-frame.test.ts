import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.js';
import { targetGroup } from '../../src/cli/argv.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('the CLI frame', () => {
  it('prints the version on stdout and exits 0', async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists every group and the exit codes in --help', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const group of ['config', 'doctor', 'dev']) expect(result.stdout).toMatch(new RegExp(`^\\s+${group}\\b`, 'm'));
    for (const flag of ['--profile', '--config', '--json', '--output', '--quiet', '--verbose', '--debug', '--no-color', '--no-input', '--yes']) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toContain('Exit codes:');
  });

  it.each([
    [['confg'], /unknown command 'confg'/, /did you mean config\?/],
    [['--jsn', 'doctor'], /unknown option '--jsn'/, /did you mean --json\?/],
    [['-o', 'xml', 'doctor'], /xml/, /table, json, yaml, csv|--help/],
  ])('rejects %j with exit 2 and a suggestion', async (argv, message, hint) => {
    const result = await runCli(argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const [first, second] = result.stderr.trimEnd().split('\n');
    expect(first).toMatch(/^error: /);
    expect(first).toMatch(message);
    expect(second).toMatch(/^hint: /);
    expect(second).toMatch(hint);
  });

  it.each([
    [['config', 'show'], 'config'],
    [['--profile', 'prod', 'doctor', '--json'], 'doctor'],
    [['-o', 'json', 'dev', 'status'], 'dev'],
    [['--config=x.yaml', 'dev'], 'dev'],
    [['help', 'config'], 'config'],
    [['--json'], undefined],
  ])('finds the group of %j before parsing', (argv, group) => {
    expect(targetGroup(argv)).toBe(group);
  });
});
