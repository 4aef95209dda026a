import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { OpsError, isOpsError } from '../core/errors.js';
import { formatBytes } from '../core/parse.js';
import type { ProgressReporter } from '../core/progress.js';
import { pgError } from '../postgres/connection.js';
import {
  BLOCK_INDEX_FORMAT,
  BLOCK_SIZE,
  BlockLocator,
  ExtentBuilder,
  blockCount,
  blockIndexVersion,
  blockHashOf,
  hashBlock,
  packContentHash,
  parseBlockIndex,
  segmentsIn,
  type BlockIndex,
  type FileEntry,
} from './block-index.js';
import { BlockHasher, BufferPool } from './block-hasher.js';
import { runBackupJob } from './backup-job.js';
import { resolveCodec, type CompressionSpec } from './compression.js';
import { copyFromBasebackup, stopSegmentName, type WalRange } from './pg-physical-basebackup.js';
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
const PG_CONTROL = 'global/pg_control';
/** 4 MiB: each piece costs a round trip to the hashing worker (~0.1 ms under load) and a read. */
const READ_CHUNK = 1 << 22;
/** Read buffers (40 MiB): the read ahead, the hashing worker's queue and the compressor's input. */
const READ_BUFFERS = 10;
const HASH_BACKLOG = 8;
/** Pieces hashed ahead of the one being compared with the reference (within READ_BUFFERS). */
const COMPARE_AHEAD = 4;
const PACK = 'data.pack';
/** v2: its sha256Content is over its block hashes (packContentHash); v1's was over its bytes. */
const PACK_FORMAT = 'opsctl-pack-v2';
const INDEX = 'index.json';

