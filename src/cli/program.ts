import { Command, Option } from 'commander';
import { packageVersion } from './argv.js';
import type { CommandContext, GlobalOptions, Runtime } from './context.js';
import { explainCommand, type ActionFactory } from './command-kit.js';
import { profileCompleter } from './completion/completers.js';
import { completeWith } from './completion/types.js';

/**
 * The command tree. Each group lives in its own module and is imported only when that group
 * runs (or when the whole tree is needed: docs, completion), so `--help` and `--version` load
 * neither ioredis nor pg.
 */
export interface GroupModule {
  register(command: Command, action: ActionFactory): void;
}

export interface GroupSpec {
  name: string;
  summary: string;
  load(): Promise<GroupModule>;
}

export const GROUPS: readonly GroupSpec[] = [
  { name: 'config', summary: 'Create, validate, show, edit, version and migrate the configuration', load: () => import('./commands/config.js') },
  { name: 'doctor', summary: 'Check configuration, Redis, PostgreSQL and tools; one line of remedy per problem', load: () => import('./commands/doctor.js') },
  { name: 'dev', summary: 'Run a local Redis + PostgreSQL stack for development', load: () => import('./commands/dev.js') },
  { name: 'redis', summary: 'Redis deployment: ping, info, health, latency, topology, keys, memory, slowlog, clients, cluster check, failover', load: () => import('./commands/redis.js') },
  { name: 'shell', summary: 'Interactive mode: run commands without the `opsctl` prefix, with completion and history', load: () => import('./commands/shell.js') },
  { name: 'completion', summary: 'Print the bash, zsh or fish completion script', load: () => import('./commands/completion.js') },
  { name: 'backup', summary: 'Encrypted, verified backups of PostgreSQL into a repository: init, run, list, show, verify, runs', load: () => import('./commands/backup.js') },
  { name: 'ratelimit', summary: 'Distributed rate limits: policies, status, consume, reset, top refused keys, simulate a client', load: () => import('./commands/ratelimit.js') },
  { name: 'cache', summary: 'Query-result cache: stats, keys, inspect, invalidate, warm, flush, table triggers, ttl', load: () => import('./commands/cache.js') },
  { name: 'session', summary: 'Distributed sessions in Redis: list, show, revoke, stats, purge, rekey, migrate', load: () => import('./commands/session.js') },
];

export interface BuildOptions {
  /** Load these groups' full trees (`'all'` for docs and completion). */
  load: 'all' | readonly string[];
  /** Receives the exit code a command asks for without failing (doctor's 3). */
  onExitCode?: (code: number) => void;
  /** Receives commander's own error text instead of printing it (main reformats it). */
  onCommanderError?: (text: string) => void;
  /** Builds each command's context; the REPL's shares connections across lines. */
  createContext?: ContextFactory;
}

/** Makes the context a command runs with (default: a fresh CommandContext). */
export type ContextFactory = (runtime: Runtime, globals: GlobalOptions) => CommandContext;

export async function buildProgram(runtime: Runtime, options: BuildOptions): Promise<Command> {
  const program = new Command('opsctl')
    .description('Operations toolchain for PostgreSQL and Redis: backups, rate limits, sessions, caching, health.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => runtime.io.stdout.write(text),
      writeErr: (text) => runtime.io.stderr.write(text),
      outputError: (text) => options.onCommanderError?.(text),
    })
    .addOption(completeWith(new Option('--profile <name>', 'configuration profile to use (env: OPSCTL_PROFILE)'), profileCompleter))
    .addOption(new Option('--config <path>', 'configuration file (default: search from the current directory)'))
    .addOption(new Option('--json', 'print data as JSON (same as -o json)'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml', 'csv']))
    .addOption(new Option('-q, --quiet', 'print only data and errors'))
    .addOption(new Option('-v, --verbose', 'print more detail on stderr'))
    .addOption(new Option('--debug', 'trace Redis commands, SQL, child processes and stack traces on stderr'))
    .addOption(new Option('--timings', 'print a per-phase timing table on stderr when the command ends'))
    .addOption(new Option('--cpu-prof', 'write a .cpuprofile of this run to the current directory'))
    .addOption(new Option('--explain', 'print the equivalent redis-cli / psql / pg_dump commands (and Lua SHAs) without running anything'))
    .addOption(new Option('--no-color', 'disable colour (also NO_COLOR=1)'))
    .addOption(new Option('--no-input', 'never prompt; fail instead and name the flag to pass'))
    .addOption(new Option('-y, --yes', 'answer yes to confirmations (for scripts); --yes=<profile> for a protected profile'))
    // `--yes=<profile>` arrives here (see expandYesProfile): an optional value on --yes itself
    // would swallow the next positional argument.
    .addOption(new Option('--yes-profile <name>').hideHelp());

  program.addHelpText(
    'after',
    `
Examples:
  $ opsctl dev up                 start a local Redis + PostgreSQL and a "dev" profile
  $ opsctl doctor                 check everything the active profile points at
  $ opsctl config validate        list every problem in the configuration file
  $ opsctl --profile prod doctor --json

Exit codes: 0 ok, 1 failed, 2 usage/config error, 3 check found problems,
4 could not connect, 130 interrupted.`,
  );

  const action: ActionFactory = (body) =>
    async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const globals = command.optsWithGlobals<GlobalOptions>();
      // Loaded here, not at the top: the context pulls in the output layer (yaml, cli-table3,
      // chalk), which `--help` and `--version` must not pay for.
      const { CommandContext } = await import('./context.js');
      const ctx = options.createContext?.(runtime, globals) ?? new CommandContext(runtime, globals);
      try {
        const work = globals.explain === true ? explainCommand(ctx, command, args.slice(0, -1)) : body(ctx, ...(args.slice(0, -1) as never));
        await untilAborted(work, runtime.signal);
      } finally {
        // On Ctrl-C this closes the connections under a command that did not watch the signal,
        // so its pending work fails fast instead of running on to a timeout.
        await ctx.close();
      }
      if (ctx.exitCode !== 0) options.onExitCode?.(ctx.exitCode);
    };

  for (const spec of GROUPS) {
    const command = program.command(spec.name).description(spec.summary);
    if (options.load === 'all' || options.load.includes(spec.name)) {
      (await spec.load()).register(command, action);
    }
  }
  return program;
}

/**
 * Settles with `work`, or rejects with the abort reason as soon as `signal` fires. Commands that
 * must clean up on Ctrl-C (backups, the dev stack) watch the signal themselves; this is the floor
 * for those that need nothing more than their connections closed.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
