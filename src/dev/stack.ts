import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { OpsError } from '../core/errors.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import { findExecutable, findPgServerBinDir, pgServerUser, type PgServerBinDir, type ServerUser } from '../postgres/tools.js';
import { tailLog } from '../testing/managed-process.js';
import { freePort, portInUse } from '../testing/ports.js';
import { pgProbe, pollUntilReady, redisProbe } from '../testing/ready.js';
import { processAlive, processInfo } from './process-info.js';
import { devLayout, postgresPaths, readState, STATE_KIND, STATE_VERSION, writeState, type DevLayout, type DevState } from './state.js';

/** What every dev stack operation needs. */
export interface DevOptions {
  /** Project root: the directory of the configuration file, else the working directory. */
  root: string;
  /** Environment whose PATH (and OPSCTL_PG_BIN_SEARCH) locates the server programs. */
  env: NodeJS.ProcessEnv;
  tracer?: Tracer;
  signal?: AbortSignal;
  /** One-line progress notes for long steps (the CLI shows them on a terminal only). */
  onProgress?: (message: string) => void;
}

export type DevServiceName = 'redis' | 'postgres';

/** One service of the stack, as `dev status` shows it. */
export interface DevServiceStatus {
  name: DevServiceName;
  state: 'running' | 'stopped';
  pid: number | null;
  port: number | null;
  url: string | null;
  version: string | null;
  dataDir: string | null;
}

export interface DevUpOptions extends DevOptions {
  /** Where the CLI runs (the config search starts here; a new config file is created here). */
  cwd: string;
  /** `--config`, when given. */
  configPath?: string;
}

export interface DevUpResult {
  /** Both services were already running: nothing was started. */
  alreadyRunning: boolean;
  started: DevServiceName[];
  services: DevServiceStatus[];
  /** The configuration file that holds the `dev` profile. */
  config: { filepath: string; created: boolean };
}

export const DEV_PROFILE_NAME = 'dev';

const REDIS_HINT = 'install Redis: apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)';
const START_TIMEOUT_MS = 60_000;

/** The profile `dev up` writes: plain loopback URLs (PostgreSQL trusts loopback in the dev stack). */
export function devProfile(state: DevState): Record<string, unknown> {
  return {
    description: 'local dev stack (opsctl dev up)',
    redis: { url: redisUrl(state.redis.port) },
    postgres: { url: postgresUrl(state.postgres.port) },
    // A policy to try `opsctl ratelimit` and `dev seed` with.
    ratelimit: { policies: { api: { algorithm: 'gcra', rate: '100/1m', burst: 20 } } },
  };
}

/**
 * Starts whatever part of the stack is not running (daemonized, so it outlives the CLI), waits
 * until both answer, and writes the `dev` profile. Idempotent: with both running it only
 * refreshes the profile. Nothing is created before the programs are found, and a recorded
 * port held by another process fails with DEV_PORT_TAKEN before anything starts.
 */
export async function devUp(options: DevUpOptions): Promise<DevUpResult> {
  const redisServer = await findExecutable('redis-server', options.env);
  if (redisServer === undefined) {
    throw new OpsError('TOOL_NOT_FOUND', 'redis-server not found on PATH', { hint: REDIS_HINT, details: { tool: 'redis-server' } });
  }
  const pgBin = await findPgServerBinDir({ env: options.env });
  const user = await pgServerUser();
  const layout = devLayout(options.root);
  const state = (await readState(layout)) ?? (await newState(options, layout, user));
  // The state file is the marker that makes the directory ours: written before anything else.
  await writeState(layout, state);
  await writeFile(join(layout.dir, '.gitignore'), '# opsctl dev stack: local data, never committed\n*\n');

  const redis = await inspectRedis(layout, state);
  const pgDir = resolve(layout.dir, state.postgres.dir);
  const postgres = await inspectPostgres(pgDir, state);
  if (!redis.running) await assertPortFree(state.redis.port, 'redis');
  if (!postgres.running) await assertPortFree(state.postgres.port, 'postgres');

  // Versions are recorded for what gets started; a server left running keeps its own.
  const started: DevServiceName[] = [];
  if (!redis.running) {
    state.redis.version = await redisVersion(redisServer);
    await writeState(layout, state);
    await startRedis(options, layout, state, redisServer);
    started.push('redis');
  }
  if (!postgres.running) {
    state.postgres.version = `${pgBin.version.major}.${pgBin.version.minor}`;
    await writeState(layout, state);
    await startPostgres(options, pgDir, state, pgBin, user);
    started.push('postgres');
  }

  // Loaded here only: status, down and reset never write the configuration.
  const { upsertProfile } = await import('../config/store.js');
  const config = await upsertProfile({
    cwd: options.cwd,
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    env: options.env,
    name: DEV_PROFILE_NAME,
    profile: devProfile(state),
  });
  return { alreadyRunning: started.length === 0, started, services: await devStatus(options), config };
}