interface SourceFacts {
  dataDirectory: string;
  /** The directory of this server's version inside each tablespace (PG_<major>_<catalog version>). */
  tablespaceDirectory: string;
  /** User tablespaces (outside the data directory). */
  tablespaces: number;
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
      let hasher: BlockHasher | undefined;
      let started = false;
      const pack = new ObjectWriter(repo, `backups/${id}/${PACK}${codec.extension}${repo.encrypted ? '.age' : ''}`, codec, signal, { hashContent: false });
      try {
        const pool = await options.connect();
        client = await pool.connect().catch((error: unknown) => {
          throw pgError(pool, error);
        });
        const facts = await sourceFacts(client, pool);
        const reference = options.type === 'full' ? undefined : await findReference(repo, options.type, facts.systemIdentifier, options.env);
        const local = await chooseLocal(facts, options.via ?? 'auto');
        const backups = [id];
        const index: BlockIndex = { format: BLOCK_INDEX_FORMAT, version: 1, blockSize: BLOCK_SIZE, backups, dirs: [], files: [] };
        const onRead = (bytes: number) => {
          counters.read += bytes;
          job.report(counters.read, `${formatBytes(counters.written)} stored`);
        };
        const buffers = new BufferPool(READ_BUFFERS, READ_CHUNK);
        hasher = new BlockHasher();
        hasher.share(buffers.buffers);
        const copy = new FileCopier(pack, backups, reference, counters, onRead, signal, hasher, buffers);
        let range: WalRange;
        if (local) {
          // No pg_walfile_name: a standby refuses it during recovery; backup_label names the start.
          const startRow = await query<{ lsn: string }>(client, pool, 'select pg_backup_start($1, true)::text as lsn', [`opsctl ${id}`]);
          started = true;
          await walkDataDir(facts, index, copy);
          const stopRow = await query<{ lsn: string; labelfile: string; spcmapfile: string }>(client, pool, 'select lsn::text, labelfile, spcmapfile from pg_backup_stop(false)');
          started = false;
          await copy.addContent(index, 'backup_label', Buffer.from(stopRow.labelfile), 0o600);
          if (stopRow.spcmapfile !== '') await copy.addContent(index, 'tablespace_map', Buffer.from(stopRow.spcmapfile), 0o600);
          const walStart = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(stopRow.labelfile)?.[1];
          const timeline = Number(/START TIMELINE: (\d+)/.exec(stopRow.labelfile)?.[1]);
          if (walStart === undefined || !Number.isInteger(timeline)) throw new OpsError('INTERNAL', 'pg_backup_stop returned a backup_label without its start WAL file or timeline');
          const walStop = stopSegmentName(timeline, stopRow.lsn, facts.segmentSize);
          // On a primary pg_backup_stop switched to a new segment, so the stop segment is complete
          // in pg_wal; on a standby it holds at least everything up to the stop LSN (replayed).
          for (const name of segmentsBetween(walStart, walStop, facts.segmentSize)) {
            const path = `pg_wal/${name}`;
            const openSegment = () =>
              open(join(facts.dataDirectory, path), constants.O_RDONLY).catch((error: unknown) => {
                throw new OpsError('BACKUP_WAL_MISSING', `WAL segment ${name} needed by the backup is no longer in pg_wal`, { cause: error });
              });
            await copy.addFile(index, path, openSegment, 0o600);
          }
          range = { timeline, startLsn: startRow.lsn, stopLsn: stopRow.lsn, walStart, walStop };
          // PostgreSQL's own manifest, so pg_verifybackup checks a restored directory.
          await copy.addContent(index, 'backup_manifest', Buffer.from(backupManifest(index, range, clock.now())), 0o600);
        } else {
          if (options.toolEnv === undefined) throw new Error('runPhysicalBackup: toolEnv is needed to run pg_basebackup');
          if (facts.tablespaces > 0) {
            // pg_basebackup writes one tar per tablespace, and only one can go to stdout.
            throw new OpsError('BACKUP_PG_TABLESPACES', `the cluster has ${facts.tablespaces} tablespace(s): pg_basebackup cannot stream them as one tar`, {
              hint: 'run the physical backup on the database host (--via local), where tablespaces are copied',
            });
          }
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

        job.add({ ...(await pack.finish(`${PACK}${codec.extension}${repo.encrypted ? '.age' : ''}`, packContentHash(index))), role: 'pg-data', format: PACK_FORMAT });
        const indexName = `${INDEX}${codec.extension}${repo.encrypted ? '.age' : ''}`;
        const indexWriter = new ObjectWriter(repo, `backups/${id}/${indexName}`, codec, signal);
        index.version = blockIndexVersion(index);
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
        await hasher?.close();
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
  const row = await query<{ dir: string; system: string; catalog: number; major: string; version: string; segment: string; tablespaces: number }>(
    client,
    pool,
    `select current_setting('data_directory') as dir, s.system_identifier::text as system, s.catalog_version_no as catalog,
      current_setting('server_version_num')::int / 10000 as major,
      current_setting('server_version') as version, (select setting from pg_settings where name = 'wal_segment_size') as segment,
      (select count(*)::int from pg_tablespace where spcname not in ('pg_default', 'pg_global')) as tablespaces
     from pg_control_system() s`,
  );
  return {
    dataDirectory: row.dir,
    tablespaceDirectory: `PG_${row.major}_${row.catalog}`,
    systemIdentifier: row.system,
    version: row.version.split(' ')[0]!,
    segmentSize: Number(row.segment),
    tablespaces: row.tablespaces,
  };
}

/**
 * A backup_manifest (version 1, as pg_basebackup writes it): every file but pg_wal's with its
 * size and SHA-256, and the WAL range. Its last line is the SHA-256 of everything before it.
 */
export function backupManifest(index: BlockIndex, range: WalRange, now: number): string {
  const modified = new Date(now).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT');
  const files = index.files
    // tablespace_map is not restored (materializePhysicalBackup makes the symlinks instead).
    .filter((file) => !file.path.startsWith('pg_wal/') && file.path !== 'backup_manifest' && file.path !== 'tablespace_map')
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

/**
 * One piece of a file being copied. Its buffer goes back to the pool when the hasher, the pack
 * (every write of it) and the copier (`release`) are all done with it.
 */
class Piece {
  #holds = 2;

  constructor(
    readonly buffer: Buffer,
    /** Where the piece starts in its file. */
    readonly offset: number,
    readonly hashes: Promise<Buffer>,
    private readonly pool: BufferPool,
  ) {
    hashes.then(this.release, this.release);
  }

  /** One more user of the buffer; the function returned ends that use. */
  hold(): () => void {
    this.#holds += 1;
    return this.release;
  }

  readonly release = (): void => {
    this.#holds -= 1;
    if (this.#holds === 0) this.pool.release(this.buffer);
  };
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
    private readonly hasher: BlockHasher,
    private readonly pool: BufferPool,
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
      await this.addChunks(index, path, readChunks(handle, this.pool), mode, stat);
    } finally {
      await handle.close();
    }
  }

  /**
   * Adds a file from its content in pieces that are whole blocks (all but the last): each
   * block is hashed and stored, or referenced when the reference has the same block there.
   * Blocks without a counterpart in the reference go to the pack while the worker hashes them;
   * the others wait for their hashes to be compared. Pieces from the pool go back to it once
   * hashed and handed to the compressor.
   */
  async addChunks(index: BlockIndex, path: string, chunks: AsyncIterable<Buffer>, mode: number, stat?: { size: bigint; mtimeNs: bigint }): Promise<void> {
    const refEntry = this.reference?.files.get(path);
    const locator = refEntry === undefined ? undefined : new BlockLocator(refEntry, this.reference!.backups);
    const extents = new ExtentBuilder(this.backups);
    const hashed: Promise<Buffer>[] = [];
    // Pieces waiting for their hashes to be compared, in file order: several are hashed at once.
    const comparing: Piece[] = [];
    const compareNext = () => this.#compare(comparing.shift()!, locator!, extents);
    let offset = 0;
    for await (const buffer of chunks) {
      this.signal?.throwIfAborted();
      this.onRead(buffer.length);
      const piece = new Piece(buffer, offset, this.hasher.hashChunk(buffer), this.pool);
      hashed.push(piece.hashes);
      offset += buffer.length;
      if (locator === undefined || piece.offset >= locator.blocks * BLOCK_SIZE) {
        while (comparing.length > 0) await compareNext();
        await this.#store(piece, 0, buffer.length, extents);
        piece.release();
      } else {
        comparing.push(piece);
        if (comparing.length > COMPARE_AHEAD) await compareNext();
      }
      // Bounds the hashing backlog of pieces that are not from the pool (pg_basebackup's).
      if (hashed.length > HASH_BACKLOG) await hashed[hashed.length - 1 - HASH_BACKLOG];
    }
    while (comparing.length > 0) await compareNext();
    const blocks = Buffer.concat(await Promise.all(hashed));
    index.files.push({
      path,
      size: offset,
      mode,
      ...(stat === undefined ? {} : { mtimeNs: stat.mtimeNs.toString() }),
      sha256: await this.hasher.endFile(),
      blocks: blocks.toString('base64'),
      extents: extents.extents,
    });
  }

  /** Stores the blocks of a piece that differ from the reference's, and references the others. */
  async #compare(piece: Piece, locator: BlockLocator, extents: ExtentBuilder): Promise<void> {
    const blockHashes = await piece.hashes;
    const { buffer, offset } = piece;
    let runStart = -1;
    for (let at = 0; at < buffer.length; at += BLOCK_SIZE) {
      const n = (offset + at) / BLOCK_SIZE;
      const known = n < locator.blocks && blockHashOf(locator.hashes, n).equals(blockHashOf(blockHashes, at / BLOCK_SIZE)) ? locator.locate(n) : undefined;
      if (known !== undefined && buffer.length - at >= BLOCK_SIZE) {
        if (runStart >= 0) await this.#store(piece, runStart, at, extents);
        runStart = -1;
        extents.add(known.backup, offset + at, BLOCK_SIZE, known.at);
      } else if (runStart < 0) {
        runStart = at;
      }
    }
    if (runStart >= 0) await this.#store(piece, runStart, buffer.length, extents);
    piece.release();
  }

  #unchanged(refEntry: FileEntry, stat: { size: bigint; mtimeNs: bigint }): boolean {
    const referenceStart = BigInt(Date.parse(this.reference!.manifest.startedAt)) * 1_000_000n;
    return refEntry.mtimeNs === stat.mtimeNs.toString() && BigInt(refEntry.size) === stat.size && stat.mtimeNs < referenceStart - 1_000_000_000n;
  }

