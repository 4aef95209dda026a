import type { Argument, Command, Option } from 'commander';
import { COMPLETERS_BY_PATH } from './completers.js';
import { Directive, completerOf, type Candidate, type CompletionGlobals, type CompletionResult, type DynamicCompleter } from './types.js';

/** Where the word under the cursor sits in the command tree. */
export type CompletionTarget =
  | { kind: 'commands'; command: Command }
  | { kind: 'options'; command: Command; used: ReadonlySet<Option> }
  | { kind: 'option-value'; command: Command; option: Option; prefix: string }
  | { kind: 'argument'; command: Command; argument: Argument | undefined };

export interface LineAnalysis {
  /** The deepest command the words name. */
  command: Command;
  target: CompletionTarget;
  globals: CompletionGlobals;
  /** The word being completed (empty after a space). */
  current: string;
  /** Positional arguments given to `command` so far. */
  args: string[];
}

export interface EngineOptions {
  /** Runs a dynamic completer (under its budget, through the cache); absent: dynamic values are skipped. */
  runDynamic?: (completer: DynamicCompleter, prefix: string, globals: CompletionGlobals) => Promise<CompletionResult>;
  /** Extra words offered at the top level (the REPL's `use`, `exit`). */
  extraCommands?: readonly Candidate[];
}

/** Commander keeps these internal; the help object exposes what `--help` would show. */
function visibleCommands(command: Command): Command[] {
  return command.createHelp().visibleCommands(command);
}

function visibleOptions(command: Command): Option[] {
  return command.createHelp().visibleOptions(command);
}

/** Options valid at `command`: its own, then every ancestor's (commander accepts them anywhere). */
function optionsInScope(command: Command): Option[] {
  const options: Option[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) {
    for (const option of visibleOptions(c)) {
      if (c !== command && (option.long === '--help' || option.long === '--version')) continue;
      options.push(option);
    }
  }
  return options;
}

function findOption(command: Command, flag: string): Option | undefined {
  for (let c: Command | null = command; c !== null; c = c.parent) {
    const found = [...c.options, ...visibleOptions(c)].find((option) => option.long === flag || option.short === flag);
    if (found !== undefined) return found;
  }
  return undefined;
}

function findSubcommand(command: Command, name: string): Command | undefined {
  return command.commands.find((sub) => sub.name() === name || sub.aliases().includes(name));
}

const takesValue = (option: Option): boolean => option.required || option.optional;

/**
 * Reads the words typed so far (everything after `opsctl`; the last one is the word being
 * completed, possibly empty) the way commander will parse them, and says what may come next.
 */
export function analyseLine(program: Command, words: readonly string[]): LineAnalysis {
  const done = words.slice(0, -1);
  const current = words.at(-1) ?? '';
  let command = program;
  const args: string[] = [];
  const used = new Set<Option>();
  const globals: CompletionGlobals = {};
  let optionsEnded = false;
  let pending: Option | undefined;

  const options: Record<string, string> = {};
  const noteValue = (option: Option, value: string) => {
    if (option.long === '--profile') globals.profile = value;
    if (option.long === '--config') globals.config = value;
    if (option.long !== undefined) options[option.long] = value;
  };

  // An option whose value is optional takes the next word unless it looks like an option (commander's rule).
  let optionalPending: Option | undefined;
  for (const word of done) {
    if (pending !== undefined) {
      noteValue(pending, word);
      pending = undefined;
      continue;
    }
    if (optionalPending !== undefined) {
      const option = optionalPending;
      optionalPending = undefined;
      if (!word.startsWith('-')) {
        noteValue(option, word);
        continue;
      }
    }
    if (!optionsEnded && word === '--') {
      optionsEnded = true;
      continue;
    }
    if (!optionsEnded && word.startsWith('-') && word !== '-') {
      const [flag, inline] = splitInline(word);
      const option = findOption(command, flag);
      if (option === undefined) continue;
      used.add(option);
      if (inline !== undefined) noteValue(option, inline);
      else if (option.required) pending = option;
      else if (option.optional) optionalPending = option;
      continue;
    }
    if (args.length === 0) {
      const sub = findSubcommand(command, word);
      if (sub !== undefined) {
        command = sub;
        continue;
      }
    }
    args.push(word);
  }

  if (Object.keys(options).length > 0) globals.options = options;
  let target: CompletionTarget;
  const valueOf = pending ?? (current.startsWith('-') ? undefined : optionalPending);
  if (valueOf !== undefined) {
    target = { kind: 'option-value', command, option: valueOf, prefix: '' };
  } else if (!optionsEnded && current.startsWith('-')) {
    const [flag, inline] = splitInline(current);
    const option = inline === undefined ? undefined : findOption(command, flag);
    target = option !== undefined && takesValue(option) ? { kind: 'option-value', command, option, prefix: `${flag}=` } : { kind: 'options', command, used };
  } else if (command === program && args[0] === 'help') {
    target = args.length === 1 ? { kind: 'commands', command: program } : { kind: 'argument', command, argument: undefined };
  } else if (args.length === 0 && command.commands.length > 0) {
    target = { kind: 'commands', command };
  } else {
    const declared = command.registeredArguments;
    const last = declared.at(-1);
    const argument = args.length < declared.length ? declared[args.length] : last?.variadic ? last : undefined;
    target = { kind: 'argument', command, argument };
  }
  return { command, target, globals, current, args };
}