/** Each service's state, pid, port, URL, version and data directory. Never fails on a stopped stack. */
export async function devStatus(options: Pick<DevOptions, 'root'>): Promise<DevServiceStatus[]> {
  const layout = devLayout(options.root);
  const state = await readState(layout);
  if (state === undefined) {
    return (['redis', 'postgres'] as const).map((name) => ({
      name,
      state: 'stopped',
      pid: null,
      port: null,
      url: null,
      version: null,
      dataDir: null,
    }));
  }
  const pgDir = resolve(layout.dir, state.postgres.dir);
  const [redis, postgres] = await Promise.all([inspectRedis(layout, state), inspectPostgres(pgDir, state)]);
  return [
    {
      name: 'redis',
      state: redis.running ? 'running' : 'stopped',
      pid: redis.running ? redis.pid : null,
      port: state.redis.port,
      url: redisUrl(state.redis.port),
      version: state.redis.version ?? null,
      dataDir: layout.redisDir,
    },
    {
      name: 'postgres',
      state: postgres.running ? 'running' : 'stopped',
      pid: postgres.running ? postgres.pid : null,
      port: state.postgres.port,
      url: postgresUrl(state.postgres.port),
      version: state.postgres.version ?? null,
      dataDir: postgresPaths(pgDir).dataDir,
    },
  ];
}

/** What `dev down` did to one service. */
export interface DevStopResult {
  name: DevServiceName;
  result: 'stopped' | 'not running';
  pid: number | null;
}

/**
 * Stops only the servers `dev up` started: a pid is signalled only after its command line (and,
 * on Linux, its working directory) shows it is our server. Idempotent.
 */
export async function devDown(options: DevOptions): Promise<DevStopResult[]> {
  const layout = devLayout(options.root);
  const state = await readState(layout);
  if (state === undefined) {
    return [
      { name: 'redis', result: 'not running', pid: null },
      { name: 'postgres', result: 'not running', pid: null },
    ];
  }
  const results: DevStopResult[] = [];
  const redis = await inspectRedis(layout, state);
  if (redis.running) {
    options.onProgress?.(`stopping redis-server (pid ${redis.pid})`);
    await stopRedis(redis.pid, options.signal);
    results.push({ name: 'redis', result: 'stopped', pid: redis.pid });
  } else {
    // A pid file whose process is gone (or is not ours) would mislead the next status.
    await rm(layout.redisPidFile, { force: true });
    results.push({ name: 'redis', result: 'not running', pid: null });
  }
  const pgDir = resolve(layout.dir, state.postgres.dir);
  const postgres = await inspectPostgres(pgDir, state);
  if (postgres.running) {
    options.onProgress?.(`stopping PostgreSQL (pid ${postgres.pid})`);
    const pgBin = await findPgServerBinDir({ env: options.env });
    await runTool(join(pgBin.binDir, 'pg_ctl'), ['stop', '-D', postgresPaths(pgDir).dataDir, '-m', 'fast', '-w', '-t', '60', '-s'], {
      ...options,
      cwd: pgDir,
      user: await pgServerUser(),
    });
    results.push({ name: 'postgres', result: 'stopped', pid: postgres.pid });
  } else {
    results.push({ name: 'postgres', result: 'not running', pid: null });
  }
  return results;
}