  async #store(piece: Piece, from: number, to: number, extents: ExtentBuilder): Promise<void> {
    const at = this.pack.position;
    await this.pack.write(piece.buffer.subarray(from, to), piece.hold());
    this.counters.written += to - from;
    extents.add(this.backups[0]!, piece.offset + from, to - from, at);
  }

  /** A file that is not on disk (backup_label from pg_backup_stop). */
  async addContent(index: BlockIndex, path: string, content: Buffer, mode: number): Promise<void> {
    await this.addChunks(index, path, single(content), mode);
  }
}

async function* single(content: Buffer): AsyncGenerator<Buffer> {
  if (content.length > 0) yield content;
}

/**
 * A file's content in pieces of the pool's size (block multiples), up to its end when read; the
 * next piece is read while the caller works on this one.
 */
async function* readChunks(handle: FileHandle, pool: BufferPool): AsyncGenerator<Buffer> {
  const readAt = async (offset: number) => {
    const buffer = await pool.acquire();
    try {
      const { bytesRead } = await handle.read(buffer, 0, pool.size, offset);
      return buffer.subarray(0, bytesRead);
    } catch (error) {
      pool.release(buffer);
      throw error;
    }
  };
  let next: Promise<Buffer> | undefined = readAt(0);
  for (let offset = 0; next !== undefined; ) {
    const chunk: Buffer = await next;
    offset += chunk.length;
    next = chunk.length === pool.size ? readAt(offset) : undefined;
    // An unconsumed read-ahead must not fail unobserved when the caller stops early.
    next?.catch(() => undefined);
    if (chunk.length === 0) {
      pool.release(chunk);
      return;
    }
    yield chunk;
  }
}

