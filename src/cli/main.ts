import type { CommanderError } from 'commander';
import { systemClock } from '../core/clock.js';
import { ERROR_CODES } from '../core/error-codes.js';
import { OpsError, isOpsError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { secrets } from '../core/redact.js';
import type { Runtime } from './context.js';
import type { ContextFactory } from './program.js';
import { expandYesProfile, isVersionOnly, packageVersion, targetGroup } from './argv.js';
import { processIO, type IOStreams } from './ui/io.js';
import type { Theme } from './ui/theme.js';

export interface MainOverrides {
  io?: IOStreams;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** Builds each command's context (the REPL's keeps connections open across lines). */
  createContext?: ContextFactory;
}

/**
 * argv → program → exit code. The one place that turns errors into messages and exit codes;
 * nothing below it prints errors or exits.
 */
export async function main(argv: readonly string[], overrides: MainOverrides = {}): Promise<number> {
  const env = overrides.env ?? process.env;
  const io = overrides.io ?? processIO({ noColor: argv.includes('--no-color'), env });
  const debug = argv.includes('--debug') || env.OPSCTL_DEBUG === '1';
  const runtime: Runtime = {
    io,
    env,
    cwd: overrides.cwd ?? process.cwd(),
    clock: systemClock,
    signal: overrides.signal ?? new AbortController().signal,
  };

  // The most frequent scripted call, kept at bare-node speed (docs/benchmarks.md).
  if (isVersionOnly(argv)) {
    io.stdout.write(`${packageVersion()}\n`);
    return ExitCode.Ok;
  }
  // `opsctl` alone on a terminal opens the interactive shell.
  if (argv.length === 0 && io.stdinIsTTY && io.stdoutIsTTY) return main(['shell'], { ...overrides, io, env });
  // The shell scripts' Tab press: cobra's protocol, answered from the command tree.
  if (argv[0] === '__complete') {
    const { runComplete } = await import('./completion/run.js');
    return runComplete(runtime, argv.slice(1));
  }

  // Started before the command tree loads, so module loading shows in the profile too.
  const stopProfile = argv.includes('--cpu-prof') ? await (await import('./cpu-profile.js')).startCpuProfile(runtime.cwd) : undefined;
  try {
    return await runProgram(argv, runtime, overrides, debug);
  } finally {
    if (stopProfile !== undefined) io.stderr.write(`cpu profile written to ${await stopProfile()} (open it in Chrome DevTools or speedscope)\n`);
  }
}

async function runProgram(argv: readonly string[], runtime: Runtime, overrides: MainOverrides, debug: boolean): Promise<number> {
  const io = runtime.io;
  let exitCode: number = ExitCode.Ok;
  let commanderText = '';
  try {
    // archive_command runs wal-push once per WAL segment: answered without the command tree when it can be.
    if (argv[0] === 'backup' && argv[1] === 'wal-push') {
      const code = await (await import('./wal-push-fast.js')).fastWalPush(argv.slice(2), runtime);
      if (code !== undefined) return code;
    }
    const group = targetGroup(argv);
    const { buildProgram } = await import('./program.js');
    const program = await buildProgram(runtime, {
      load: group === undefined ? [] : [group],
      onExitCode: (code) => (exitCode = code),
      onCommanderError: (text) => (commanderText += text),
      ...(overrides.createContext === undefined ? {} : { createContext: overrides.createContext }),
    });
    await program.parseAsync(expandYesProfile(argv), { from: 'user' });
    if (runtime.signal.aborted) throw runtime.signal.reason;
    return exitCode;
  } catch (error) {
    if (runtime.signal.aborted) {
      const { createTheme } = await import('./ui/theme.js');
      const reason: unknown = runtime.signal.reason;
      const interrupted = isOpsError(reason) ? reason : new OpsError('INTERRUPTED', 'interrupted', { cause: error });
      reportError(interrupted, io, debug, createTheme(io.colorStderr));
      return ExitCode.Interrupted;
    }
    // Help and version are "errors" only to commander's exitOverride.
    if (isCommanderError(error) && COMMANDER_SUCCESS.has(error.code)) return ExitCode.Ok;
    const { createTheme } = await import('./ui/theme.js');
    const theme = createTheme(io.colorStderr);
    if (isCommanderError(error)) return reportCommanderError(error, commanderText, io, theme);
    return reportError(error, io, debug, theme);
  }
}

const COMMANDER_SUCCESS = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

// commander is imported lazily, so `instanceof CommanderError` is not available here.
function isCommanderError(error: unknown): error is CommanderError {
  const code: unknown = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('commander.');
}

function reportCommanderError(error: CommanderError, text: string, io: IOStreams, theme: Theme): number {
  const lines = (text || error.message).trim().split('\n');
  const suggestion = lines.find((line) => /^\(Did you mean/.test(line));
  const message = lines.filter((line) => line !== suggestion).join(' ').replace(/^error:\s*/, '');
  io.stderr.write(`${theme.fail('error:')} ${message}\n`);
  const hint = suggestion
    ? suggestion.replace(/^\(Did you mean (.*)\?\)$/, 'did you mean $1?')
    : 'see `opsctl --help` or `opsctl <command> --help`';
  io.stderr.write(`${theme.dim('hint:')} ${hint}\n`);
  return ExitCode.Usage;
}

/** Prints `error: …` and `hint: …` (plus the stack with --debug) and returns the exit code. */
export function reportError(error: unknown, io: IOStreams, debug: boolean, theme: Theme): number {
  const ops = isOpsError(error)
    ? error
    : new OpsError('INTERNAL', error instanceof Error ? error.message : String(error), {
        hint: 'this is a bug in opsctl: rerun with --debug and report the output',
        cause: error,
      });
  io.stderr.write(`${theme.fail('error:')} ${secrets.redact(ops.message)}\n`);
  if (ops.hint !== undefined) io.stderr.write(`${theme.dim('hint:')} ${secrets.redact(ops.hint)}\n`);
  if (debug) {
    io.stderr.write(`${theme.dim(`code: ${ops.code} (${ERROR_CODES[ops.code].summary})`)}\n`);
    let cause: unknown = ops;
    while (cause instanceof Error) {
      io.stderr.write(`${theme.dim(secrets.redact(cause.stack ?? String(cause)))}\n`);
      cause = cause.cause;
      if (cause !== undefined) io.stderr.write(theme.dim('caused by:\n'));
    }
  }
  return ops.exitCode;
}

/**
 * The process entry used by bin/opsctl.js: wires signals, runs, sets the exit code. The first
 * Ctrl-C aborts the running command (which cleans up and exits 130); a second one exits at once.
 */
export async function run(): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.Interrupted);
    if (process.stderr.isTTY) process.stderr.write('\ninterrupting… (press Ctrl-C again to force)\n');
    controller.abort(new OpsError('INTERRUPTED', `interrupted by ${signal}`, { hint: 'run the command again when ready' }));
  };
  // `opsctl … | head` closes the pipe early: the reader has what it wanted, so stop quietly.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.Ok);
      throw error;
    });
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.exitCode = await main(process.argv.slice(2), { signal: controller.signal });
  // After an interrupt, cleanup gets a moment; anything still pending after that is abandoned.
  if (controller.signal.aborted) setTimeout(() => process.exit(ExitCode.Interrupted), 2000).unref();
}
