import { createHash, hash } from 'node:crypto';
import { z } from 'zod';
import { OpsError } from '../core/errors.js';

/**
 * The file and block index of a physical backup, format version 1, or 2 when the cluster has
 * tablespaces (docs/backup-repository.md, "Physical backups"). Every file is cut into page-aligned blocks of BLOCK_SIZE bytes (the last
 * one may be shorter); each block has a SHA-256. Where a file's bytes live is a list of extents:
 * runs of the file stored contiguously in one backup's pack. A full backup's extents all point
 * at its own pack; a diff/incr backup's unchanged blocks point at the pack of the backup that
 * stored them, so restoring never walks a chain.
 */
export const BLOCK_INDEX_FORMAT = 'opsctl-block-index';
/** The newest version this code reads; version 1 is written unless tablespaces need 2. */
export const BLOCK_INDEX_VERSION = 2;
/** Version 2 adds `tablespaces` (files under pg_tblspc/<oid>/ live at their location). */
export function blockIndexVersion(index: Pick<BlockIndex, 'tablespaces'>): 1 | 2 {
  return index.tablespaces === undefined || index.tablespaces.length === 0 ? 1 : 2;
}
/** PostgreSQL's page size: a changed row dirties whole 8 KiB pages. */
export const BLOCK_SIZE = 8192;
const HASH_BYTES = 32;

/** [backup (index into `backups`), file offset, length, offset in that backup's pack content]. */
export type Extent = [number, number, number, number];

