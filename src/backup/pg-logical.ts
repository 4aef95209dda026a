import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool } from 'pg';
import { OpsError, isOpsError } from '../core/errors.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import type { PostgresConfig } from '../config/schema.js';
import { pgError, pgToolEnv, resolvePgTarget } from '../postgres/connection.js';
import { findPgTool, type PgTool } from '../postgres/tools.js';
import { createAgeEncryptStream } from './age.js';
import { childStage, resolveCodec, type Codec } from './compression.js';
import { runBackupJob, type BackupJobResult, type BackupRunOptions } from './backup-job.js';
import type { Repository } from './repository.js';
import { Coalesce, HashTap, settleAll } from './streams.js';
import { TocTee } from './toc.js';
import type { ObjectRecord } from './types.js';

export interface LogicalBackupOptions extends BackupRunOptions {
  /**
   * Opens a pool on the server (any database) for its version and list of databases. Called
   * after the run is recorded, so an unreachable server is a failed run in the catalog.
   */
  connect: () => Promise<Pool>;
  /** The profile's postgres section: pg_dump connects with the same settings. */
  postgres: PostgresConfig;
  configKey: string;
  /** Databases to dump; default: every database that is not a template and allows connections. */
  databases?: readonly string[];
  /** Dump roles and tablespaces with `pg_dumpall --globals-only` (default true). */
  globals?: boolean;
  tracer?: Tracer;
}

/** What a finished backup run returns: its manifest and the leftovers of interrupted runs removed first. */
export type LogicalBackupResult = BackupJobResult;

/**
 * Takes a logical backup: `pg_dump -Fc -Z0` of each database and `pg_dumpall --globals-only`,
 * each streamed through compression, age encryption and SHA-256 into the repository, with the
 * dump's table of contents read on the way by `pg_restore --list`. The run is recorded in the
 * run catalog; the manifest is written last. On failure or abort the backup's directory is
 * removed, the run recorded as failed, and the error rethrown.
 */
export async function runLogicalBackup(options: LogicalBackupOptions): Promise<LogicalBackupResult> {
  const repo = options.repository;
  const signal = options.signal;
  const tracer = options.tracer ?? silentTracer;
  signal?.throwIfAborted();
  const env = options.env ?? process.env;
  // Tool discovery (a --version run each) overlaps the cleanup, lock and connection; versions
  // are checked against the server's once it is known, and failures are recorded in the run.
  const names = ['pg_dump', 'pg_restore', ...(options.globals === false ? [] : ['pg_dumpall'])];
  const found = Promise.all(names.map((name) => findPgTool(name, { env }).then((tool) => unwrapDebianWrapper(tool, env))));
  const codecFound = resolveCodec(options.compression, env);
  found.catch(() => undefined);
  codecFound.catch(() => undefined);
  return runBackupJob(
    { repository: repo, kind: 'pg-logical', ...(options.label === undefined ? {} : { label: options.label }), ...(options.set === undefined ? {} : { set: options.set }), ...(signal === undefined ? {} : { signal }), ...(options.progress === undefined ? {} : { progress: options.progress }) },
    async (job) => {
      const facts = await serverFacts(await options.connect());
      const databases = selectDatabases(facts.databases, options.databases);
      const [pgDump, pgRestore, pgDumpAll] = await requireVersion(await found, facts.major, env);
      const codec = await codecFound;
      const toolEnv = pgToolEnv(options.postgres, options.configKey, env);
      const taken = new Set<string>();
      for (const database of databases) {
        const path = uniqueName(`db-${safeName(database)}`, taken, `.dump${codec.extension}${repo.encrypted ? '.age' : ''}`);
        tracer.record('exec', `${pgDump.path} -Fc -Z0 (database ${database}) → ${codec.algorithm} → ${repo.encrypted ? 'age' : 'plain'} → ${path}`);
        const stored = await storeToolOutput({
          repo,
          backupId: job.id,
          path,
          codec,
          producer: () => childStage(pgDump.path, ['-Fc', '-Z0', '--no-password'], 'pg_dump', { env: { ...toolEnv, PGDATABASE: database } }),
          lister: () => childStage(pgRestore.path, ['--list'], 'pg_restore --list', { env: toolEnv }),
          signal,
          onBytes: job.onBytes(path),
        });
        job.add({ ...stored.record, role: 'database', database, format: 'pg_dump-custom', toc: stored.toc });
      }
      if (options.globals !== false) {
        const path = uniqueName('globals', taken, `.sql${codec.extension}${repo.encrypted ? '.age' : ''}`);
        tracer.record('exec', `${pgDumpAll!.path} --globals-only → ${path}`);
        const stored = await storeToolOutput({
          repo,
          backupId: job.id,
          path,
          codec,
          producer: () => childStage(pgDumpAll!.path, ['--globals-only', '--no-password'], 'pg_dumpall --globals-only', { env: toolEnv }),
          signal,
          onBytes: job.onBytes(path),
        });
        job.add({ ...stored.record, role: 'globals', format: 'sql' });
      }
      return { server: describeServer(options.postgres, options.configKey), serverVersion: facts.version, pgDump: pgDump.version.text };
    },
  );
}

/**
 * A pg_dump older than the server cannot dump it: when the first tool found is older, look for a
 * new enough installation, and findPgTool refuses with the versions it found.
 */
async function requireVersion(tools: PgTool[], major: number, env: NodeJS.ProcessEnv): Promise<[PgTool, PgTool, PgTool | undefined]> {
  const checked = await Promise.all(tools.map((tool) => (tool.version.major >= major ? tool : findPgTool(tool.name, { env, minMajor: major }))));
  return [checked[0]!, checked[1]!, checked[2]];
}

