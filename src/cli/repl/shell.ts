import { PassThrough } from 'node:stream';
import repl, { type REPLServer } from 'node:repl';
import type { Key } from 'node:readline';
import type { Command } from 'commander';
import { OpsError } from '../../core/errors.js';
import { systemClock } from '../../core/clock.js';
import { ExitCode } from '../../core/exit-codes.js';
import { complete } from '../completion/engine.js';
import { runDynamic, profileCompleter } from '../completion/completers.js';
import { CompletionCache, completionCacheDir } from '../completion/cache.js';
import { probeConfig } from '../completion/config-probe.js';
import { Directive, type Candidate, type CompletionGlobals } from '../completion/types.js';
import type { GlobalOptions, Runtime } from '../context.js';
import { colorEnabled, type IOStreams } from '../ui/io.js';
import { createTheme, type Theme } from '../ui/theme.js';
import { hintFor } from './hints.js';
import { History, historyPath } from './history.js';
import { ShellConnections, type ConnectionStatus } from './session.js';
import { completionWords, splitLine } from './words.js';

/** A terminal-like input: process.stdin, or a PassThrough with `isTTY` set in tests. */
export type ShellInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
export type ShellOutput = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ShellOptions {
  input: ShellInput;
  output: ShellOutput;
  /** Where commands write messages and errors (default: `output`). */
  errorOutput?: ShellOutput;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The flags `opsctl shell` itself was given (`--profile`, `--config`, …): every line inherits them. */
  globals?: GlobalOptions;
  /** Ends the shell (SIGTERM). */
  signal?: AbortSignal;
  /** Default: $XDG_STATE_HOME/opsctl/history. */
  historyFile?: string;
}

const SHELL_COMMANDS: readonly Candidate[] = [
  { value: 'use', description: 'switch to another profile' },
  { value: 'exit', description: 'leave the shell (also Ctrl-D)' },
  { value: 'quit', description: 'leave the shell' },
];

const SHELL_HELP = `
In the shell:
  <command> [args]     any opsctl command, without "opsctl" (e.g. config profiles, doctor)
  use <profile>        switch profile (connections to the old one are closed)
  help [command]       this help, or a command's
  exit, quit, Ctrl-D   leave
  Tab                  complete commands, flags, values, profile names and Redis keys
  Ctrl-R               search the history (kept in $XDG_STATE_HOME/opsctl/history)
  Ctrl-C               cancel the running command, or clear the line
  (dim text)           what the command still expects; shown when colour is on
  A line starting with a blank is not kept in the history.
`;

/**
 * `opsctl shell`: a REPL over the same command tree. Each line is parsed by a fresh program
 * (exactly as `opsctl <line>` would be) while Redis/PostgreSQL connections stay open across
 * lines. Resolves with the exit code of the last command when the input ends, or 0.
 */