/**
 * Walks the data directory in a stable order, skipping what pg_basebackup skips, then the
 * tablespaces (each symlink pg_tblspc/<oid> recorded with its location), then pg_control.
 */
async function walkDataDir(facts: SourceFacts, index: BlockIndex, copy: FileCopier): Promise<void> {
  await walkDir(facts.dataDirectory, '', index, copy);
  await copyTablespaces(facts, index, copy);
  // Last, as pg_basebackup does: from a standby, its minRecoveryPoint must cover every file
  // copied before it (recovery of the backup ends there).
  const control = join(facts.dataDirectory, PG_CONTROL);
  const info = await lstat(control, { bigint: true });
  await copy.addFile(index, PG_CONTROL, () => open(control, constants.O_RDONLY), Number(info.mode & 0o7777n), { size: info.size, mtimeNs: info.mtimeNs });
}

/** Each tablespace's directory of this server version, indexed under pg_tblspc/<oid>/. */
async function copyTablespaces(facts: SourceFacts, index: BlockIndex, copy: FileCopier): Promise<void> {
  const links = await readdir(join(facts.dataDirectory, 'pg_tblspc'), { withFileTypes: true }).catch(() => []);
  for (const link of links.filter((entry) => entry.isSymbolicLink()).sort((a, b) => a.name.localeCompare(b.name))) {
    const location = await readlink(join(facts.dataDirectory, 'pg_tblspc', link.name));
    (index.tablespaces ??= []).push({ oid: link.name, location });
    const path = `pg_tblspc/${link.name}/${facts.tablespaceDirectory}`;
    const info = await lstat(join(location, facts.tablespaceDirectory)).catch(() => undefined);
    if (info === undefined) continue;
    index.dirs.push({ path, mode: info.mode & 0o7777 });
    await walkDir(join(location, facts.tablespaceDirectory), path, index, copy);
  }
}

