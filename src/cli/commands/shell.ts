import type { Command } from 'commander';
import { OpsError } from '../../core/errors.js';
import { withExamples, type ActionFactory } from '../command-kit.js';
import type { ShellInput, ShellOutput } from '../repl/shell.js';

/**
 * `opsctl shell` (and `opsctl` alone on a terminal): the interactive mode. Reads commands from
 * stdin; on a terminal with a prompt, completion, hints and history, otherwise line by line
 * (`opsctl shell < script` runs a script with one set of connections).
 */
// Kept under 76 columns: commander wraps longer lines of a description.
const DETAILS = `Lines are opsctl commands without "opsctl" (config profiles, doctor, …),
parsed exactly as on the command line. Redis and PostgreSQL connections
are opened once and kept until the shell ends. The prompt shows the
profile ("!" marks a protected one) and the open connections:
  opsctl [prod!] redis✓ pg✓ ›

  use <profile>       switch profile (its connections are closed)
  help [command]      help, as \`opsctl help\`
  exit, quit, Ctrl-D  leave
  Tab                 complete commands, flags, values, profiles, keys
  Ctrl-R              search the history ($XDG_STATE_HOME/opsctl/history,
                      appended per line; lines starting with a blank are
                      not kept)
  Ctrl-C              cancel the running command, or clear the line
Dim text after the cursor says what the command still expects (when
colour is on).`;

export function register(command: Command, action: ActionFactory): void {
  command.summary(command.description()).description(`${command.description()}\n\n${DETAILS}`);
  withExamples(
    command.action(
      action(async (ctx) => {
        const input = ctx.io.stdin as Partial<ShellInput>;
        if (typeof input.on !== 'function') {
          throw new OpsError('USAGE', 'the shell needs a readable stdin', { hint: 'run `opsctl shell` from a terminal, or pipe commands into it' });
        }
        const { runShell } = await import('../repl/shell.js');
        ctx.exitCode = await runShell({
          input: input as ShellInput,
          output: ctx.io.stdout as ShellOutput,
          errorOutput: ctx.io.stderr as ShellOutput,
          env: ctx.env,
          cwd: ctx.cwd,
          globals: ctx.globals,
          signal: ctx.signal,
        });
      }),
    ),
    [
      'opsctl                                  # on a terminal: same as opsctl shell',
      'opsctl shell --profile staging',
      "printf 'config profiles\\ndoctor\\n' | opsctl shell   # a script, one set of connections",
    ],
  );
}