function splitInline(word: string): [string, string | undefined] {
  const eq = word.indexOf('=');
  return word.startsWith('--') && eq > 0 ? [word.slice(0, eq), word.slice(eq + 1)] : [word, undefined];
}

const byPrefix = (prefix: string) => (candidate: Candidate) => candidate.value.startsWith(prefix);

/** Candidates for the last word of `words`, from the commander tree and the attached completers. */
export async function complete(program: Command, words: readonly string[], options: EngineOptions = {}): Promise<CompletionResult> {
  const line = analyseLine(program, words);
  const { target, current } = line;
  switch (target.kind) {
    case 'commands': {
      const candidates: Candidate[] = visibleCommands(target.command).map((sub) => ({ value: sub.name(), description: firstLine(sub.summary() || sub.description()) }));
      if (target.command === program) candidates.push(...(options.extraCommands ?? []));
      return { candidates: candidates.filter(byPrefix(current)), directive: Directive.NoFileComp };
    }
    case 'options': {
      const candidates: Candidate[] = [];
      for (const option of optionsInScope(target.command)) {
        if (target.used.has(option) && !option.variadic) continue;
        const description = firstLine(option.description);
        if (option.long !== undefined) candidates.push({ value: option.long, description });
        if (option.short !== undefined && (current === '-' || current === option.short)) candidates.push({ value: option.short, description });
      }
      return { candidates: candidates.filter(byPrefix(current)), directive: Directive.NoFileComp };
    }
    case 'option-value': {
      const value = current.slice(target.prefix.length);
      const result = await valuesFor(target.command, target.option, value, line.globals, options);
      return { ...result, candidates: result.candidates.map((c) => ({ ...c, value: `${target.prefix}${c.value}` })) };
    }
    case 'argument':
      if (target.argument === undefined) {
        // `help <group> <verb>` and commands without further arguments.
        if (target.command === program && line.args[0] === 'help') {
          const group = findSubcommand(program, line.args[1] ?? '');
          const verbs = group === undefined ? [] : visibleCommands(group).map((sub) => ({ value: sub.name(), description: firstLine(sub.summary() || sub.description()) }));
          return { candidates: line.args.length === 2 ? verbs.filter(byPrefix(current)) : [], directive: Directive.NoFileComp };
        }
        return { candidates: [], directive: Directive.NoFileComp };
      }
      return valuesFor(target.command, target.argument, current, line.globals, options);
  }
}

/** `redis keys` for the command under `opsctl`. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent != null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The completer attached to an option/argument, or registered for it by path. */
function dynamicCompleterFor(command: Command, target: Option | Argument): DynamicCompleter | undefined {
  const name = 'long' in target ? (target.long ?? target.short ?? '') : `<${target.name()}>`;
  return completerOf(target) ?? COMPLETERS_BY_PATH[`${commandPath(command)} ${name}`];
}

async function valuesFor(command: Command, target: Option | Argument, prefix: string, globals: CompletionGlobals, options: EngineOptions): Promise<CompletionResult> {
  if (target.argChoices !== undefined) {
    return { candidates: target.argChoices.map((value) => ({ value })).filter(byPrefix(prefix)), directive: Directive.NoFileComp };
  }
  const completer = dynamicCompleterFor(command, target);
  if (completer !== undefined) {
    if (options.runDynamic === undefined) return { candidates: [], directive: Directive.NoFileComp };
    const result = await options.runDynamic(completer, prefix, globals);
    return { ...result, candidates: result.candidates.filter(byPrefix(prefix)) };
  }
  // A free value (a path, a URL, a number): let the shell offer file names.
  return { candidates: [], directive: Directive.Default };
}

function firstLine(text: string | undefined): string | undefined {
  const line = text?.split('\n')[0]?.trim();
  return line === '' ? undefined : line;
}
