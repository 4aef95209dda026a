import { OpsError } from '../../core/errors.js';
import type { IOStreams } from './io.js';

/**
 * Asking the operator. Never prompts when stdin is not a terminal or `--no-input` was given:
 * it fails with the flag to pass instead. @inquirer/prompts is loaded only when a prompt is shown.
 */
export interface Prompter {
  /** True when prompting is allowed. */
  readonly interactive: boolean;
  confirm(message: string, options?: { default?: boolean; flag?: string }): Promise<boolean>;
  input(message: string, options: { default?: string; flag: string; validate?: (value: string) => string | true }): Promise<string>;
  select<T extends string>(message: string, choices: readonly { value: T; name?: string; description?: string }[], options: { default?: T; flag: string }): Promise<T>;
  password(message: string, options: { flag: string }): Promise<string>;
}

export function createPrompter(io: IOStreams, options: { noInput: boolean }): Prompter {
  const interactive = io.stdinIsTTY && io.stderrIsTTY && !options.noInput;
  const refuse = (message: string, flag: string): never => {
    const why = options.noInput ? '--no-input was given' : 'stdin is not a terminal';
    throw new OpsError('INPUT_REQUIRED', `cannot ask "${message}": ${why}`, { hint: `pass ${flag}` });
  };
  // Prompts draw on stderr so stdout stays clean data even in interactive runs.
  const context = { output: process.stderr } as const;
  return {
    interactive,
    async confirm(message, opts) {
      if (!interactive) return refuse(message, opts?.flag ?? '--yes');
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: opts?.default ?? false }, context);
    },
    async input(message, opts) {
      if (!interactive) return refuse(message, opts.flag);
      const { input } = await import('@inquirer/prompts');
      return input({ message, default: opts.default, validate: opts.validate }, context);
    },
    async select(message, choices, opts) {
      if (!interactive) return refuse(message, opts.flag);
      const { select } = await import('@inquirer/prompts');
      return select({ message, choices: [...choices], default: opts.default }, context);
    },
    async password(message, opts) {
      if (!interactive) return refuse(message, opts.flag);
      const { password } = await import('@inquirer/prompts');
      return password({ message, mask: '*' }, context);
    },
  };
}
