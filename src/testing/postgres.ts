import { execFile } from 'node:child_process';
import { appendFile, chown, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findPgServerBinDir, pgServerUser, type ServerUser } from '../postgres/tools.js';
import { ManagedProcess, makeTempDir, tailLog } from './managed-process.js';
import { freePort } from './ports.js';
import { pgProbe, waitUntilReady } from './ready.js';

/** A PostgreSQL cluster made with initdb for a test, on a free loopback port. */
export interface PostgresServer {
  host: string;
  port: number;
  user: 'postgres';
  database: 'postgres';
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (with `:password` when a password was set). */
  url: string;
  dataDir: string;
  pid: number;
  /** The installation's bin directory (initdb, pg_ctl, postgres, and usually pg_dump, psql). */
  binDir: string;
  /** Fast shutdown (SIGINT, SIGKILL after 10 s), then the cluster is deleted; idempotent. */
  stop(): Promise<void>;
  /** Sends a signal to the postmaster: SIGSTOP/SIGCONT to simulate a hung server, SIGKILL to crash it. */
  kill(signal?: NodeJS.Signals): void;
}

export interface StartPostgresOptions {
  /** When set, the `postgres` role gets this password and TCP connections need it (scram-sha-256). */
  password?: string;
  /** postgresql.conf settings, e.g. `{ wal_level: 'replica', archive_command: '…' }`. */
  settings?: Record<string, string>;
  /** Environment searched for the server programs (PATH, OPSCTL_PG_BIN_SEARCH). */
  env?: NodeJS.ProcessEnv;
}

/** Speed over durability: the cluster lives for one test file. */
const TEST_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
};

const ATTEMPTS = 3;

/**
 * Creates a fresh cluster (initdb) in a temp dir and starts `postgres` on a free loopback port;
 * resolves once it accepts `select 1`. As root the server runs as the `postgres` OS user.
 * Fails with initdb's output or the server log quoted when it does not start.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const { binDir } = await findPgServerBinDir({ env: options.env });
  const user = await pgServerUser();
  const dir = await makeTempDir(user);
  const dataDir = join(dir, 'data');
  const env = childEnv(options.env);
  try {
    await initCluster({ binDir, dir, dataDir, user, env, password: options.password });
    // The socket lives in our dir (the default, /var/run/postgresql, may not be writable);
    // none when the path would exceed the 107-byte limit of Unix socket paths.
    const socketDir = dir.length <= 80 ? dir : '';
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      `\n# opsctl test harness\n${confLines({ ...TEST_SETTINGS, unix_socket_directories: socketDir, ...options.settings })}`,
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const { managed, port } = await launchPostgres({ binDir, dir, dataDir, user, env, password: options.password });
  const credentials = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}`;
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    url: `postgres://postgres${credentials}@127.0.0.1:${port}/postgres`,
    dataDir,
    pid: managed.pid,
    binDir,
    stop: () => managed.stop(),
    kill: (signal) => managed.kill(signal),
  };
}

/** Where and how to run one postgres server process. */
export interface LaunchPostgresOptions {
  binDir: string;
  /** The server's temp dir (holds the log; removed on stop). */
  dir: string;
  /** An initialised data dir (initdb, or pg_basebackup for a standby). */
  dataDir: string;
  user: ServerUser | undefined;
  env: NodeJS.ProcessEnv;
  /** Needed to probe readiness when TCP auth is scram. */
  password?: string | undefined;
}

/**
 * Starts `postgres` on an existing data dir on a free loopback port (retrying when another
 * process takes the port first) and waits for `select 1`. The building block for primaries,
 * standbys and archiving clusters. On failure the dir is removed and the log quoted.
 */
export async function launchPostgres(options: LaunchPostgresOptions): Promise<{ managed: ManagedProcess; port: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const managed = await ManagedProcess.spawn({
      name: 'postgres',
      command: join(options.binDir, 'postgres'),
      args: ['-D', options.dataDir, '-p', String(port)],
      dir: options.dir,
      logFile: join(options.dir, 'postgres.log'),
      env: options.env,
      ...(options.user === undefined ? {} : { user: options.user }),
      stopSignal: 'SIGINT',
      emergencySignal: 'SIGQUIT',
    });
    try {
      await waitUntilReady(managed, () => pgProbe(port, options.password), 30_000);
      return { managed, port };
    } catch (error) {
      const log = await managed.readLog();
      await managed.stop({ keepDir: true });
      if (attempt < ATTEMPTS && /could not bind|address already in use/i.test(log)) continue;
      await rm(options.dir, { recursive: true, force: true });
      throw new Error(`${(error as Error).message}; postgres log:\n${tailLog(log)}`, { cause: error });
    }
  }
}

/** `key = 'value'` lines; single quotes doubled as postgresql.conf requires. */
export function confLines(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([key, value]) => `${key} = '${value.replaceAll("'", "''")}'\n`)
    .join('');
}

/** English messages (the starters match "address already in use" in the log). */
function childEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { ...(env ?? process.env), LC_ALL: 'C', LANG: 'C' };
}

interface InitOptions {
  binDir: string;
  dir: string;
  dataDir: string;
  user: ServerUser | undefined;
  env: NodeJS.ProcessEnv;
  password: string | undefined;
}

async function initCluster(options: InitOptions): Promise<void> {
  const args = ['-D', options.dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'];
  if (options.password === undefined) {
    args.push('--auth=trust');
  } else {
    // initdb reads the password from a file so it never appears in a process listing.
    const pwfile = join(options.dir, 'pwfile');
    await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
    if (options.user !== undefined) await chown(pwfile, options.user.uid, options.user.gid);
    args.push('--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`);
  }
  try {
    await runInitdb(join(options.binDir, 'initdb'), args, options);
  } finally {
    await rm(join(options.dir, 'pwfile'), { force: true });
  }
}

function runInitdb(command: string, args: readonly string[], options: InitOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.dir,
        env: options.env,
        timeout: 120_000,
        ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
      },
      (error, stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`initdb failed (${error.message.split('\n')[0]}):\n${tailLog(`${stdout}${stderr}`)}`, { cause: error }));
      },
    );
  });
}
