import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { OpsError, isOpsError } from '../core/errors.js';
import { formatBytes } from '../core/parse.js';
import type { ProgressReporter } from '../core/progress.js';
import { pgError } from '../postgres/connection.js';
import {
  BLOCK_INDEX_FORMAT,
  BLOCK_INDEX_VERSION,
  BLOCK_SIZE,
  BlockLocator,
  ExtentBuilder,
  blockCount,
  blockHashOf,
  hashBlock,
  parseBlockIndex,
  segmentsIn,
  type BlockIndex,
  type FileEntry,
} from './block-index.js';
import { runBackupJob } from './backup-job.js';
import { resolveCodec, type CompressionSpec } from './compression.js';
import { copyFromBasebackup, type WalRange } from './pg-physical-basebackup.js';
import { ObjectWriter, readObject, readObjectBuffer, type StoredObject } from './pg-physical-pack.js';
import type { Repository } from './repository.js';
import type { Manifest } from './types.js';
import { segmentsBetween } from './wal-archive.js';

export type PhysicalBackupType = 'full' | 'diff' | 'incr';

export interface PhysicalBackupOptions {
  /** An unlocked repository (diff/incr read the reference's index). */
  repository: Repository;
  /** A pool on the server; one connection is held from pg_backup_start to pg_backup_stop. */
  connect: () => Promise<Pool>;
  /** Names the server in the manifest (user@host:port). */
  server: string;
  type: PhysicalBackupType;
  /**
   * local: the low-level API reading the data directory here; basebackup: pg_basebackup over a
   * replication connection; auto (default): local when the data directory is this server's.
   */
  via?: 'auto' | 'local' | 'basebackup';
  /** libpq environment for pg_basebackup (pgToolEnv); needed unless the copy is local. */
  toolEnv?: NodeJS.ProcessEnv;
  compression: CompressionSpec;
  label?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  progress?: ProgressReporter;
}

export interface PhysicalBackupResult {
  manifest: Manifest;
  /** Bytes read from the data directory and bytes of it stored by this backup (the rest referenced). */
  read: number;
  written: number;
}

/** Contents pg_basebackup leaves out too: rebuilt at start-up, or wrong in a copy. */
const SKIP_CONTENTS = new Set(['pg_wal', 'pg_dynshmem', 'pg_notify', 'pg_replslot', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans']);
const SKIP_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'backup_label.old', 'tablespace_map', 'backup_manifest', 'pg_internal.init', 'current_logfiles']);
const READ_CHUNK = 1 << 20;
const PACK = 'data.pack';
const INDEX = 'index.json';

interface SourceFacts {
  dataDirectory: string;
  systemIdentifier: string;
  version: string;
  segmentSize: number;
}

/**
 * Takes a physical backup of a server whose data directory is on this host, with the
 * non-exclusive low-level API: pg_backup_start on one session, the files read block by block
 * into one pack (compressed, encrypted, hashed), pg_backup_stop on the same session, its
 * backup_label added, and the WAL segments from start to stop copied from pg_wal so the backup
 * restores on its own. A diff (reference: last full) or incr (reference: last physical backup)
 * stores only blocks whose SHA-256 differs from the reference's block at the same position.
 * Run catalog, lock and cleanup as for logical backups; the manifest is written last.
 */
