import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Pool } from 'pg';
import { OpsError } from '../core/errors.js';
import type { Codec } from './compression.js';
import { ObjectWriter, readObjectBuffer } from './pg-physical-pack.js';
import type { Repository } from './repository.js';
import type { Compression } from './types.js';
import { defaultSpoolDir, spoolState, type SpoolState } from './wal-spool.js';

/**
 * The WAL archive: `<repo>/wal/<dir>/<file>-<sha256 of content><.zst|.gz><.age>`, one object per
 * file PostgreSQL archives (docs/backup-repository.md, "WAL archive"). `<dir>` is the first 16
 * hex digits of a segment name (timeline + high log id, at most 256 segments of 16 MiB each)
 * or `timelines` for history files. The content hash in the name lets a second push of the
 * same name be compared without decrypting anything.
 */
const SEGMENT = /^[0-9A-F]{24}$/;
const ARCHIVABLE = /^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

function walDir(name: string): string {
  return /^[0-9A-F]{24}/.test(name) ? `wal/${name.slice(0, 16)}` : 'wal/timelines';
}

interface ArchivedWal {
  key: string;
  name: string;
  sha256: string;
  compression: Compression;
  encryption: 'age' | 'none';
}

function parseKey(key: string): ArchivedWal | undefined {
  const match = /^wal\/[^/]+\/([^/]+)-([0-9a-f]{64})(\.zst|\.gz)?(\.age)?$/.exec(key);
  if (match === null) return undefined;
  return {
    key,
    name: match[1]!,
    sha256: match[2]!,
    compression: match[3] === '.zst' ? 'zstd' : match[3] === '.gz' ? 'gzip' : 'none',
    encryption: match[4] === undefined ? 'none' : 'age',
  };
}

async function findArchived(repo: Repository, name: string): Promise<ArchivedWal[]> {
  const keys = await repo.storage.list(walDir(name));
  return keys.map(parseKey).filter((entry): entry is ArchivedWal => entry?.name === name);
}

export interface WalPushResult {
  name: string;
  status: 'archived' | 'already-archived';
  key: string;
  size: number;
  sizeStored: number;
}

/**
 * Archives one WAL file (`archive_command = '… wal-push %p'`): compressed, encrypted to the
 * repository's active key (no private key needed), fsynced and renamed into place. The same
 * name with the same content again succeeds (PostgreSQL retries after a crash); other content
 * under an archived name is BACKUP_WAL_CONFLICT.
 */