/** One directory: `source` on disk, `dir` its path in the index ('' for the data directory). */
async function walkDir(source: string, dir: string, index: BlockIndex, copy: FileCopier): Promise<void> {
  const entries = await readdir(source, { withFileTypes: true }).catch((error: unknown) => {
    // A directory dropped while the backup runs (DROP DATABASE) is replayed from WAL.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    const file = join(source, entry.name);
    if ((dir === '' && SKIP_FILES.has(entry.name)) || path === PG_CONTROL) continue;
    if (entry.name.startsWith('pgsql_tmp') || entry.name === 'pg_internal.init') continue;
    const info = await lstat(file, { bigint: true }).catch(() => undefined);
    if (info === undefined) continue;
    const mode = Number(info.mode & 0o7777n);
    if (info.isDirectory()) {
      index.dirs.push({ path, mode });
      if (dir === '' && SKIP_CONTENTS.has(entry.name)) {
        if (entry.name === 'pg_wal') index.dirs.push({ path: 'pg_wal/archive_status', mode });
        continue;
      }
      await walkDir(file, path, index, copy);
    } else if (info.isFile()) {
      const openFile = () =>
        open(file, constants.O_RDONLY).catch((error: unknown) => {
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
 * Tablespaces go to their original location or where `tablespaces` maps it (each must be
 * empty or missing, as for pg_basebackup -Fp), with the symlink pg_tblspc/<oid> pointing there
 * instead of a tablespace_map.
 */
export async function materializePhysicalBackup(
  repo: Repository,
  id: string,
  targetDir: string,
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; tablespaces?: Readonly<Record<string, string>> } = {},
): Promise<{ files: number; bytes: number }> {
  const manifest = await repo.readManifest(id);
  const index = await readIndex(repo, manifest, options.env);
  const locations = new Map((index.tablespaces ?? []).map((space) => [space.oid, options.tablespaces?.[space.location] ?? space.location]));
  for (const dir of [targetDir, ...locations.values()]) {
    if ((await readdir(dir).catch(() => [])).length > 0) throw new OpsError('USAGE', `${dir} is not empty`);
  }
  const place = (path: string) => {
    const inSpace = /^pg_tblspc\/([^/]+)\/(.+)$/.exec(path);
    const location = inSpace === null ? undefined : locations.get(inSpace[1]!);
    return location === undefined ? join(targetDir, path) : join(location, inSpace![2]!);
  };
  await mkdir(targetDir, { recursive: true, mode: 0o700 });
  await chmod(targetDir, 0o700);
  for (const location of locations.values()) await mkdir(location, { recursive: true, mode: 0o700 });
  for (const dir of index.dirs) await mkdir(place(dir.path), { recursive: true, mode: dir.mode });
  for (const [oid, location] of locations) await symlink(location, join(targetDir, 'pg_tblspc', oid));
  // The symlinks replace tablespace_map (pg_basebackup's empty one, listed in its manifest, stays).
  const skipped = locations.size > 0 ? 'tablespace_map' : undefined;
  const files = index.files.filter((file) => file.path !== skipped);
  for (const file of files) {
    const handle = await open(place(file.path), 'w', file.mode);
    await handle.truncate(file.size);
    await handle.close();
  }
  let current: { path: string; handle: FileHandle } | undefined;
  try {
    await readPacks(repo, index, options, async (file, offset, data) => {
      if (file.path === skipped) return;
      if (current?.path !== file.path) {
        await current?.handle.close();
        current = { path: file.path, handle: await open(place(file.path), 'r+') };
      }
      await current.handle.write(data, 0, data.length, offset);
    });
  } finally {
    await current?.handle.close();
  }
  return { files: files.length, bytes: files.reduce((sum, file) => sum + file.size, 0) };
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
 * matches its SHA-256 (and, for a v2 pack, those hashes give its recorded content SHA-256), and
 * the index holds each WAL segment from walStart to walStop.
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
  const pack = manifest.objects.find((object) => object.role === 'pg-data');
  if (pack?.format === PACK_FORMAT && packContentHash(index) !== pack.sha256Content) {
    results.push({ object: 'blocks', status: 'block-mismatch', detail: `${pack.path}: the block hashes of the index do not give the content SHA-256 the manifest records` });
    return results;
  }
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
