import { z } from 'zod';

/**
 * The JSON documents of the backup repository, format version 1 (docs/backup-repository.md).
 * Readers check `version` before the shape, so a newer repository is refused with a clear error
 * rather than misread.
 */
export const REPO_FORMAT = 'opsctl-backup-repository';
export const MANIFEST_FORMAT = 'opsctl-backup-manifest';
export const REPO_VERSION = 1;
export const MANIFEST_VERSION = 1;

/** Plaintext of the sealed check block in repo.json. */
export const CHECK_TEXT = 'opsctl-backup-repository-v1';

export const BACKUP_KINDS = ['pg-logical', 'pg-physical', 'redis', 'vault'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

const keyEntrySchema = z.object({
  id: z.string(),
  recipient: z.string(),
  createdAt: z.string(),
});

export const repoFileSchema = z.object({
  format: z.literal(REPO_FORMAT),
  version: z.literal(REPO_VERSION),
  id: z.string(),
  createdAt: z.string(),
  encryption: z.discriminatedUnion('scheme', [
    z.object({ scheme: z.literal('none') }),
    z.object({
      scheme: z.literal('age'),
      activeKey: z.string(),
      keys: z.array(keyEntrySchema).min(1),
      check: z.string(),
    }),
  ]),
});
export type RepoFile = z.infer<typeof repoFileSchema>;
export type KeyEntry = z.infer<typeof keyEntrySchema>;

export const tocEntrySchema = z.object({
  id: z.number(),
  type: z.string(),
  schema: z.string(),
  name: z.string(),
  owner: z.string(),
});
export type TocEntry = z.infer<typeof tocEntrySchema>;

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const objectRecordSchema = z.object({
  path: z.string(),
  /** pg-data: the physical backup's block pack; pg-index: its file and block index (pg-physical.ts). */
  role: z.enum(['database', 'globals', 'pg-data', 'pg-index', 'redis-rdb', 'vault']),
  database: z.string().optional(),
  format: z.enum(['pg_dump-custom', 'sql', 'opsctl-pack-v1', 'opsctl-pack-v2', 'opsctl-block-index-v1', 'rdb', 'tar', 'command-output']),
  compression: z.enum(COMPRESSIONS),
  compressionLevel: z.number().optional(),
  encryption: z.enum(['age', 'none']),
  keyId: z.string().optional(),
  sizeStored: z.number(),
  sizeLogical: z.number(),
  sha256Stored: z.string(),
  sha256Content: z.string(),
  toc: z.array(tocEntrySchema).optional(),
  /** A Redis RDB: the primary it came from, its replication offset before the snapshot, its Cluster slots. */
  redis: z
    .object({
      node: z.string(),
      redisVersion: z.string(),
      replId: z.string(),
      replOffset: z.number(),
      slots: z.array(z.tuple([z.number(), z.number()])).optional(),
    })
    .optional(),
  /** A vault object: the configured path (tar archive) or command (its output). */
  vault: z.object({ path: z.string().optional(), command: z.array(z.string()).optional() }).optional(),
});
export type ObjectRecord = z.infer<typeof objectRecordSchema>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  id: z.string(),
  kind: z.enum(BACKUP_KINDS),
  type: z.enum(['full', 'diff', 'incr']),
  label: z.string().optional(),
  /** The backup set (`backup run --all`) this backup belongs to. */
  set: z.string().optional(),
  repository: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number(),
  host: z.string(),
  source: z.object({
    server: z.string(),
    serverVersion: z.string(),
    /** The pg_dump of a logical backup; absent for a physical one. */
    pgDump: z.string().optional(),
  }),
  /** A physical backup's position in the WAL (docs/backup-repository.md, "Physical backups"). */
  physical: z
    .object({
      systemIdentifier: z.string(),
      timeline: z.number(),
      startLsn: z.string(),
      stopLsn: z.string(),
      /** First and last WAL segment replay needs; both are also inside the pack. */
      walStart: z.string(),
      walStop: z.string(),
      /** The backup unchanged blocks are taken from (diff: the last full; incr: the last backup). */
      reference: z.string().optional(),
      /** Every backup whose pack this one reads blocks from, itself included. */
      dependsOn: z.array(z.string()),
      blockSize: z.number(),
      files: z.number(),
    })
    .optional(),
  objects: z.array(objectRecordSchema),
  totals: z.object({ objects: z.number(), sizeStored: z.number(), sizeLogical: z.number() }),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const runRecordSchema = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.enum(['running', 'ok', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  host: z.string(),
  pid: z.number(),
  label: z.string().optional(),
  sizeStored: z.number().optional(),
  sizeLogical: z.number().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

export const lockSchema = z.object({
  pid: z.number(),
  host: z.string(),
  backupId: z.string(),
  startedAt: z.string(),
});
export type LockRecord = z.infer<typeof lockSchema>;