export async function pushWal(repo: Repository, path: string, codec: Codec): Promise<WalPushResult> {
  const name = basename(path);
  if (!ARCHIVABLE.test(name)) throw new OpsError('USAGE', `${name} is not a WAL segment, .partial, .backup or .history file name`);
  const content = await readFile(path);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const existing = await findArchived(repo, name);
  const same = existing.find((entry) => entry.sha256 === sha256);
  if (same !== undefined) return { name, status: 'already-archived', key: same.key, size: content.length, sizeStored: (await repo.storage.stat(same.key))?.size ?? 0 };
  if (existing.length > 0) {
    throw new OpsError('BACKUP_WAL_CONFLICT', `${name} is already archived with other content (SHA-256 ${existing[0]!.sha256.slice(0, 12)}…, this file ${sha256.slice(0, 12)}…)`, {
      hint: 'each cluster needs its own repository; the archived file was left as it is',
    });
  }
  const key = `${walDir(name)}/${name}-${sha256}${codec.extension}${repo.encrypted ? '.age' : ''}`;
  const writer = new ObjectWriter(repo, key, codec);
  try {
    await writer.write(content);
    const stored = await writer.finish(name);
    return { name, status: 'archived', key, size: content.length, sizeStored: stored.sizeStored };
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
}

/**
 * Restores one archived WAL file to `dest` (`restore_command = '… wal-fetch %f %p'`).
 * BACKUP_WAL_MISSING when it is not archived: PostgreSQL treats the non-zero exit as "no more
 * WAL" and ends recovery. The content is checked against the SHA-256 in the object's name.
 */
export async function fetchWal(repo: Repository, name: string, dest: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ name: string; key: string; size: number }> {
  if (!ARCHIVABLE.test(name)) throw new OpsError('USAGE', `${name} is not a WAL segment, .partial, .backup or .history file name`);
  const found = (await findArchived(repo, name))[0];
  if (found === undefined) throw new OpsError('BACKUP_WAL_MISSING', `${name} is not in the WAL archive at ${repo.storage.location}`);
  const content = await readObjectBuffer(repo, found.key, found, options);
  if (createHash('sha256').update(content).digest('hex') !== found.sha256) {
    throw new OpsError('BACKUP_DECRYPT_FAILED', `${found.key}: content does not match the SHA-256 in its name`);
  }
  const temp = `${dest}.opsctl-${process.pid}`;
  try {
    await writeFile(temp, content, { mode: 0o600 });
    await rename(temp, dest);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { name, key: found.key, size: content.length };
}

/** Whether a WAL file is archived (by name), for backup checks. */
export async function isWalArchived(repo: Repository, name: string): Promise<boolean> {
  return (await findArchived(repo, name)).length > 0;
}

/** Segment names of the archive, sorted. */
export async function archivedSegments(repo: Repository): Promise<string[]> {
  const keys = await repo.storage.list('wal');
  return keys
    .map(parseKey)
    .filter((entry): entry is ArchivedWal => entry !== undefined && SEGMENT.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

/** The position of a segment: timeline and segment number (log id × segments per log id + seg). */
export function parseSegmentName(name: string, segmentSize: number): { timeline: number; segno: bigint } {
  if (!SEGMENT.test(name)) throw new Error(`not a WAL segment name: ${name}`);
  const perLog = 0x1_0000_0000n / BigInt(segmentSize);
  return { timeline: Number.parseInt(name.slice(0, 8), 16), segno: BigInt(`0x${name.slice(8, 16)}`) * perLog + BigInt(`0x${name.slice(16, 24)}`) };
}

export function segmentName(timeline: number, segno: bigint, segmentSize: number): string {
  const perLog = 0x1_0000_0000n / BigInt(segmentSize);
  const hex = (value: bigint | number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / perLog)}${hex(segno % perLog)}`;
}

/** Every segment name from `first` to `last`, both included (same timeline). */
export function segmentsBetween(first: string, last: string, segmentSize: number): string[] {
  const start = parseSegmentName(first, segmentSize);
  const stop = parseSegmentName(last, segmentSize);
  const names: string[] = [];
  for (let segno = start.segno; segno <= stop.segno; segno += 1n) names.push(segmentName(start.timeline, segno, segmentSize));
  return names;
}

/**
 * pgError, loaded on demand: wal-push runs once per segment and must not load the pg driver
 * (tens of milliseconds of start-up) it never uses.
 */
async function asPgError(pool: Pool, error: unknown): Promise<OpsError> {
  const { pgError } = await import('../postgres/connection.js');
  return pgError(pool, error);
}

export interface WalStatus {
  archiveMode: string;
  archiveCommand: string;
  currentSegment: string | undefined;
  lastArchived: string | undefined;
  lastArchivedAt: string | undefined;
  archivedCount: number;
  failedCount: number;
  lastFailed: string | undefined;
  lastFailedAt: string | undefined;
  /** Segments waiting in pg_wal/archive_status (.ready): the archiver's backlog. */
  pendingSegments: number;
  /** WAL written since the end of the last archived segment. */
  lagBytes: number | undefined;
  /** Newest segment in the repository's archive. */
  newestInRepository: string | undefined;
  /** The asynchronous archiving spool (wal-push --async), when there is one. */
  spool: SpoolState | undefined;
}

/**
 * The archiver's view (pg_stat_archiver, pg_ls_archive_statusdir) beside the repository's and
 * the async spool's (`spool`, or the default one of the server's pg_wal when it is local).
 */
export async function walStatus(pool: Pool, repo: Repository, options: { spool?: string } = {}): Promise<WalStatus> {
  let row: Record<string, string | null>;
  try {
    const result = await pool.query<Record<string, string | null>>(`
      select current_setting('archive_mode') as archive_mode, current_setting('archive_command') as archive_command,
        a.archived_count::text, a.last_archived_wal, a.last_archived_time::text, a.failed_count::text,
        a.last_failed_wal, a.last_failed_time::text,
        (select setting from pg_settings where name = 'wal_segment_size') as segment_size,
        case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as current_segment,
        case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text end as current_lsn,
        (select count(*) from pg_ls_archive_statusdir() where name like '%.ready')::text as pending,
        (select setting from pg_settings where name = 'data_directory') as data_directory
      from pg_stat_archiver a`);
    row = result.rows[0]!;
  } catch (error) {
    throw await asPgError(pool, error);
  }
  const segmentSize = Number(row.segment_size);
  const dataDirectory = row.data_directory ?? undefined;
  const spoolDir = options.spool ?? (dataDirectory === undefined ? undefined : defaultSpoolDir(join(dataDirectory, 'pg_wal')));
  const lastArchived = row.last_archived_wal ?? undefined;
  let lagBytes: number | undefined;
  if (row.current_lsn !== null && row.current_lsn !== undefined) {
    const archivedEnd = lastArchived !== undefined && SEGMENT.test(lastArchived)
      ? (parseSegmentName(lastArchived, segmentSize).segno + 1n) * BigInt(segmentSize)
      : 0n;
    const lag = BigInt(row.current_lsn) - archivedEnd;
    lagBytes = Number(lag > 0n ? lag : 0n);
  }
  return {
    archiveMode: row.archive_mode ?? '',
    archiveCommand: row.archive_command ?? '',
    currentSegment: row.current_segment ?? undefined,
    lastArchived,
    lastArchivedAt: row.last_archived_time ?? undefined,
    archivedCount: Number(row.archived_count),
    failedCount: Number(row.failed_count),
    lastFailed: row.last_failed_wal ?? undefined,
    lastFailedAt: row.last_failed_time ?? undefined,
    pendingSegments: Number(row.pending),
    lagBytes,
    newestInRepository: (await archivedSegments(repo)).at(-1),
    spool: spoolDir === undefined ? undefined : await spoolState(spoolDir),
  };
}

export interface ArchivingSetup {
  statements: string[];
  restartNeeded: boolean;
  applied: boolean;
}

/**
 * Configures continuous archiving with ALTER SYSTEM: wal_level at least replica, archive_mode
 * on, archive_command. Only what differs is changed; wal_level and archive_mode take effect at
 * a restart (restartNeeded), archive_command at the reload done here. `dryRun` returns the SQL.
 */
export async function setupArchiving(pool: Pool, archiveCommand: string, options: { dryRun?: boolean } = {}): Promise<ArchivingSetup> {
  try {
    const current = await pool.query<{ name: string; setting: string; pending_restart: boolean }>(
      "select name, setting, pending_restart from pg_settings where name in ('wal_level', 'archive_mode', 'archive_command')",
    );
    const setting = (name: string) => current.rows.find((row) => row.name === name);
    const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
    const statements: string[] = [];
    let restartNeeded = current.rows.some((row) => row.pending_restart && row.name !== 'archive_command');
    if (setting('wal_level')?.setting === 'minimal') {
      statements.push(`ALTER SYSTEM SET wal_level = 'replica'`);
      restartNeeded = true;
    }
    if (setting('archive_mode')?.setting === 'off') {
      statements.push(`ALTER SYSTEM SET archive_mode = 'on'`);
      restartNeeded = true;
    }
    if (setting('archive_command')?.setting !== archiveCommand) statements.push(`ALTER SYSTEM SET archive_command = ${quote(archiveCommand)}`);
    if (statements.length > 0) statements.push('SELECT pg_reload_conf()');
    if (options.dryRun !== true) {
      for (const statement of statements) await pool.query(statement);
    }
    return { statements, restartNeeded, applied: options.dryRun !== true && statements.length > 0 };
  } catch (error) {
    throw await asPgError(pool, error);
  }
}