/**
 * Debian's /usr/bin/pg_dump is pg_wrapper, a Perl script that picks an installation and execs
 * it: about 20 ms of start-up per run. It would pick the newest installation for a remote
 * server, so the same-version program from the installation directories is used directly.
 */
async function unwrapDebianWrapper(tool: PgTool, env: NodeJS.ProcessEnv): Promise<PgTool> {
  const target = await realpath(tool.path).catch(() => tool.path);
  if (basename(target) !== 'pg_wrapper') return tool;
  const direct = await findPgTool(tool.name, { env: { ...env, PATH: '' }, minMajor: tool.version.major }).catch(() => tool);
  return direct.version.major === tool.version.major ? direct : tool;
}

interface ServerFacts {
  major: number;
  version: string;
  databases: string[];
}

async function serverFacts(pool: Pool): Promise<ServerFacts> {
  try {
    const version = await pool.query<{ num: string; version: string }>(
      "select current_setting('server_version_num') as num, current_setting('server_version') as version",
    );
    const databases = await pool.query<{ datname: string }>(
      'select datname from pg_database where not datistemplate and datallowconn order by datname',
    );
    const num = Number(version.rows[0]!.num);
    return { major: Math.floor(num / 10000), version: version.rows[0]!.version.split(' ')[0]!, databases: databases.rows.map((row) => row.datname) };
  } catch (error) {
    throw pgError(pool, error);
  }
}

function selectDatabases(available: readonly string[], wanted: readonly string[] | undefined): string[] {
  if (wanted === undefined || wanted.length === 0) return [...available];
  const missing = wanted.filter((name) => !available.includes(name));
  if (missing.length > 0) {
    throw new OpsError('USAGE', `no database ${missing.map((name) => `"${name}"`).join(', ')} on the server (or it does not allow connections)`, {
      hint: `databases: ${available.join(', ')}`,
    });
  }
  return [...new Set(wanted)];
}

export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function uniqueName(stem: string, taken: Set<string>, suffix: string): string {
  let name = `${stem}${suffix}`;
  for (let n = 2; taken.has(name); n += 1) name = `${stem}-${n}${suffix}`;
  taken.add(name);
  return name;
}

function describeServer(config: PostgresConfig, configKey: string): string {
  const target = resolvePgTarget(config, configKey);
  return `${target.user}@${target.host}:${target.port}`;
}

export interface StoreOptions {
  repo: Repository;
  backupId: string;
  path: string;
  codec: Codec;
  producer: () => ReturnType<typeof childStage>;
  lister?: () => ReturnType<typeof childStage>;
  signal: AbortSignal | undefined;
  onBytes: (logical: number, stored: number) => void;
}

/** libpq's words for a server that went away or never answered. */
const LOST_CONNECTION = /could not connect|connection to server|server closed the connection|terminating connection|no connection to the server|connection refused/i;

export type StoredRecord = Pick<ObjectRecord, 'path' | 'compression' | 'compressionLevel' | 'encryption' | 'keyId' | 'sizeStored' | 'sizeLogical' | 'sha256Stored' | 'sha256Content'>;

/**
 * producer stdout → SHA-256 (content) [→ pg_restore --list] → compression → age → SHA-256
 * (stored) → storage. Plaintext exists only in these streams, never on disk.
 */
export async function storeToolOutput(options: StoreOptions): Promise<{ record: StoredRecord; toc?: ObjectRecord['toc'] }> {
  const { repo, codec } = options;
  options.signal?.throwIfAborted();
  let stored = 0;
  const content = new HashTap((bytes) => options.onBytes(bytes, stored));
  const storedTap = new HashTap((bytes) => {
    stored = bytes;
  });
  const producer = options.producer();
  producer.input.end();
  const lister = options.lister?.();
  const tee = lister === undefined ? undefined : new TocTee(lister);
  const compress = codec.compress();
  const key = repo.activeKey;
  const encrypt = key === undefined ? new PassThrough() : createAgeEncryptStream([key.recipient]);
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const stopAll = () => {
    producer.abort();
    compress.abort();
    lister?.abort();
    if (!controller.signal.aborted) controller.abort();
  };
  controller.signal.addEventListener('abort', stopAll, { once: true });
  try {
    const upstream = tee === undefined
      ? pipeline(producer.output, content, new Coalesce(), compress.input, { signal: controller.signal })
      : pipeline(producer.output, content, tee, new Coalesce(), compress.input, { signal: controller.signal });
    const downstream = pipeline(compress.output, encrypt, storedTap, { signal: controller.signal });
    const put = repo.storage.put(`backups/${options.backupId}/${options.path}`, storedTap, { signal: controller.signal });
    await settleAll([upstream, downstream, put, producer.done, compress.done, ...(lister === undefined ? [] : [lister.done])], stopAll);
    return {
      record: {
        path: options.path,
        compression: codec.algorithm,
        ...(codec.level === undefined ? {} : { compressionLevel: codec.level }),
        encryption: key === undefined ? 'none' : 'age',
        ...(key === undefined ? {} : { keyId: key.id }),
        sizeStored: storedTap.bytes,
        sizeLogical: content.bytes,
        sha256Stored: storedTap.digest(),
        sha256Content: content.digest(),
      },
      ...(tee === undefined ? {} : { toc: await tee.entries() }),
    };
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    if (isOpsError(error) && error.code === 'TOOL_FAILED' && /^pg_dump/.test(error.message) && LOST_CONNECTION.test(error.message)) {
      throw new OpsError('PG_UNREACHABLE', error.message, { hint: 'check that the server is up; this run left no backup', cause: error });
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