export async function runShell(options: ShellOptions): Promise<number> {
  const { main, reportError } = await import('../main.js');
  const { buildProgram } = await import('../program.js');
  const errorOutput = options.errorOutput ?? options.output;
  const terminal = options.input.isTTY === true && options.output.isTTY === true;
  const env = options.env;
  const lifetime = new AbortController();
  const onOuterAbort = () => lifetime.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const io = shellIO(options, errorOutput, false);
  const theme = createTheme(io.colorStdout);
  const shellRuntime: Runtime = { io, env, cwd: options.cwd, clock: systemClock, signal: lifetime.signal };
  const connections = new ShellConnections(shellRuntime);
  // The whole tree, once: completion and hints read it on every key.
  const tree = await buildProgram({ ...shellRuntime, io: shellIO(options, errorOutput, true) }, { load: 'all' });
  const history = new History(options.historyFile ?? historyPath(env));
  const cache = new CompletionCache(completionCacheDir(env));

  const state = {
    globals: { ...(options.globals ?? {}) } as GlobalOptions,
    running: undefined as AbortController | undefined,
    lastCode: 0 as number,
    prompt: { profile: undefined, protected: false } as PromptInfo,
  };

  // The REPL reads a private stream: while a command runs, keys go to the command (a
  // confirmation prompt reads the real stdin), except Ctrl-C, which cancels it.
  const proxy = new PassThrough() as PassThrough & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  proxy.isTTY = options.input.isTTY === true;
  proxy.setRawMode = (mode: boolean) => options.input.setRawMode?.(mode);
  const onData = (chunk: Buffer | string) => {
    if (state.running === undefined) {
      proxy.write(chunk);
    } else if (String(chunk).includes('\u0003')) {
      interrupt();
    }
  };
  options.input.on('data', onData);
  const onEnd = () => proxy.end();
  options.input.on('end', onEnd);
  // While the shell waits for a line, stdin flows in raw mode. A prompt that a command left
  // behind (cancelled with Ctrl-C) closes its own reader late and pauses stdin: take it back.
  let closing = false;
  const reclaim = () => {
    if (closing || state.running !== undefined) return;
    if (terminal) options.input.setRawMode?.(true);
    options.input.resume();
  };
  const onPause = () => setImmediate(reclaim);
  options.input.on('pause', onPause);

  const interrupt = () => {
    const running = state.running;
    if (running === undefined) return;
    if (running.signal.aborted) {
      errorOutput.write(theme.dim('already interrupted: waiting for the command to stop\n'));
      return;
    }
    errorOutput.write('^C\n');
    running.abort(new OpsError('INTERRUPTED', 'interrupted by Ctrl-C', { hint: 'the shell goes on; nothing half-done was left looking complete' }));
  };

  // Ctrl-C as a signal (when a prompt left the terminal out of raw mode) cancels the command too.
  const savedSigint = options.input === process.stdin ? process.rawListeners('SIGINT') : [];
  const onSigint = () => interrupt();
  if (options.input === process.stdin) {
    process.removeAllListeners('SIGINT');
    process.on('SIGINT', onSigint);
  }

  const refreshPrompt = async () => {
    state.prompt = await promptInfo(options.cwd, env, state.globals);
  };
  await refreshPrompt();

  const makePrompt = () => (terminal ? renderPrompt(state.prompt, connections.status(state.globals), theme) : '');

  const saved = await history.load();
  let queue: Promise<void> = Promise.resolve();
  let leaving = false;
  const server: REPLServer = repl.start({
    // Passed on to readline (node:repl's typings omit them).
    ...({ historySize: history.max, removeHistoryDuplicates: true } as object),
    input: proxy,
    output: options.output,
    terminal,
    prompt: makePrompt(),
    ignoreUndefined: true,
    preview: false,
    completer: (line: string, callback: (error: Error | null, result: [string[], string]) => void) => {
      completeLine(line).then(
        (result) => {
          callback(null, result);
          // The completion is inserted after the key was handled: hint for the new line.
          if (drawHint !== undefined) setImmediate(drawHint);
        },
        () => callback(null, [[], line]),
      );
    },
    eval: (text: string, _context: unknown, _file: string, callback: (error: Error | null, result?: unknown) => void) => {
      // Lines are run one after the other, also when a script is piped in faster than they finish.
      // After `exit` no prompt is drawn again: the callback is not called.
      const finish = () => (leaving ? undefined : callback(null));
      queue = queue.then(() => runLine(text.replace(/\n$/, ''))).then(finish, finish);
    },
  });
  const closed = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  // node:repl's own dot-commands are JavaScript tools; only `.exit` makes sense here.
  for (const name of ['break', 'clear', 'editor', 'load', 'save']) delete (server.commands as Record<string, unknown>)[name];
  server.defineCommand('help', { help: 'Show help', action: () => void runLine('help').then(() => server.displayPrompt()) });

  // Before the first key can arrive (the prompt is already drawn).
  (server as unknown as { history: string[] }).history.push(...saved.reverse());

  // Ctrl-C at the prompt clears the line (it never leaves: that is Ctrl-D or `exit`).
  server.removeAllListeners('SIGINT');
  server.on('SIGINT', () => {
    if (state.running !== undefined) return interrupt();
    (server as unknown as { clearLine(): void }).clearLine();
    server.displayPrompt();
  });

  // Hints need colour: plain, they would look like typed text.
  const drawHint = terminal && io.colorStdout ? installHints(server, proxy, options.output, tree, theme) : undefined;

  async function completeLine(line: string): Promise<[string[], string]> {
    const words = completionWords(line);
    const current = words.at(-1) ?? '';
    const globals = shellGlobals();
    // The line's own --profile/--config win over the shell's.
    const dynamic = (completer: Parameters<typeof runDynamic>[0], prefix: string, g: CompletionGlobals) =>
      runDynamic(completer, prefix, { ...globals, ...g }, {
        env,
        cwd: options.cwd,
        cache,
        probe: (pg) => probeConfig(options.cwd, env, pg),
        redis: (rg) => connections.redis({ ...state.globals, ...rg }),
      });
    const result =
      words.length === 2 && words[0] === 'use'
        ? await dynamic(profileCompleter, current, globals).then((r) => ({ ...r, candidates: r.candidates.filter((c) => c.value.startsWith(current)) }))
        : await complete(tree, words, { runDynamic: dynamic, extraCommands: SHELL_COMMANDS });
    let values = result.candidates.map((candidate) => candidate.value);
    // One candidate: complete it and move on to the next word, as a shell does.
    if (values.length === 1 && (result.directive & Directive.NoSpace) === 0) values = [`${values[0]} `];
    return [values, current];
  }

  /** What `use` and `opsctl shell --profile/--config` chose; a line's own flags override it. */
  function shellGlobals(): CompletionGlobals {
    return {
      ...(state.globals.profile === undefined ? {} : { profile: state.globals.profile }),
      ...(state.globals.config === undefined ? {} : { config: state.globals.config }),
    };
  }

  async function runLine(text: string): Promise<void> {
    await history.append(text);
    let words: string[];
    try {
      words = splitLine(text).words;
    } catch (error) {
      reportShellError(error);
      return;
    }
    if (words.length === 0) return;
    const [first, ...rest] = words;
    if (first === 'exit' || first === 'quit') {
      leaving = true;
      server.close();
      return;
    }
    if (first === 'shell') {
      errorOutput.write(`${theme.dim('already in the shell')}\n`);
      return;
    }
    if (first === 'use') {
      await useProfile(rest);
      return;
    }
    const controller = new AbortController();
    state.running = controller;
    try {
      const argv = [...globalArgs(state.globals, words), ...words];
      state.lastCode = await main(argv, {
        io: shellIO(options, errorOutput, words.includes('--no-color') || state.globals.color === false),
        env,
        cwd: options.cwd,
        signal: controller.signal,
        createContext: connections.contextFactory,
      });
      if (first === 'help' && rest.length === 0) options.output.write(SHELL_HELP);
      if (controller.signal.aborted) {
        // Connections under a command that was cancelled may be mid-reply: start afresh.
        await connections.closeAll();
      }
    } finally {
      state.running = undefined;
      // A prompt (confirmation) may have taken the terminal out of raw mode and paused it.
      reclaim();
    }
    await refreshPrompt();
    server.setPrompt(makePrompt());
  }

  async function useProfile(args: string[]): Promise<void> {
    if (args.length !== 1) {
      reportShellError(new OpsError('USAGE', 'use needs one profile name', { hint: 'use <profile>; Tab lists the profiles' }));
      return;
    }
    try {
      const { loadConfig, selectProfile } = await import('../../config/loader.js');
      const loaded = await loadConfig({ configPath: state.globals.config, cwd: options.cwd, env });
      const selected = selectProfile(loaded, { profile: args[0], env });
      await connections.closeAll();
      state.globals = { ...state.globals, profile: selected.name };
      await refreshPrompt();
      server.setPrompt(makePrompt());
      errorOutput.write(`${theme.dim(`using profile "${selected.name}"${selected.profile.protected ? ' (protected)' : ''}`)}\n`);
    } catch (error) {
      reportShellError(error);
    }
  }

  function reportShellError(error: unknown): void {
    state.lastCode = reportError(error, io, state.globals.debug === true, createTheme(io.colorStderr));
  }

  const onLifetimeAbort = () => server.close();
  lifetime.signal.addEventListener('abort', onLifetimeAbort, { once: true });
  try {
    await closed;
    await queue;
  } finally {
    closing = true;
    options.input.off('pause', onPause);
    lifetime.signal.removeEventListener('abort', onLifetimeAbort);
    options.signal?.removeEventListener('abort', onOuterAbort);
    options.input.off('data', onData);
    options.input.off('end', onEnd);
    if (options.input === process.stdin) {
      process.off('SIGINT', onSigint);
      for (const listener of savedSigint) process.on('SIGINT', listener as (signal: NodeJS.Signals) => void);
    }
    if (terminal) options.input.setRawMode?.(false);
    options.input.pause();
    await connections.closeAll();
  }
  if (terminal) options.output.write('\n');
  return state.lastCode === ExitCode.Interrupted ? ExitCode.Ok : state.lastCode;
}