/** What `dev reset` stops and deletes. */
export interface DevResetPlan {
  stop: DevServiceName[];
  delete: string[];
}

/** The plan of `dev reset`, for `--dry-run` and the confirmation. Changes nothing. */
export async function devResetPlan(options: Pick<DevOptions, 'root'>): Promise<DevResetPlan> {
  const layout = devLayout(options.root);
  const state = await readState(layout);
  const exists = await lstat(layout.dir).then(() => true, () => false);
  if (state === undefined) return { stop: [], delete: exists ? [layout.dir] : [] };
  const services = await devStatus(options);
  const pgDir = resolve(layout.dir, state.postgres.dir);
  return {
    stop: services.filter((service) => service.state === 'running').map((service) => service.name),
    delete: [layout.dir, ...(isInside(pgDir, layout.dir) ? [] : [pgDir])],
  };
}

/**
 * Stops the stack and deletes its data and state (ports included): the next `dev up` starts
 * from scratch. The caller confirms first.
 */
export async function devReset(options: DevOptions): Promise<DevResetPlan> {
  const plan = await devResetPlan(options);
  await devDown(options);
  for (const path of plan.delete) {
    options.onProgress?.(`deleting ${path}`);
    await rm(path, { recursive: true, force: true });
  }
  return plan;
}

// ---- state --------------------------------------------------------------------------------------

async function newState(options: DevOptions, layout: DevLayout, user: ServerUser | undefined): Promise<DevState> {
  const redisPort = await freePort();
  let pgPort = await freePort();
  while (pgPort === redisPort) pgPort = await freePort();
  return {
    kind: STATE_KIND,
    version: STATE_VERSION,
    createdAt: new Date().toISOString(),
    redis: { port: redisPort },
    postgres: { port: pgPort, dir: await choosePostgresDir(options, layout, user) },
  };
}

/**
 * `postgres` (relative to the dev dir) when the server's OS user can reach the project; as root
 * in a directory it cannot enter (/root is 0700), a private directory under the temp dir.
 */
async function choosePostgresDir(options: DevOptions, layout: DevLayout, user: ServerUser | undefined): Promise<string> {
  if (user === undefined || (await userCanEnter(user, options.root))) return 'postgres';
  const hash = createHash('sha256').update(layout.dir).digest('hex').slice(0, 12);
  return join(tmpdir(), `opsctl-dev-${hash}`);
}

function userCanEnter(user: ServerUser, dir: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], { uid: user.uid, gid: user.gid, cwd: '/' }, (error) => resolvePromise(error === null));
  });
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function redisUrl(port: number): string {
  return `redis://127.0.0.1:${port}`;
}

function postgresUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

async function assertPortFree(port: number, service: DevServiceName): Promise<void> {
  if (await portInUse(port)) {
    throw new OpsError('DEV_PORT_TAKEN', `port ${port} (recorded for the dev ${service}) is in use by another process`, {
      hint: 'stop that process, or run `opsctl dev reset` so `opsctl dev up` picks new ports',
      details: { port, service },
    });
  }
}

// ---- redis --------------------------------------------------------------------------------------

type Inspection = { running: true; pid: number } | { running: false };

async function inspectRedis(layout: DevLayout, state: DevState): Promise<Inspection> {
  const pid = Number.parseInt(await readFile(layout.redisPidFile, 'utf8').catch(() => ''), 10);
  const info = await processInfo(pid);
  // redis-server retitles itself `redis-server 127.0.0.1:PORT`.
  const listening = new RegExp(`:${state.redis.port}(?!\\d)`);
  if (info === undefined || !/redis-server/.test(info.commandLine) || !listening.test(info.commandLine)) {
    return { running: false };
  }
  if (info.cwd !== undefined && info.cwd !== (await realpath(layout.redisDir).catch(() => layout.redisDir))) return { running: false };
  return { running: true, pid };
}

