import type { Command } from 'commander';
import type { CommandContext } from './context.js';
import type { ExplainStep } from '../core/explain.js';
import { OpsError } from '../core/errors.js';

/**
 * What a command group module needs to declare its commands (program.ts loads the modules;
 * they import this, not the program, so the tree has no import loop).
 */

/** Wraps a command body: builds the context from the parsed flags, runs, closes connections. */
export type ActionFactory = <A extends unknown[]>(
  body: (ctx: CommandContext, ...args: A) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

/**
 * Describes a command's server work for `--explain`; receives the same arguments as its action
 * and must not connect (it may read the configuration and local files).
 */
export type Explainer = (ctx: CommandContext, ...args: never[]) => Promise<ExplainStep[]>;

const explainers = new WeakMap<Command, Explainer>();

/** Gives a command `--explain`. */
export function withExplain(command: Command, explainer: Explainer): Command {
  explainers.set(command, explainer);
  return command;
}

export async function explainCommand(ctx: CommandContext, command: Command, args: unknown[]): Promise<void> {
  const explainer = explainers.get(command);
  if (explainer === undefined) {
    const path: string[] = [];
    for (let at: Command | null = command; at?.parent; at = at.parent) path.unshift(at.name());
    throw new OpsError('EXPLAIN_UNSUPPORTED', `\`opsctl ${path.join(' ')}\` has no --explain`, {
      hint: 'it reaches neither Redis nor PostgreSQL, or what it sends depends on answers; use --debug to trace a real run',
    });
  }
  const { printExplain } = await import('./ui/explain.js');
  printExplain(ctx.out, await explainer(ctx, ...(args as never[])));
}

/** Appends an "Examples:" block to a command's help: every command shows at least one. */
export function withExamples(command: Command, examples: readonly string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}\n`);
}