export async function runPhysicalBackup(options: PhysicalBackupOptions): Promise<PhysicalBackupResult> {
  const repo = options.repository;
  const { clock } = repo;
  const signal = options.signal;
  signal?.throwIfAborted();
  const codec = await resolveCodec(options.compression, options.env);
  const counters = { read: 0, written: 0 };
  const { manifest } = await runBackupJob(
    {
      repository: repo,
      kind: 'pg-physical',
      type: options.type,
      ...(options.label === undefined ? {} : { label: options.label }),
      ...(signal === undefined ? {} : { signal }),
      ...(options.progress === undefined ? {} : { progress: options.progress }),
    },
    async (job) => {
      const id = job.id;
      let client: PoolClient | undefined;
      let started = false;
      const pack = new ObjectWriter(repo, `backups/${id}/${PACK}${codec.extension}${repo.encrypted ? '.age' : ''}`, codec, signal);
      try {
        const pool = await options.connect();
        client = await pool.connect().catch((error: unknown) => {
          throw pgError(pool, error);
        });
        const facts = await sourceFacts(client, pool);
        const reference = options.type === 'full' ? undefined : await findReference(repo, options.type, facts.systemIdentifier, options.env);
        const local = await chooseLocal(facts, options.via ?? 'auto');
        const backups = [id];
        const index: BlockIndex = { format: BLOCK_INDEX_FORMAT, version: BLOCK_INDEX_VERSION, blockSize: BLOCK_SIZE, backups, dirs: [], files: [] };
        const onRead = (bytes: number) => {
          counters.read += bytes;
          job.report(counters.read, `${formatBytes(counters.written)} stored`);
        };
        const copy = new FileCopier(pack, backups, reference, counters, onRead, signal);
        let range: WalRange;
        if (local) {
          const startRow = await query<{ lsn: string; file: string }>(client, pool, 'select lsn::text, pg_walfile_name(lsn) as file from pg_backup_start($1, true) lsn', [`opsctl ${id}`]);
          started = true;
          await walkDataDir(facts.dataDirectory, '', index, copy);
          const stopRow = await query<{ lsn: string; file: string; labelfile: string; spcmapfile: string }>(
            client,
            pool,
            'select lsn::text, pg_walfile_name(lsn) as file, labelfile, spcmapfile from pg_backup_stop(false)',
          );
          started = false;
          await copy.addContent(index, 'backup_label', Buffer.from(stopRow.labelfile), 0o600);
          if (stopRow.spcmapfile !== '') await copy.addContent(index, 'tablespace_map', Buffer.from(stopRow.spcmapfile), 0o600);
          const timeline = Number(/START TIMELINE: (\d+)/.exec(stopRow.labelfile)?.[1] ?? Number.parseInt(startRow.file.slice(0, 8), 16));
          // pg_backup_stop switched to a new segment, so the stop segment is complete in pg_wal.
          for (const name of segmentsBetween(startRow.file, stopRow.file, facts.segmentSize)) {
            const path = `pg_wal/${name}`;
            const openSegment = () =>
              open(join(facts.dataDirectory, path), constants.O_RDONLY).catch((error: unknown) => {
                throw new OpsError('BACKUP_WAL_MISSING', `WAL segment ${name} needed by the backup is no longer in pg_wal`, { cause: error });
              });
            await copy.addFile(index, path, openSegment, 0o600);
          }
          range = { timeline, startLsn: startRow.lsn, stopLsn: stopRow.lsn, walStart: startRow.file, walStop: stopRow.file };
          // PostgreSQL's own manifest, so pg_verifybackup checks a restored directory.
          await copy.addContent(index, 'backup_manifest', Buffer.from(backupManifest(index, range, clock.now())), 0o600);
        } else {
          if (options.toolEnv === undefined) throw new Error('runPhysicalBackup: toolEnv is needed to run pg_basebackup');
          range = await copyFromBasebackup({
            env: options.toolEnv,
            serverMajor: Number.parseInt(facts.version, 10),
            label: `opsctl ${id}`,
            segmentSize: facts.segmentSize,
            sink: copy,
            index,
            ...(signal === undefined ? {} : { signal }),
          });
        }

        job.add({ ...(await pack.finish(`${PACK}${codec.extension}${repo.encrypted ? '.age' : ''}`)), role: 'pg-data', format: 'opsctl-pack-v1' });
        const indexName = `${INDEX}${codec.extension}${repo.encrypted ? '.age' : ''}`;
        const indexWriter = new ObjectWriter(repo, `backups/${id}/${indexName}`, codec, signal);
        await indexWriter.write(Buffer.from(JSON.stringify(index)));
        job.add({ ...(await indexWriter.finish(indexName)), role: 'pg-index', format: 'opsctl-block-index-v1' });
        job.set({
          // What the backup represents (the cluster's files), not the new bytes it stored.
          sizeLogical: index.files.reduce((sum, file) => sum + file.size, 0),
          note: `${formatBytes(counters.written)} new`,
          physical: {
            systemIdentifier: facts.systemIdentifier,
            ...range,
            ...(reference === undefined ? {} : { reference: reference.manifest.id }),
            dependsOn: [...backups],
            blockSize: BLOCK_SIZE,
            files: index.files.length,
          },
        });
        return { server: options.server, serverVersion: facts.version };
      } catch (error) {
        await pack.abort(error);
        if (started && client !== undefined) await client.query('select pg_backup_stop(false)').catch(() => undefined);
        throw error;
      } finally {
        client?.release();
      }
    },
  );
  return { manifest, read: counters.read, written: counters.written };
}