async function startRedis(options: DevOptions, layout: DevLayout, state: DevState, binary: string): Promise<void> {
  const port = state.redis.port;
  await mkdir(layout.redisDir, { recursive: true });
  await rm(layout.redisPidFile, { force: true });
  const version = state.redis.version === undefined ? '' : ` ${state.redis.version}`;
  options.onProgress?.(`starting redis-server${version} on 127.0.0.1:${port}`);
  // Daemonized (redis forks and calls setsid), so it outlives this process and its terminal.
  await runTool(
    binary,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', layout.redisDir,
      '--daemonize', 'yes',
      '--pidfile', layout.redisPidFile,
      '--logfile', layout.redisLog,
      // Bounded, evicting only keys with a TTL: what `opsctl doctor` recommends for production too.
      '--maxmemory', '256mb',
      '--maxmemory-policy', 'volatile-lru',
    ],
    { ...options, cwd: layout.redisDir },
  );
  const startedAt = Date.now();
  try {
    await pollUntilReady(() => redisProbe(port, [['PING']], '+PONG'), {
      name: 'redis-server',
      timeoutMs: START_TIMEOUT_MS,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      gaveUp: async () => {
        const pid = Number.parseInt(await readFile(layout.redisPidFile, 'utf8').catch(() => ''), 10);
        if (Number.isInteger(pid)) return processAlive(pid) ? undefined : 'exited during start-up';
        return Date.now() - startedAt > 5_000 ? 'did not write its pid file' : undefined;
      },
    });
  } catch (error) {
    throw await startFailed('redis-server', error, layout.redisLog);
  }
}

async function stopRedis(pid: number, signal: AbortSignal | undefined): Promise<void> {
  // SIGTERM: redis saves its RDB snapshot (the dev data survives down/up) and exits.
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (processAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await sleep(50, undefined, signal === undefined ? undefined : { signal });
  }
}

async function redisVersion(binary: string): Promise<string | undefined> {
  const { stdout } = await execa(binary, ['--version'], { reject: false, timeout: 10_000 });
  return /\bv=(\S+)/.exec(stdout)?.[1];
}

// ---- postgres -----------------------------------------------------------------------------------

async function inspectPostgres(pgDir: string, state: DevState): Promise<Inspection> {
  const { dataDir } = postgresPaths(pgDir);
  // postmaster.pid: line 1 the pid, line 4 the port (PostgreSQL's documented layout).
  const lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  if (Number(lines[3]) !== state.postgres.port) return { running: false };
  const info = await processInfo(pid);
  if (info === undefined || !/postgres|postmaster/.test(info.commandLine)) return { running: false };
  const ours = info.cwd === undefined ? info.commandLine.includes(dataDir) : info.cwd === (await realpath(dataDir).catch(() => dataDir));
  return ours ? { running: true, pid } : { running: false };
}

