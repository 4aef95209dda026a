import { OpsError, isOpsError } from '../core/errors.js';
import { formatBytes, formatDuration } from '../core/parse.js';
import { noProgress, type ProgressReporter } from '../core/progress.js';
import { secrets } from '../core/redact.js';
import type { CompressionSpec } from './compression.js';
import type { CleanupReport, Repository } from './repository.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type BackupKind, type Manifest, type ObjectRecord, type RunRecord } from './types.js';

/** What a job's body sees: its backup id and where it reports objects and bytes. */
export interface BackupJob {
  id: string;
  /** A progress callback for one object, in the shape storeToolOutput's onBytes takes. */
  onBytes(object: string): (logical: number, stored: number) => void;
  /** Progress in the body's own terms (bytes read so far and a detail), at most ten times a second. */
  report(done: number, detail: string): void;
  /** Records a stored object in the manifest being built. */
  add(record: ObjectRecord): void;
  /**
   * Manifest fields only some kinds have: the physical block, a logical size other than the
   * sum of the objects' (what the backup represents, for physical ones), and a note for the
   * final progress line.
   */
  set(extras: { physical?: Manifest['physical']; sizeLogical?: number; note?: string }): void;
}

export interface BackupJobOptions {
  /** An unlocked repository. */
  repository: Repository;
  kind: BackupKind;
  /** full (default), or diff/incr for physical backups. */
  type?: Manifest['type'];
  label?: string;
  /** The backup set this backup belongs to (`backup run --all`). */
  set?: string;
  signal?: AbortSignal;
  progress?: ProgressReporter;
}

/** The options every kind's backup takes besides its source. */
export interface BackupRunOptions {
  /** An unlocked repository. */
  repository: Repository;
  compression: CompressionSpec;
  label?: string;
  /** The backup set this backup belongs to (`backup run --all`). */
  set?: string;
  /** Environment for finding and running the tools (PATH). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  progress?: ProgressReporter;
}

export interface BackupJobResult {
  manifest: Manifest;
  cleaned: CleanupReport;
}

/**
 * The life of one backup: cleanup of
 * interrupted runs, the kind's lock, a `running` run record, the body storing objects, then the
 * manifest (the commit) and an `ok` record. On failure or abort the backup's directory is
 * removed, the run recorded as failed with the error's code, and the error rethrown.
 */
export async function runBackupJob(options: BackupJobOptions, body: (job: BackupJob) => Promise<Manifest['source']>): Promise<BackupJobResult> {
  const repo = options.repository;
  const { clock } = repo;
  const signal = options.signal;
  signal?.throwIfAborted();
  const cleaned = await repo.cleanup();
  const id = repo.newBackupId(options.kind);
  const release = await repo.acquireLock(options.kind, id);
  const startedMs = clock.now();
  const startedMono = clock.monotonic();
  const run: RunRecord = {
    id,
    kind: options.kind,
    status: 'running',
    startedAt: new Date(startedMs).toISOString(),
    host: repo.self.host,
    pid: repo.self.pid,
    ...(options.label === undefined ? {} : { label: options.label }),
  };
  const type = options.type ?? 'full';
  const task = (options.progress ?? noProgress).start(`backup ${options.kind}${type === 'full' ? '' : ` (${type})`}`, { unit: 'bytes' });
  const objects: ObjectRecord[] = [];
  const totals = { logical: 0, stored: 0 };
  let extras: Parameters<BackupJob['set']>[0] = {};
  let lastUpdate = 0;
  // Called per chunk (64 KiB): report at most ten times a second.
  const report = (done: number, detail: string) => {
    const now = clock.monotonic();
    if (now - lastUpdate < 100) return;
    lastUpdate = now;
    task.update(done, detail);
  };
  const job: BackupJob = {
    id,
    onBytes: (object) => (logical, stored) => report(totals.logical + logical, `${object} · ${formatBytes(totals.stored + stored)} stored`),
    report,
    add: (record) => {
      objects.push(record);
      totals.logical += record.sizeLogical;
      totals.stored += record.sizeStored;
    },
    set: (more) => {
      extras = { ...extras, ...more };
    },
  };
  try {
    await repo.writeRun(run);
    const source = await body(job);
    signal?.throwIfAborted();
    const durationMs = Math.round(clock.monotonic() - startedMono);
    const sizeLogical = extras.sizeLogical ?? totals.logical;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      id,
      kind: options.kind,
      type,
      ...(options.label === undefined ? {} : { label: options.label }),
      ...(options.set === undefined ? {} : { set: options.set }),
      repository: repo.id,
      startedAt: run.startedAt,
      finishedAt: new Date(clock.now()).toISOString(),
      durationMs,
      host: repo.self.host,
      source,
      ...(extras.physical === undefined ? {} : { physical: extras.physical }),
      objects,
      totals: { objects: objects.length, sizeStored: totals.stored, sizeLogical },
    };
    await repo.writeManifest(manifest);
    await repo.writeRun({ ...run, status: 'ok', finishedAt: manifest.finishedAt, durationMs, sizeStored: totals.stored, sizeLogical });
    const note = extras.note === undefined ? '' : ` (${extras.note})`;
    task.finish(true, `backup ${id}: ${formatBytes(sizeLogical)} read, ${formatBytes(totals.stored)} stored in ${formatDuration(durationMs)}${note}`);
    return { manifest, cleaned };
  } catch (caught) {
    const error = signal?.aborted === true ? signal.reason : storageError(caught, repo.storage.location);
    task.finish(false, `backup ${id} failed`);
    await repo.storage.deletePrefix(`backups/${id}`).catch(() => undefined);
    await repo
      .writeRun({
        ...run,
        status: 'failed',
        finishedAt: new Date(clock.now()).toISOString(),
        durationMs: Math.round(clock.monotonic() - startedMono),
        error: { code: isOpsError(error) ? error.code : 'INTERNAL', message: secrets.redact(error instanceof Error ? error.message : String(error)) },
      })
      .catch(() => undefined);
    throw error;
  } finally {
    await release().catch(() => undefined);
  }
}

const STORAGE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EACCES', 'EPERM']);

/** A file-system error while writing (disk full, read-only) as BACKUP_STORAGE_FAILED. */
export function storageError(error: unknown, location: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (isOpsError(error) || code === undefined || !STORAGE_ERRNOS.has(code)) return error;
  return new OpsError('BACKUP_STORAGE_FAILED', `writing to the repository at ${location} failed: ${code === 'ENOSPC' ? 'no space left on the device' : code}`, {
    hint: 'free space or fix the storage, then run the backup again; this run left no backup',
    cause: error,
  });
}