async function query<T>(client: PoolClient, pool: Pool, text: string, values: unknown[] = []): Promise<T> {
  try {
    return (await client.query(text, values)).rows[0] as T;
  } catch (error) {
    throw pgError(pool, error);
  }
}

async function sourceFacts(client: PoolClient, pool: Pool): Promise<SourceFacts> {
  const row = await query<{ dir: string; system: string; version: string; segment: string }>(
    client,
    pool,
    `select current_setting('data_directory') as dir, (select system_identifier::text from pg_control_system()) as system,
      current_setting('server_version') as version, (select setting from pg_settings where name = 'wal_segment_size') as segment`,
  );
  return { dataDirectory: row.dir, systemIdentifier: row.system, version: row.version.split(' ')[0]!, segmentSize: Number(row.segment) };
}

/**
 * A backup_manifest (version 1, as pg_basebackup writes it): every file but pg_wal's with its
 * size and SHA-256, and the WAL range. Its last line is the SHA-256 of everything before it.
 */
export function backupManifest(index: BlockIndex, range: WalRange, now: number): string {
  const modified = new Date(now).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT');
  const files = index.files
    .filter((file) => !file.path.startsWith('pg_wal/') && file.path !== 'backup_manifest')
    .map((file) => `{ "Path": ${JSON.stringify(file.path)}, "Size": ${file.size}, "Last-Modified": "${modified}", "Checksum-Algorithm": "SHA256", "Checksum": "${file.sha256 ?? ''}" }`);
  const body =
    `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${files.join(',\n')}\n],\n` +
    `"WAL-Ranges": [\n{ "Timeline": ${range.timeline}, "Start-LSN": "${range.startLsn}", "End-LSN": "${range.stopLsn}" }\n],\n`;
  return `${body}"Manifest-Checksum": "${createHash('sha256').update(body).digest('hex')}"}\n`;
}

/** Whether to copy locally: BACKUP_PG_NOT_LOCAL falls back to pg_basebackup unless `via` is local. */
async function chooseLocal(facts: SourceFacts, via: 'auto' | 'local' | 'basebackup'): Promise<boolean> {
  if (via === 'basebackup') return false;
  try {
    await checkLocal(facts);
    return true;
  } catch (error) {
    if (via === 'auto' && isOpsError(error) && error.code === 'BACKUP_PG_NOT_LOCAL') return false;
    throw error;
  }
}

/**
 * The data directory must be this server's, here: global/pg_control starts with the system
 * identifier (a little-endian uint64), so a same-path directory of another cluster is refused.
 */