/** The IOStreams each line's command writes to: the shell's streams, colour by the usual rules. */
function shellIO(options: ShellOptions, errorOutput: ShellOutput, noColorFlag: boolean): IOStreams {
  const stdoutIsTTY = options.output.isTTY === true;
  const stderrIsTTY = errorOutput.isTTY === true;
  return {
    stdout: options.output,
    stderr: errorOutput,
    stdin: options.input,
    stdoutIsTTY,
    stderrIsTTY,
    stdinIsTTY: options.input.isTTY === true,
    colorStdout: colorEnabled({ env: options.env, noColorFlag, isTTY: stdoutIsTTY }),
    colorStderr: colorEnabled({ env: options.env, noColorFlag, isTTY: stderrIsTTY }),
    columns: options.output.columns ?? 80,
  };
}

/**
 * The flags `opsctl shell` was started with (and the profile of `use`), for every line that does
 * not give its own. `--yes` is not passed on: in a shell each confirmation is asked.
 */
function globalArgs(globals: GlobalOptions, words: readonly string[]): string[] {
  const has = (...flags: string[]) => flags.some((flag) => words.some((word) => word === flag || word.startsWith(`${flag}=`)));
  const args: string[] = [];
  if (globals.profile !== undefined && !has('--profile')) args.push('--profile', globals.profile);
  if (globals.config !== undefined && !has('--config')) args.push('--config', globals.config);
  if (globals.output !== undefined && !has('-o', '--output', '--json')) args.push('--output', globals.output);
  else if (globals.json === true && !has('-o', '--output', '--json')) args.push('--json');
  if (globals.quiet === true && !has('-q', '--quiet')) args.push('--quiet');
  if (globals.verbose === true && !has('-v', '--verbose')) args.push('--verbose');
  if (globals.debug === true && !has('--debug')) args.push('--debug');
  if (globals.color === false && !has('--no-color')) args.push('--no-color');
  if (globals.input === false && !has('--no-input')) args.push('--no-input');
  return args;
}

