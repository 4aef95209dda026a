import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OpsError } from '../core/errors.js';
import { findExecutable } from '../postgres/tools.js';
import { ManagedProcess, makeTempDir, tailLog } from './managed-process.js';
import { freePort } from './ports.js';
import { redisProbe, waitUntilReady } from './ready.js';

/** A redis-server started for a test, on a free loopback port, in its own temp dir. */
export interface RedisServer {
  host: string;
  port: number;
  /** `redis://127.0.0.1:PORT` (with `:password@` when a password was set). */
  url: string;
  dir: string;
  pid: number;
  /** Stops the server (SIGTERM, SIGKILL after 10 s) and removes its dir; idempotent. */
  stop(): Promise<void>;
  /** Sends a signal: SIGSTOP/SIGCONT to simulate a hung server, SIGKILL to crash it. */
  kill(signal?: NodeJS.Signals): void;
  /** The server's log so far (for a failing test's message). */
  readLog(): Promise<string>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, appended last so they override the defaults. */
  args?: string[];
  /** Sets `requirepass`. */
  password?: string;
  /** Environment whose PATH is searched for redis-server. */
  env?: NodeJS.ProcessEnv;
}

const ATTEMPTS = 3;

/** Finds redis-server on PATH or fails with how to install it. */
export async function redisServerBinary(env?: NodeJS.ProcessEnv): Promise<string> {
  const binary = await findExecutable('redis-server', env);
  if (binary === undefined) {
    throw new OpsError('TOOL_NOT_FOUND', 'redis-server not found on PATH', {
      hint: 'install Redis: apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)',
    });
  }
  return binary;
}

/** How launchRedisProcess starts one redis-server (plain, replica, cluster node or Sentinel). */
export interface LaunchRedisOptions {
  /** Program name for messages and the log (`redis-server`, `redis-sentinel`). */
  name: string;
  env?: NodeJS.ProcessEnv;
  /** Config file contents for the chosen port; written to `<dir>/redis.conf` and passed first. */
  conf?: (port: number) => string;
  /** Arguments for the chosen port (after the config file, if any). */
  args: (port: number, dir: string) => string[];
  /** AUTH sent before the readiness PING. */
  password?: string;
}

/**
 * Starts one redis-server process on a free port in a new temp dir and waits until it answers
 * PING; retries with another port when the chosen one was taken meanwhile. The process is
 * registered for teardown (see ManagedProcess).
 */
export async function launchRedisProcess(options: LaunchRedisOptions): Promise<RedisServer> {
  const binary = await redisServerBinary(options.env);
  const dir = await makeTempDir();
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const confArgs: string[] = [];
    if (options.conf !== undefined) {
      const file = join(dir, 'redis.conf');
      await writeFile(file, options.conf(port));
      confArgs.push(file);
    }
    const managed = await ManagedProcess.spawn({
      name: options.name,
      command: binary,
      args: [...confArgs, ...options.args(port, dir)],
      dir,
      logFile: join(dir, 'redis.log'),
      stopSignal: 'SIGTERM',
      emergencySignal: 'SIGKILL',
    });
    const auth = options.password === undefined ? [] : [['AUTH', options.password]];
    try {
      await waitUntilReady(managed, () => redisProbe(port, [...auth, ['PING']], '+PONG'), 15_000);
    } catch (error) {
      const log = await managed.readLog();
      await managed.stop({ keepDir: true });
      // Another process may have taken the port between freePort() and the bind.
      if (attempt < ATTEMPTS && /address already in use/i.test(log)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`${(error as Error).message}; ${options.name} log:\n${tailLog(log)}`, { cause: error });
    }
    const credentials = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
    return {
      host: '127.0.0.1',
      port,
      url: `redis://${credentials}127.0.0.1:${port}`,
      dir,
      pid: managed.pid,
      stop: () => managed.stop(),
      kill: (signal) => managed.kill(signal),
      readLog: () => managed.readLog(),
    };
  }
}

/** The arguments every test redis-server gets: loopback only, no persistence, foreground. */
export function baseRedisArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
}

/**
 * Starts a throwaway redis-server: no persistence, bound to 127.0.0.1, ready (answers PING)
 * when the promise resolves. Fails with the server's log quoted when it does not start.
 */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  return launchRedisProcess({
    name: 'redis-server',
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.password === undefined ? {} : { password: options.password }),
    args: (port, dir) => [
      ...baseRedisArgs(port, dir),
      ...(options.password === undefined ? [] : ['--requirepass', options.password]),
      ...(options.args ?? []),
    ],
  });
}