const fileEntrySchema = z.object({
  path: z.string(),
  size: z.number(),
  mode: z.number(),
  /** Modification time in nanoseconds (a decimal string): an unchanged file is not read again. */
  mtimeNs: z.string().optional(),
  /** SHA-256 of the whole content (hex): backup_manifest's checksum. */
  sha256: z.string().optional(),
  /** The SHA-256 of each block, concatenated, base64. */
  blocks: z.string(),
  extents: z.array(z.tuple([z.number(), z.number(), z.number(), z.number()])),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const blockIndexSchema = z.object({
  format: z.literal(BLOCK_INDEX_FORMAT),
  version: z.union([z.literal(1), z.literal(2)]),
  blockSize: z.number(),
  /** Backup ids extents refer to; the first is the backup itself. */
  backups: z.array(z.string()).min(1),
  /** Directories to create (relative, parents first), empty ones included (pg_wal, pg_stat…). */
  dirs: z.array(z.object({ path: z.string(), mode: z.number() })),
  files: z.array(fileEntrySchema),
  /**
   * Tablespaces (version 2): the symlink pg_tblspc/<oid> pointed at `location`; their files are
   * indexed under pg_tblspc/<oid>/ (only this server version's PG_<major>_<catalog> directory).
   */
  tablespaces: z.array(z.object({ oid: z.string(), location: z.string() })).optional(),
});
export type BlockIndex = z.infer<typeof blockIndexSchema>;

/** Parses an index, refusing a newer version before looking at the shape. */
export function parseBlockIndex(raw: Buffer, name: string): BlockIndex {
  let value: { format?: unknown; version?: unknown } | undefined;
  try {
    value = JSON.parse(raw.toString('utf8')) as typeof value;
  } catch {
    value = undefined;
  }
  if (value?.format !== BLOCK_INDEX_FORMAT) throw new OpsError('BACKUP_REPO_CORRUPT', `${name} is not a block index`);
  if (typeof value.version === 'number' && value.version > BLOCK_INDEX_VERSION) {
    throw new OpsError('BACKUP_REPO_VERSION', `${name} has block index version ${value.version}; this opsctl reads version ${BLOCK_INDEX_VERSION}`, {
      hint: 'upgrade opsctl; nothing was changed',
    });
  }
  const parsed = blockIndexSchema.safeParse(value);
  if (!parsed.success) throw new OpsError('BACKUP_REPO_CORRUPT', `${name} is damaged: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

/** One-shot crypto.hash: no Hash object per block (a 1 GiB file has 131072 blocks). */
export function hashBlock(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer');
}

/** The recorded hash of block `n` of a file entry. */
export function blockHashOf(hashes: Buffer, n: number): Buffer {
  return hashes.subarray(n * HASH_BYTES, (n + 1) * HASH_BYTES);
}

/**
 * Where each block of a file of an earlier backup lives: its backup id and offset in that
 * backup's pack. Built once per file of the reference.
 */
export class BlockLocator {
  readonly hashes: Buffer;
  readonly #backup: Int32Array;
  readonly #at: Float64Array;

  constructor(
    entry: FileEntry,
    readonly backups: readonly string[],
  ) {
    this.hashes = Buffer.from(entry.blocks, 'base64');
    const count = blockCount(entry.size);
    this.#backup = new Int32Array(count).fill(-1);
    this.#at = new Float64Array(count);
    for (const [backup, offset, length, at] of entry.extents) {
      for (let n = offset / BLOCK_SIZE, done = 0; done < length; n += 1, done += BLOCK_SIZE) {
        this.#backup[n] = backup;
        this.#at[n] = at + done;
      }
    }
  }

  get blocks(): number {
    return this.#backup.length;
  }

  /** The stored copy of block n, or undefined when the reference has no such block. */
  locate(n: number): { backup: string; at: number } | undefined {
    const backup = this.#backup[n];
    if (backup === undefined || backup < 0) return undefined;
    return { backup: this.backups[backup]!, at: this.#at[n]! };
  }
}

/**
 * Builds one file's extent list block by block, merging a block into the previous extent when
 * it continues it in the same pack.
 */
export class ExtentBuilder {
  readonly extents: Extent[] = [];
  readonly #backups: string[];

  constructor(backups: string[]) {
    this.#backups = backups;
  }

  add(backup: string, offset: number, length: number, at: number): void {
    let index = this.#backups.indexOf(backup);
    if (index < 0) index = this.#backups.push(backup) - 1;
    const last = this.extents.at(-1);
    if (last !== undefined && last[0] === index && last[1] + last[2] === offset && last[3] + last[2] === at) {
      last[2] += length;
      return;
    }
    this.extents.push([index, offset, length, at]);
  }
}

/**
 * The content hash of a pack (format opsctl-pack-v2): the SHA-256 of the SHA-256s of its blocks,
 * in pack order — its runs in the index cut into blocks (a file's last block may be shorter).
 * The block hashes already cover every byte, so the backup makes no second pass over the bytes
 * for it; `verify --deep` checks the blocks against the index and this against the index.
 */
export function packContentHash(index: BlockIndex, backup = 0): string {
  const digest = createHash('sha256');
  const hashes = new Map<FileEntry, Buffer>();
  for (const segment of segmentsIn(index, backup)) {
    let fileHashes = hashes.get(segment.file);
    if (fileHashes === undefined) hashes.set(segment.file, (fileHashes = Buffer.from(segment.file.blocks, 'base64')));
    const first = segment.offset / BLOCK_SIZE;
    digest.update(fileHashes.subarray(first * HASH_BYTES, (first + blockCount(segment.length)) * HASH_BYTES));
  }
  return digest.digest('hex');
}

/** One contiguous run of a pack that a restore or a check reads, with the file it belongs to. */
export interface PackSegment {
  file: FileEntry;
  offset: number;
  length: number;
  at: number;
}

/** The runs of backup `backups[index]`'s pack this index uses, in pack order. */
export function segmentsIn(index: BlockIndex, backup: number): PackSegment[] {
  const segments: PackSegment[] = [];
  for (const file of index.files) {
    for (const [source, offset, length, at] of file.extents) {
      if (source === backup) segments.push({ file, offset, length, at });
    }
  }
  return segments.sort((a, b) => a.at - b.at);
}