interface PromptInfo {
  /** The selected profile; `name?` when it is not defined in the file. */
  profile: string | undefined;
  protected: boolean;
}

async function promptInfo(cwd: string, env: NodeJS.ProcessEnv, globals: GlobalOptions): Promise<PromptInfo> {
  const probe = await probeConfig(cwd, env, globals).catch(() => undefined);
  if (probe === undefined) return { profile: undefined, protected: false };
  const names = probe.profiles.map((p) => p.name);
  const name = globals.profile || env.OPSCTL_PROFILE || probe.defaultProfile || (names.length === 1 ? names[0] : undefined);
  const profile = probe.profiles.find((p) => p.name === name);
  return { profile: profile?.name ?? (name === undefined ? undefined : `${name}?`), protected: profile?.protected === true };
}

/**
 * `opsctl [prod!] redis✓ pg✓ › `: the profile (with `!` when protected, so it shows without
 * colour too) and the connections the shell holds (✓ up, ✗ lost).
 */
export function renderPrompt(info: PromptInfo, status: ConnectionStatus, theme: Theme): string {
  const profile = info.profile === undefined ? '' : ` [${info.protected ? theme.fail(`${info.profile}!`) : theme.info(info.profile)}]`;
  const mark = (name: string, state: ConnectionStatus['redis']) =>
    state === undefined ? '' : ` ${name}${state === 'up' ? theme.ok('✓') : theme.fail('✗')}`;
  return `${theme.heading('opsctl')}${profile}${mark('redis', status.redis)}${mark('pg', status.pg)} › `;
}

/**
 * Inline hints: after each key, when the cursor is at the end of the line, the rest of the
 * command (`<path>`, `init|validate|…`) is drawn dim after it and the cursor put back; the
 * hint is erased before the next key is handled, so readline never sees it.
 */
function installHints(server: REPLServer, input: NodeJS.EventEmitter, output: ShellOutput, tree: Command, theme: Theme): () => void {
  const rl = server as unknown as { line: string; cursor: number; getCursorPos(): { rows: number; cols: number } };
  let shown = false;
  let searching = false;
  const clear = () => {
    if (shown) output.write('\u001b[K');
    shown = false;
  };
  input.prependListener('keypress', (_text: string, key: Key | undefined) => {
    clear();
    if (key?.ctrl === true && (key.name === 'r' || key.name === 's')) searching = true;
    else if (key !== undefined && (key.name === 'return' || key.name === 'enter' || key.name === 'escape' || key.ctrl === true || key.meta === true)) searching = false;
  });
  const draw = () => {
    if (shown || searching || rl.cursor !== rl.line.length) return;
    const hint = hintFor(tree, rl.line);
    if (hint === '') return;
    const room = (output.columns ?? 80) - rl.getCursorPos().cols - 1;
    if (room < 4) return;
    const text = hint.length > room ? `${hint.slice(0, room - 1)}…` : hint;
    output.write(`${theme.dim(text)}\u001b[${text.length}D`);
    shown = true;
  };
  input.on('keypress', draw);
  return draw;
}