async function checkLocal(facts: SourceFacts): Promise<void> {
  const notLocal = (why: string, cause?: unknown) =>
    new OpsError('BACKUP_PG_NOT_LOCAL', `the server's data directory ${facts.dataDirectory} ${why}`, {
      hint: 'run the physical backup on the database host, as root or the postgres user',
      ...(cause === undefined ? {} : { cause }),
    });
  let handle: FileHandle;
  try {
    handle = await open(join(facts.dataDirectory, 'global', 'pg_control'), constants.O_RDONLY);
  } catch (error) {
    throw notLocal(`cannot be read on this host (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error);
  }
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    if (head.readBigUInt64LE(0).toString() !== facts.systemIdentifier) throw notLocal('on this host belongs to another cluster (system identifier differs)');
  } finally {
    await handle.close();
  }
  const tablespaces = await readdir(join(facts.dataDirectory, 'pg_tblspc')).catch(() => []);
  if (tablespaces.length > 0) {
    throw new OpsError('BACKUP_PG_TABLESPACES', `the cluster has ${tablespaces.length} tablespace(s) outside the data directory; physical backups do not copy them yet`);
  }
}

interface Reference {
  manifest: Manifest;
  files: Map<string, FileEntry>;
  backups: string[];
}

/** diff: the newest full of this cluster; incr: the newest physical backup of any type. */
async function findReference(repo: Repository, type: 'diff' | 'incr', systemIdentifier: string, env: NodeJS.ProcessEnv | undefined): Promise<Reference> {
  const candidates = (await repo.listBackups()).filter(
    (manifest) => manifest.kind === 'pg-physical' && manifest.physical?.systemIdentifier === systemIdentifier && (type === 'incr' || manifest.type === 'full'),
  );
  const manifest = candidates.at(-1);
  if (manifest === undefined) {
    throw new OpsError('BACKUP_NO_REFERENCE', `no ${type === 'diff' ? 'full ' : ''}physical backup of this cluster (system ${systemIdentifier}) to take a ${type} backup against`, {
      hint: 'take one first: `opsctl backup run postgres-physical --type full`',
    });
  }
  const index = await readIndex(repo, manifest, env);
  return { manifest, files: new Map(index.files.map((file) => [file.path, file])), backups: index.backups };
}

export async function readIndex(repo: Repository, manifest: Manifest, env?: NodeJS.ProcessEnv): Promise<BlockIndex> {
  const object = manifest.objects.find((entry) => entry.role === 'pg-index');
  if (object === undefined) throw new OpsError('BACKUP_REPO_CORRUPT', `backup ${manifest.id} has no block index (is it a physical backup?)`);
  const key = `backups/${manifest.id}/${object.path}`;
  return parseBlockIndex(await readObjectBuffer(repo, key, object, env === undefined ? {} : { env }), key);
}

/** Reads data-directory files block by block into the pack, or references the reference's blocks. */
class FileCopier {
  constructor(
    private readonly pack: ObjectWriter,
    private readonly backups: string[],
    private readonly reference: Reference | undefined,
    private readonly counters: { read: number; written: number },
    private readonly onRead: (bytes: number) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /**
   * Adds one file. A file whose size and modification time equal the reference's, and that was
   * last modified over a second before the reference started, is referenced whole without being
   * read (PostgreSQL writes through write(2), which updates the nanosecond mtime).
   */
  async addFile(index: BlockIndex, path: string, openFile: () => Promise<FileHandle | undefined>, mode: number, stat?: { size: bigint; mtimeNs: bigint }): Promise<void> {
    const refEntry = this.reference?.files.get(path);
    if (refEntry !== undefined && stat !== undefined && this.#unchanged(refEntry, stat)) {
      const extents = new ExtentBuilder(this.backups);
      for (const [backup, offset, length, at] of refEntry.extents) extents.add(this.reference!.backups[backup]!, offset, length, at);
      index.files.push({ ...refEntry, mode, extents: extents.extents });
      return;
    }
    const handle = await openFile();
    if (handle === undefined) return;
    try {
      await this.addChunks(index, path, readChunks(handle), mode, stat);
    } finally {
      await handle.close();
    }
  }

  /**
   * Adds a file from its content in pieces that are whole blocks (all but the last): each
   * block is hashed and stored, or referenced when the reference has the same block there.
   */
  async addChunks(index: BlockIndex, path: string, chunks: AsyncIterable<Buffer>, mode: number, stat?: { size: bigint; mtimeNs: bigint }): Promise<void> {
    const refEntry = this.reference?.files.get(path);
    const locator = refEntry === undefined ? undefined : new BlockLocator(refEntry, this.reference!.backups);
    const extents = new ExtentBuilder(this.backups);
    const hashes: Buffer[] = [];
    const whole = createHash('sha256');
    let offset = 0;
    for await (const buffer of chunks) {
      this.signal?.throwIfAborted();
      const length = buffer.length;
      whole.update(buffer);
      this.onRead(length);
      let runStart = -1;
      for (let at = 0; at < length; at += BLOCK_SIZE) {
        const block = buffer.subarray(at, Math.min(at + BLOCK_SIZE, length));
        const hash = hashBlock(block);
        hashes.push(hash);
        const n = (offset + at) / BLOCK_SIZE;
        const known = locator !== undefined && n < locator.blocks && blockHashOf(locator.hashes, n).equals(hash) ? locator.locate(n) : undefined;
        if (known !== undefined && block.length === BLOCK_SIZE) {
          if (runStart >= 0) await this.#store(buffer, runStart, at, offset, extents);
          runStart = -1;
          extents.add(known.backup, offset + at, block.length, known.at);
        } else if (runStart < 0) {
          runStart = at;
        }
      }
      if (runStart >= 0) await this.#store(buffer, runStart, length, offset, extents);
      offset += length;
    }
    index.files.push({
      path,
      size: offset,
      mode,
      ...(stat === undefined ? {} : { mtimeNs: stat.mtimeNs.toString() }),
      sha256: whole.digest('hex'),
      blocks: Buffer.concat(hashes).toString('base64'),
      extents: extents.extents,
    });
  }

  #unchanged(refEntry: FileEntry, stat: { size: bigint; mtimeNs: bigint }): boolean {
    const referenceStart = BigInt(Date.parse(this.reference!.manifest.startedAt)) * 1_000_000n;
    return refEntry.mtimeNs === stat.mtimeNs.toString() && BigInt(refEntry.size) === stat.size && stat.mtimeNs < referenceStart - 1_000_000_000n;
  }

  async #store(buffer: Buffer, from: number, to: number, fileOffset: number, extents: ExtentBuilder): Promise<void> {
    const at = this.pack.position;
    await this.pack.write(buffer.subarray(from, to));
    this.counters.written += to - from;
    extents.add(this.backups[0]!, fileOffset + from, to - from, at);
  }

  /** A file that is not on disk (backup_label from pg_backup_stop). */
  async addContent(index: BlockIndex, path: string, content: Buffer, mode: number): Promise<void> {
    await this.addChunks(index, path, single(content), mode);
  }
}

async function* single(content: Buffer): AsyncGenerator<Buffer> {
  if (content.length > 0) yield content;
}

/** A file's content in READ_CHUNK pieces (block multiples), up to its end when read. */
async function* readChunks(handle: FileHandle): AsyncGenerator<Buffer> {
  for (let offset = 0; ; ) {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, offset);
    if (bytesRead === 0) return;
    yield bytesRead === READ_CHUNK ? buffer : buffer.subarray(0, bytesRead);
    if (bytesRead < READ_CHUNK) return;
    offset += bytesRead;
  }
}

/** Walks the data directory in a stable order, skipping what pg_basebackup skips. */
async function walkDataDir(root: string, dir: string, index: BlockIndex, copy: FileCopier): Promise<void> {
  const entries = await readdir(join(root, dir), { withFileTypes: true }).catch((error: unknown) => {
    // A directory dropped while the backup runs (DROP DATABASE) is replayed from WAL.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (dir === '' && SKIP_FILES.has(entry.name)) continue;
    if (entry.name.startsWith('pgsql_tmp') || entry.name === 'pg_internal.init') continue;
    const info = await lstat(join(root, path), { bigint: true }).catch(() => undefined);
    if (info === undefined) continue;
    const mode = Number(info.mode & 0o7777n);
    if (info.isDirectory()) {
      index.dirs.push({ path, mode });
      if (dir === '' && SKIP_CONTENTS.has(entry.name)) {
        if (entry.name === 'pg_wal') index.dirs.push({ path: 'pg_wal/archive_status', mode });
        continue;
      }
      await walkDataDir(root, path, index, copy);
    } else if (info.isFile()) {
      const openFile = () =>
        open(join(root, path), constants.O_RDONLY).catch((error: unknown) => {
          // Dropped while the backup runs: WAL replay removes it anyway.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw error;
        });
      await copy.addFile(index, path, openFile, mode, { size: info.size, mtimeNs: info.mtimeNs });
    }
  }
}

/**
 * Writes a physical backup's files into `targetDir` (empty or missing): directories, then each
 * pack the backup depends on is read once, in order, and its runs written at their file
 * offsets; every block is checked against its SHA-256 on the way. The result is a data
 * directory with backup_label and the WAL to reach consistency: PostgreSQL starts on it.
 */
export async function materializePhysicalBackup(
  repo: Repository,
  id: string,
  targetDir: string,
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<{ files: number; bytes: number }> {
  const manifest = await repo.readManifest(id);
  const index = await readIndex(repo, manifest, options.env);
  await mkdir(targetDir, { recursive: true, mode: 0o700 });
  if ((await readdir(targetDir)).length > 0) throw new OpsError('USAGE', `${targetDir} is not empty`);
  await chmod(targetDir, 0o700);
  for (const dir of index.dirs) await mkdir(join(targetDir, dir.path), { recursive: true, mode: dir.mode });
  for (const file of index.files) {
    const handle = await open(join(targetDir, file.path), 'w', file.mode);
    await handle.truncate(file.size);
    await handle.close();
  }
  let current: { path: string; handle: FileHandle } | undefined;
  try {
    await readPacks(repo, index, options, async (file, offset, data) => {
      if (current?.path !== file.path) {
        await current?.handle.close();
        current = { path: file.path, handle: await open(join(targetDir, file.path), 'r+') };
      }
      await current.handle.write(data, 0, data.length, offset);
    });
  } finally {
    await current?.handle.close();
  }
  return { files: index.files.length, bytes: index.files.reduce((sum, file) => sum + file.size, 0) };
}

/** A block that does not match its recorded SHA-256 (names the file and offset). */
export class BlockMismatch extends Error {}

/**
 * Streams every pack the index uses and hands each block (checked against its SHA-256) to
 * `onBlock`; BlockMismatch on the first bad one, BACKUP_NOT_FOUND when a pack's backup is gone.
 */
export async function readPacks(
  repo: Repository,
  index: BlockIndex,
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal },
  onBlock: (file: FileEntry, offset: number, data: Buffer) => Promise<void>,
): Promise<void> {
  const hashes = new Map<FileEntry, Buffer>();
  for (let backup = 0; backup < index.backups.length; backup += 1) {
    const id = index.backups[backup]!;
    const manifest = await repo.readManifest(id);
    const pack = manifest.objects.find((object) => object.role === 'pg-data');
    if (pack === undefined) throw new OpsError('BACKUP_REPO_CORRUPT', `backup ${id} has no pack`);
    const segments = segmentsIn(index, backup);
    let next = 0;
    let position = 0;
    let pending: Buffer = Buffer.alloc(0);
    const consume = async (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const base = position;
      let used = 0;
      while (next < segments.length) {
        const segment = segments[next]!;
        const start = segment.at - base;
        if (start + Math.min(segment.length, BLOCK_SIZE) > pending.length) break;
        if (start < used) throw new OpsError('BACKUP_REPO_CORRUPT', `backup ${id}: overlapping runs in its pack`);
        // Whole blocks of this segment that are available now.
        const available = Math.min(segment.length, pending.length - start);
        const take = available === segment.length ? available : available - (available % BLOCK_SIZE);
        let fileHashes = hashes.get(segment.file);
        if (fileHashes === undefined) hashes.set(segment.file, (fileHashes = Buffer.from(segment.file.blocks, 'base64')));
        for (let at = 0; at < take; at += BLOCK_SIZE) {
          const data = pending.subarray(start + at, start + Math.min(at + BLOCK_SIZE, take));
          const n = (segment.offset + at) / BLOCK_SIZE;
          if (!hashBlock(data).equals(blockHashOf(fileHashes, n))) {
            throw new BlockMismatch(`${segment.file.path} block ${n} (offset ${segment.offset + at}) from backup ${id} does not match its SHA-256`);
          }
        }
        await onBlock(segment.file, segment.offset, pending.subarray(start, start + take));
        used = start + take;
        if (take === segment.length) next += 1;
        else segments[next] = { ...segment, offset: segment.offset + take, length: segment.length - take, at: segment.at + take };
      }
      // Keep only what a later segment may still need.
      const keepFrom = next < segments.length ? Math.min(Math.max(segments[next]!.at - base, used), pending.length) : pending.length;
      position = base + keepFrom;
      pending = pending.subarray(keepFrom);
    };
    await readObject(repo, `backups/${id}/${pack.path}`, pack, consume, options);
    if (next < segments.length) throw new BlockMismatch(`backup ${id}: its pack ends before ${segments[next]!.file.path} (offset ${segments[next]!.offset})`);
  }
}

/** Files and bytes of a physical backup's index, for `backup show`. */
export function describeIndex(index: BlockIndex): { files: number; blocks: number; ownBytes: number; referencedBytes: number } {
  let ownBytes = 0;
  let referencedBytes = 0;
  let blocks = 0;
  for (const file of index.files) {
    blocks += blockCount(file.size);
    for (const [backup, , length] of file.extents) {
      if (backup === 0) ownBytes += length;
      else referencedBytes += length;
    }
  }
  return { files: index.files.length, blocks, ownBytes, referencedBytes };
}

export type { StoredObject };

/** One finding of the physical deep check: the WAL range, or the blocks of the packs. */
export interface PhysicalCheck {
  object: 'wal' | 'blocks';
  status: 'ok' | 'block-mismatch' | 'wal-missing';
  detail: string;
}

/**
 * The physical part of `verify --deep`: every block of every pack the backup reads from
 * matches its SHA-256, and the index holds each WAL segment from walStart to walStop.
 */
export async function verifyPhysicalBlocks(
  repo: Repository,
  manifest: Manifest,
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<PhysicalCheck[]> {
  const physical = manifest.physical;
  if (physical === undefined) return [];
  const index = await readIndex(repo, manifest, options.env);
  const segmentSize = walSegmentSizeOf(index, physical.walStart);
  const paths = new Set(index.files.map((file) => file.path));
  const missing = segmentsBetween(physical.walStart, physical.walStop, segmentSize).filter((name) => !paths.has(`pg_wal/${name}`));
  const results: PhysicalCheck[] = [];
  results.push(
    missing.length === 0
      ? { object: 'wal', status: 'ok', detail: `WAL ${physical.walStart}…${physical.walStop} present and contiguous` }
      : { object: 'wal', status: 'wal-missing', detail: `WAL segment(s) ${missing.join(', ')} missing from the backup` },
  );
  let blocks = 0;
  try {
    await readPacks(repo, index, options, (_file, _offset, data) => {
      blocks += blockCount(data.length);
      return Promise.resolve();
    });
    results.push({ object: 'blocks', status: 'ok', detail: `${blocks} blocks of ${index.files.length} files from ${index.backups.length} pack(s) match their SHA-256` });
  } catch (error) {
    if (options.signal?.aborted === true) throw options.signal.reason;
    // Any failure to read a pack back (missing, undecryptable, undecompressable) is a finding.
    results.push({ object: 'blocks', status: 'block-mismatch', detail: error instanceof Error ? error.message : String(error) });
  }
  return results;
}

/** The segment size the backup was taken with: the size of its first WAL file. */
function walSegmentSizeOf(index: BlockIndex, walStart: string): number {
  return index.files.find((file) => file.path === `pg_wal/${walStart}`)?.size ?? 16 * 1024 * 1024;
}
