import type { Argument, Command, Option } from 'commander';
import { systemClock } from '../core/clock.js';
import { ERROR_CODES } from '../core/error-codes.js';
import { ExitCode } from '../core/exit-codes.js';
import { SCRIPT_FILES, SHELLS, completionScript } from './completion/scripts.js';
import { buildProgram } from './program.js';
import { testIO } from './ui/io.js';

/**
 * Generated files: the command reference (from the commander tree), the troubleshooting page
 * (from the error catalogue) and the shell completion scripts. `npm run docs` and
 * `npm run completions` write them; tests fail when a committed copy differs.
 */

/** The whole tree, built as `opsctl` builds it, with help output captured instead of printed. */
export async function buildDocsProgram(): Promise<{ program: Command; helpOf(command: Command): string }> {
  const io = testIO();
  let captured = '';
  const program = await buildProgram(
    { io: { ...io, stdout: { write: (text: string) => (captured += text) } }, env: {}, cwd: process.cwd(), clock: systemClock, signal: new AbortController().signal },
    { load: 'all' },
  );
  // Help text must not depend on the terminal that runs the generator.
  program.configureHelp({ helpWidth: 100 });
  return {
    program,
    helpOf(command) {
      captured = '';
      command.outputHelp();
      return captured;
    },
  };
}

const isHidden = (command: Command) => (command as Command & { _hidden?: boolean })._hidden === true;

/** Every visible command below `command`, depth first, in declaration order. */
export function walkCommands(command: Command): Command[] {
  return command.commands.filter((sub) => !isHidden(sub)).flatMap((sub) => [sub, ...walkCommands(sub)]);
}

/** Commands that run something (no subcommands). */
export function leafCommands(program: Command): Command[] {
  return walkCommands(program).filter((command) => command.commands.length === 0);
}

export function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The `$ …` lines of a help text's "Examples:" block. */
export function examplesIn(help: string): string[] {
  const block = /\nExamples:\n((?: {2}\$ .*\n?)+)/.exec(help)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => line.startsWith('  $ '))
    .map((line) => line.slice(4));
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function optionRow(option: Option): string {
  const extra: string[] = [];
  if (option.argChoices !== undefined) extra.push(`one of: ${option.argChoices.map((c) => `\`${c}\``).join(', ')}`);
  const fallback = option.defaultValueDescription ?? (option.defaultValue === undefined ? undefined : JSON.stringify(option.defaultValue));
  const isNegation = option.negate && option.defaultValue === true;
  return `| \`${cell(option.flags)}\` | ${cell([option.description, ...extra].filter((t) => t !== '').join('; '))} | ${fallback === undefined || isNegation ? '' : `\`${cell(fallback)}\``} |`;
}

function argumentRow(argument: Argument): string {
  const name = argument.required ? `<${argument.name()}${argument.variadic ? '...' : ''}>` : `[${argument.name()}${argument.variadic ? '...' : ''}]`;
  const extra = argument.argChoices === undefined ? [] : [`one of: ${argument.argChoices.map((c) => `\`${c}\``).join(', ')}`];
  const fallback = argument.defaultValue === undefined ? '' : `\`${cell(JSON.stringify(argument.defaultValue))}\``;
  return `| \`${cell(name)}\` | ${cell([argument.description, ...extra].filter((t) => t !== '').join('; '))} | ${fallback} |`;
}

const summaryOf = (command: Command) => command.summary() || command.description().split('\n')[0]!;

const anchor = (text: string) => text.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');

