import { rm } from 'node:fs/promises';
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

/**
 * Starts a throwaway redis-server: no persistence, bound to 127.0.0.1, ready (answers PING)
 * when the promise resolves. Fails with the server's log quoted when it does not start.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = await findExecutable('redis-server', options.env);
  if (binary === undefined) {
    throw new OpsError('TOOL_NOT_FOUND', 'redis-server not found on PATH', {
      hint: 'install Redis: apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)',
    });
  }
  const dir = await makeTempDir();
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const managed = await ManagedProcess.spawn({
      name: 'redis-server',
      command: binary,
      args: [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        ...(options.password === undefined ? [] : ['--requirepass', options.password]),
        ...(options.args ?? []),
      ],
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
      throw new Error(`${(error as Error).message}; redis-server log:\n${tailLog(log)}`, { cause: error });
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
    };
  }
}
