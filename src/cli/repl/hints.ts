import type { Command, Option } from 'commander';
import { analyseLine } from '../completion/engine.js';
import { completionWords } from './words.js';

/** Shell words that are not commands of the tree. */
export const SHELL_WORDS: Readonly<Record<string, string>> = {
  use: '<profile>',
  exit: '',
  quit: '',
};

/**
 * The dim text shown after the cursor as a command is typed, like redis-cli's hints: what the
 * command still expects. `config get ` → `<path>`; `config ` → `init|validate|show|…`;
 * `-o ` → `table|json|yaml|csv`. Empty when there is nothing useful to say.
 */
export function hintFor(program: Command, line: string): string {
  if (line.trim() === '') return '';
  const words = completionWords(line);
  const current = words.at(-1) ?? '';
  // A complete command name without the blank yet: hint as if the blank were typed.
  if (current !== '') {
    const shellHint = words.length === 1 ? SHELL_WORDS[current] : undefined;
    if (shellHint !== undefined) return shellHint === '' ? '' : ` ${shellHint}`;
    const before = analyseLine(program, words);
    const exact = before.target.kind === 'commands' && before.target.command.commands.some((sub) => sub.name() === current);
    return exact ? ` ${describeNext(program, [...words, ''])}`.trimEnd() : '';
  }
  if (SHELL_WORDS[words[0]!] !== undefined) return words.length === 2 ? SHELL_WORDS[words[0]!]! : '';
  return describeNext(program, words);
}

function describeNext(program: Command, words: string[]): string {
  const { target, args, command } = analyseLine(program, words);
  switch (target.kind) {
    case 'commands': {
      const names = target.command.commands.filter((sub) => !(sub as Command & { _hidden?: boolean })._hidden).map((sub) => sub.name());
      return shorten(names.join('|'));
    }
    case 'option-value':
      return target.option.argChoices !== undefined ? target.option.argChoices.join('|') : valueName(target.option);
    case 'options':
      return '';
    case 'argument': {
      // A word that is no command (a typo): nothing to say.
      if (command === program) return '';
      const remaining = command.registeredArguments.slice(args.length).map((argument) => {
        const name = `${argument.name()}${argument.variadic ? '…' : ''}`;
        return argument.required ? `<${name}>` : `[${name}]`;
      });
      const own = command.options.filter((option) => !option.hidden).map((option) => option.long ?? option.short ?? '');
      if (own.length > 0) remaining.push(`[${shorten(own.join(' '), 40)}]`);
      return remaining.join(' ');
    }
  }
}

function valueName(option: Option): string {
  return /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags)?.slice(1).find((name) => name !== undefined) ?? 'value';
}

function shorten(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