/** docs/commands.md. */
export function commandsMarkdown(program: Command, helpOf: (command: Command) => string): string {
  const out: string[] = [
    '# Command reference',
    '',
    '<!-- Generated from the command tree by `npm run docs` (src/cli/docs-gen.ts). Do not edit: a test fails when it is stale. -->',
    '',
    program.description(),
    '',
    '## Global options',
    '',
    'Accepted by every command, before or after the command name.',
    '',
    '| Option | Description | Default |',
    '|---|---|---|',
    ...program.options.filter((o) => !o.hidden).map(optionRow),
    '',
    '## Commands',
    '',
  ];
  const groups = program.commands.filter((command) => !isHidden(command));
  for (const group of groups) {
    out.push(`- [${fullName(group)}](#${anchor(fullName(group))}): ${summaryOf(group)}`);
  }
  out.push('');
  for (const command of walkCommands(program)) {
    const name = fullName(command);
    const depth = Math.min(command.parent === program ? 2 : 3, 3);
    const [first = '', ...rest] = command.description().split('\n');
    out.push(`${'#'.repeat(depth + 1)} ${name}`, '', first, '');
    // Longer descriptions are laid out for a terminal: kept as they are.
    if (rest.join('').trim() !== '') out.push('```text', ...rest.join('\n').trim().split('\n'), '```', '');
    if (command.commands.length > 0) {
      out.push('| Command | Description |', '|---|---|');
      for (const sub of command.commands.filter((c) => !isHidden(c))) out.push(`| [\`${fullName(sub)}\`](#${anchor(fullName(sub))}) | ${cell(summaryOf(sub))} |`);
      out.push('');
    }
    const runs = command.commands.length === 0;
    if (!runs) continue;
    out.push('```', `${name} ${command.usage()}`.trimEnd(), '```', '');
    if (command.registeredArguments.length > 0) {
      out.push('| Argument | Description | Default |', '|---|---|---|', ...command.registeredArguments.map(argumentRow), '');
    }
    const options = command.options.filter((o) => !o.hidden);
    if (options.length > 0) out.push('| Option | Description | Default |', '|---|---|---|', ...options.map(optionRow), '');
    const examples = examplesIn(helpOf(command));
    if (examples.length > 0) out.push('Examples:', '', '```sh', ...examples.map((line) => `$ ${line}`), '```', '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

const EXIT_NAMES: Record<number, string> = {
  [ExitCode.Ok]: 'ok',
  [ExitCode.Failed]: 'the operation failed',
  [ExitCode.Usage]: 'usage or configuration error',
  [ExitCode.CheckFailed]: 'a check found problems',
  [ExitCode.Unreachable]: 'could not connect to a dependency',
  [ExitCode.Interrupted]: 'interrupted',
};

/** docs/troubleshooting.md, from src/core/error-codes.ts. */
export function troubleshootingMarkdown(): string {
  const entries = Object.entries(ERROR_CODES);
  const out: string[] = [
    '# Troubleshooting',
    '',
    '<!-- Generated from src/core/error-codes.ts by `npm run docs` (src/cli/docs-gen.ts). Do not edit: a test fails when it is stale. -->',
    '',
    'Every error opsctl reports on purpose has a stable code, printed with `--debug` and in',
    '`--json` error output, and an exit code scripts can branch on. Each message is followed by a',
    '`hint:` line; this page lists, per code, what usually causes it and how to fix it.',
    '',
    '## Exit codes',
    '',
    '| Exit code | Meaning | Codes |',
    '|---|---|---|',
  ];
  const byExit = new Map<number, string[]>();
  for (const [code, info] of entries) byExit.set(info.exitCode, [...(byExit.get(info.exitCode) ?? []), code]);
  for (const exit of Object.values(ExitCode)) {
    out.push(`| ${exit} | ${EXIT_NAMES[exit] ?? ''} | ${(byExit.get(exit) ?? []).map((code) => `[\`${code}\`](#${code.toLowerCase()})`).join(', ')} |`);
  }
  out.push('', '## Error codes', '');
  for (const [code, info] of entries) {
    out.push(`### ${code}`, '', `${info.summary} Exit code **${info.exitCode}** (${EXIT_NAMES[info.exitCode] ?? ''}).`, '', 'Causes:', '');
    out.push(...info.causes.map((cause) => `- ${cause}`), '', 'Fixes:', '', ...info.fixes.map((fix) => `- ${fix}`), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** Every generated file, relative to the package root. */
export async function generatedFiles(kind: 'docs' | 'completions'): Promise<Record<string, string>> {
  if (kind === 'completions') {
    return Object.fromEntries(SHELLS.map((shell) => [`completions/${SCRIPT_FILES[shell]}`, completionScript(shell)]));
  }
  const { program, helpOf } = await buildDocsProgram();
  return { 'docs/commands.md': commandsMarkdown(program, helpOf), 'docs/troubleshooting.md': troubleshootingMarkdown() };
}
