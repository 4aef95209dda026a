import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDocsProgram, examplesIn, fullName, generatedFiles, leafCommands, troubleshootingMarkdown } from '../../src/cli/docs-gen.js';
import { ERROR_CODES } from '../../src/core/error-codes.js';
import { runCli } from '../helpers/cli.js';

const committed = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

let program: Command;
beforeAll(async () => {
  program = (await buildDocsProgram()).program;
});

describe('generated docs', () => {
  it('docs/commands.md and docs/troubleshooting.md are up to date (run `npm run docs`)', async () => {
    const files = await generatedFiles('docs');
    expect(Object.keys(files)).toEqual(['docs/commands.md', 'docs/troubleshooting.md']);
    for (const [file, content] of Object.entries(files)) expect(committed(file), `${file} is stale: run \`npm run docs\``).toBe(content);
  });

  it('the command reference names every command and option', async () => {
    const text = (await generatedFiles('docs'))['docs/commands.md']!;
    for (const command of leafCommands(program)) {
      expect(text).toContain(`${fullName(command)}\n`);
      // Inside a Markdown table a `|` in a flag's value name (`<profile|url>`) is escaped.
      for (const option of command.options) if (!option.hidden) expect(text).toContain(`\`${option.flags.replaceAll('|', '\\|')}\``);
    }
  });

  it('the troubleshooting page has every error code with its exit code, causes and fixes', () => {
    const text = troubleshootingMarkdown();
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const section = text.slice(text.indexOf(`### ${code}\n`)).split('\n### ')[0]!;
      expect(section).toContain(`Exit code **${info.exitCode}**`);
      for (const line of [...info.causes, ...info.fixes]) expect(section).toContain(`- ${line}`);
    }
  });
});

describe('help', () => {
  it('every command that runs shows at least one example in its --help', async () => {
    const leaves = leafCommands(program);
    expect(leaves.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const command of leaves) {
      const argv = [...fullName(command).split(' ').slice(1), '--help'];
      const result = await runCli(argv);
      expect(result.code, argv.join(' ')).toBe(0);
      if (examplesIn(result.stdout).length === 0) missing.push(fullName(command));
    }
    expect(missing).toEqual([]);
  });
});