async function startPostgres(options: DevOptions, pgDir: string, state: DevState, pgBin: PgServerBinDir, user: ServerUser | undefined): Promise<void> {
  const { dataDir, log } = postgresPaths(pgDir);
  const asServer = { ...options, cwd: pgDir, user };
  await preparePostgresDir(pgDir, user);
  const clusterMajor = await readFile(join(dataDir, 'PG_VERSION'), 'utf8').then((text) => text.trim(), () => undefined);
  if (clusterMajor === undefined) {
    options.onProgress?.(`initialising a PostgreSQL ${pgBin.version.major} cluster in ${dataDir}`);
    // A half-made cluster (initdb interrupted) has no PG_VERSION; initdb wants an empty dir.
    await rm(dataDir, { recursive: true, force: true });
    await runTool(join(pgBin.binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'], asServer);
    await writeFile(join(dataDir, 'postgresql.conf'), "\n# opsctl dev: port and addresses\ninclude_if_exists = 'opsctl-dev.conf'\n", { flag: 'a' });
  } else if (clusterMajor !== String(pgBin.version.major)) {
    throw new OpsError(
      'DEV_START_FAILED',
      `the dev PostgreSQL data in ${dataDir} was made by PostgreSQL ${clusterMajor}; this machine has PostgreSQL ${pgBin.version.major} (${pgBin.binDir})`,
      { hint: '`opsctl dev reset --yes` deletes the dev data; then `opsctl dev up` makes a new cluster' },
    );
  }
  // Rewritten on every start so the recorded port wins; no Unix socket (the default directory
  // may not be writable, and project paths can exceed the socket path limit).
  const conf = join(dataDir, 'opsctl-dev.conf');
  await writeFile(conf, `port = ${state.postgres.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n`);
  if (user !== undefined) await chown(conf, user.uid, user.gid);

  options.onProgress?.(`starting PostgreSQL ${state.postgres.version} on 127.0.0.1:${state.postgres.port}`);
  try {
    // pg_ctl detaches the postmaster (setsid) and waits until it accepts connections.
    await runTool(join(pgBin.binDir, 'pg_ctl'), ['start', '-D', dataDir, '-l', log, '-w', '-t', '60', '-s'], asServer);
    await pollUntilReady(() => pgProbe(state.postgres.port), {
      name: 'postgres',
      timeoutMs: 10_000,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (error) {
    throw await startFailed('postgres', error, log);
  }
}

/** Creates the server's directory; as root it belongs to the `postgres` user, private. */
async function preparePostgresDir(pgDir: string, user: ServerUser | undefined): Promise<void> {
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  const stats = await lstat(pgDir);
  const owner = user?.uid ?? process.getuid?.();
  if (stats.isSymbolicLink() || !stats.isDirectory()) {
    throw new OpsError('DEV_DIR_FOREIGN', `${pgDir} is not a directory opsctl created`, { hint: 'move it away; opsctl will not touch it' });
  }
  if (user !== undefined && stats.uid !== user.uid) {
    if (stats.uid !== 0) {
      throw new OpsError('DEV_DIR_FOREIGN', `${pgDir} belongs to uid ${stats.uid}, not to ${user.name} or opsctl`, {
        hint: 'move it away; opsctl will not touch it',
      });
    }
    await chown(pgDir, user.uid, user.gid);
  } else if (owner !== undefined && stats.uid !== owner) {
    throw new OpsError('DEV_DIR_FOREIGN', `${pgDir} belongs to uid ${stats.uid}, not to this user`, { hint: 'move it away; opsctl will not touch it' });
  }
}

// ---- helpers ------------------------------------------------------------------------------------

interface RunOptions extends DevOptions {
  cwd: string;
  user?: ServerUser | undefined;
}

/** Runs a server program (traced), as the server's OS user when given; TOOL_FAILED with its output. */
async function runTool(file: string, args: readonly string[], options: RunOptions): Promise<void> {
  const tracer = options.tracer ?? silentTracer;
  const started = performance.now();
  const result = await execa(file, [...args], {
    cwd: options.cwd,
    // English messages, so logs and errors read the same everywhere.
    env: { ...options.env, LC_ALL: 'C', LANG: 'C' },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: 120_000,
    ...(options.signal === undefined ? {} : { cancelSignal: options.signal }),
    ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
  });
  tracer.record('exec', `${file} ${args.join(' ')}${options.user === undefined ? '' : ` (as ${options.user.name})`}`, performance.now() - started);
  options.signal?.throwIfAborted();
  if (result.failed) {
    const output = `${result.stdout}\n${result.stderr}`.trim();
    throw new OpsError('TOOL_FAILED', `${basename(file)} failed (${(result.shortMessage ?? 'failed').split('\n')[0]})${output === '' ? '' : `:\n${tailLog(output, 15)}`}`, {
      hint: 'read the output above; rerun with --debug to see the exact command line',
      details: { tool: basename(file), exitCode: result.exitCode ?? null },
    });
  }
}

/** DEV_START_FAILED with the server's log quoted (an OpsError other than TOOL_FAILED passes through). */
async function startFailed(name: string, error: unknown, logFile: string): Promise<OpsError> {
  if (error instanceof OpsError && error.code !== 'TOOL_FAILED') return error;
  const log = await readFile(logFile, 'utf8').catch(() => '');
  const reason = error instanceof Error ? error.message : String(error);
  return new OpsError('DEV_START_FAILED', `${name} did not start: ${reason}\n${name} log (${logFile}):\n${tailLog(log, 20)}`, {
    hint: 'read the log; `opsctl dev reset` starts from scratch',
    cause: error,
  });
}
