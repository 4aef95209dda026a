import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerUser } from '../postgres/tools.js';

/** How to run one server process that a test owns. */
export interface ManagedProcessOptions {
  /** Program name for messages (`redis-server`, `postgres`). */
  name: string;
  command: string;
  args: readonly string[];
  /** Temporary directory owned by this process; removed when it stops. */
  dir: string;
  /** stdout and stderr go here (truncated at start). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this OS user (PostgreSQL as root). */
  user?: ServerUser;
  /** Signal for an orderly stop (redis SIGTERM, postgres SIGINT = fast shutdown). */
  stopSignal: NodeJS.Signals;
  /**
   * Signal sent when the test process is exiting and cannot wait: it must make the server exit
   * on its own (postgres SIGQUIT = immediate shutdown, which also ends its children).
   */
  emergencySignal: NodeJS.Signals;
  /** After this long an orderly stop escalates to SIGKILL. */
  stopTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A server child process registered for teardown: `stop()` is idempotent and removes its
 * directory, and if the test process exits or is interrupted first, every registered process
 * is stopped synchronously. Not detached: it stays in our process group, so a Ctrl-C in the
 * terminal reaches it too. Redis, PostgreSQL and later topologies (cluster nodes, sentinels,
 * replicas) are all built on this.
 */
export class ManagedProcess {
  readonly pid: number;
  readonly name: string;
  readonly dir: string;
  readonly logFile: string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  #exitStatus: ExitStatus | undefined;
  #stopping: Promise<void> | undefined;
  readonly #options: ManagedProcessOptions;

  private constructor(child: ChildProcess, options: ManagedProcessOptions) {
    this.#options = options;
    this.pid = child.pid!;
    this.name = options.name;
    this.dir = options.dir;
    this.logFile = options.logFile;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitStatus = { code, signal };
        resolve(this.#exitStatus);
      });
    });
  }

  /** Spawns the process and registers it for teardown. */
  static async spawn(options: ManagedProcessOptions): Promise<ManagedProcess> {
    const log = openSync(options.logFile, 'w');
    try {
      const child = spawn(options.command, [...options.args], {
        cwd: options.dir,
        env: options.env ?? process.env,
        stdio: ['ignore', log, log],
        ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      const managed = new ManagedProcess(child, options);
      register(managed);
      return managed;
    } finally {
      closeSync(log);
    }
  }

  /** The exit status once exited, undefined while running. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exitStatus;
  }

  /** Sends a signal (SIGSTOP/SIGCONT to simulate a hung server, SIGKILL to crash it). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exitStatus === undefined) process.kill(this.pid, signal);
  }

  /** The server's log so far. */
  readLog(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /**
   * Orderly stop: the stop signal (after SIGCONT, in case a test paused it), SIGKILL after the
   * timeout, then the directory is removed. Safe to call any number of times.
   */
  stop(options: { keepDir?: boolean } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#exitStatus === undefined) {
        this.#signal('SIGCONT');
        this.#signal(this.#options.stopSignal);
        const timer = setTimeout(() => this.#signal('SIGKILL'), this.#options.stopTimeoutMs ?? 10_000);
        await this.exited;
        clearTimeout(timer);
      }
      unregister(this);
      if (options.keepDir !== true) await rm(this.dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  /** Synchronous part of the exit-time teardown: ask the process to go away now. */
  emergencySignal(): void {
    this.#signal('SIGCONT');
    this.#signal(this.#options.emergencySignal);
  }

  #signal(signal: NodeJS.Signals): void {
    if (this.#exitStatus !== undefined) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone: exactly what we wanted.
    }
  }
}

/** Creates a fresh `opsctl-test-<random>` directory under os.tmpdir(), owned by `user` when given. */
export async function makeTempDir(user?: ServerUser): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'opsctl-test-'));
  if (user !== undefined) await chown(dir, user.uid, user.gid);
  return dir;
}

/** The last lines of a log, indented, for an error message. */
export function tailLog(text: string, lines = 30): string {
  const tail = text.trimEnd().split('\n').slice(-lines);
  return tail.length === 0 || (tail.length === 1 && tail[0] === '') ? '  (log is empty)' : tail.map((line) => `  ${line}`).join('\n');
}

// ---- registry and exit-time teardown ----------------------------------------------------------

const running = new Set<ManagedProcess>();
const TEARDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let handlersInstalled = false;

function register(managed: ManagedProcess): void {
  // A process that dies by itself stays registered until stop(), so its dir is still removed.
  running.add(managed);
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', teardownSync);
    for (const signal of TEARDOWN_SIGNALS) process.on(signal, onSignal);
  }
}

function unregister(managed: ManagedProcess): void {
  running.delete(managed);
}

/** The managed processes not yet stopped (for diagnostics and tests). */
export function runningProcesses(): readonly ManagedProcess[] {
  return [...running];
}

/** Stops every registered process (orderly); for a global teardown. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => managed.stop()));
}

function onSignal(signal: NodeJS.Signals): void {
  teardownSync();
  // Our listener replaced the default action (exit); restore it unless someone else handles
  // the signal (the CLI's own Ctrl-C handling, a test runner).
  if (process.listenerCount(signal) === 1) {
    for (const name of TEARDOWN_SIGNALS) process.removeListener(name, onSignal);
    process.kill(process.pid, signal);
  }
}

/**
 * Exit-time teardown. Only synchronous code runs in an 'exit' listener, so: signal every
 * process, wait (sleeping synchronously) up to 5 s for them to be gone, SIGKILL stragglers,
 * remove their directories.
 */
function teardownSync(): void {
  const processes = [...running];
  running.clear();
  if (processes.length === 0) return;
  for (const managed of processes) managed.emergencySignal();
  const deadline = Date.now() + 5_000;
  let alive = processes.filter((managed) => !isGone(managed));
  while (alive.length > 0 && Date.now() < deadline) {
    sleepSync(25);
    alive = alive.filter((managed) => !isGone(managed));
  }
  for (const managed of alive) {
    try {
      process.kill(managed.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  for (const managed of processes) {
    try {
      rmSync(managed.dir, { recursive: true, force: true });
    } catch {
      // Best effort: a leftover temp dir is harmless, a throwing exit handler is not.
    }
  }
}

/** Exited, or a zombie (our unreaped child: the event loop cannot reap it during sync code). */
function isGone(managed: ManagedProcess): boolean {
  if (managed.exitStatus !== undefined) return true;
  try {
    process.kill(managed.pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${managed.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}
