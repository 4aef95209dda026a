import type { ObjectInfo } from './storage.js';
import type { Repository } from './repository.js';
import type { Manifest } from './types.js';

/**
 * What the last `backup verify` found, kept beside the manifest as
 * `backups/<id>/verification.json` (format v1, docs/backup-repository.md): per object its stored
 * size, modification time and version (inode + change time, or ETag) when it was read, and whether it passed. Fast verification is
 * incremental: an object unchanged since it passed (same size and time) is not read again unless
 * `--full`. Deep verification always reads, since it also proves the key. Retention's "newest verified backup"
 * is the newest backup whose every object passed.
 */
export const VERIFICATION_FORMAT = 'opsctl-backup-verification';
export const VERIFICATION_VERSION = 1;

export interface VerifiedObject {
  size: number;
  /** The storage's modification time (ISO) when it was read. */
  modified: string;
  /** The storage's version of the object (ObjectInfo.version) when it was read. */
  version: string;
  ok: boolean;
  /** Passed a deep check (decrypted, decompressed, content hashed), not only the fast one. */
  deep: boolean;
}

export interface VerificationRecord {
  format: typeof VERIFICATION_FORMAT;
  version: typeof VERIFICATION_VERSION;
  backup: string;
  verifiedAt: string;
  objects: Record<string, VerifiedObject>;
}

const recordKey = (id: string) => `backups/${id}/verification.json`;

/** The backup's last verification, or undefined (never verified, or a record this version cannot read). */
export async function readVerification(repo: Repository, id: string): Promise<VerificationRecord | undefined> {
  const raw = await repo.storage.read(recordKey(id));
  if (raw === undefined) return undefined;
  try {
    const record = JSON.parse(raw.toString('utf8')) as VerificationRecord;
    return record.format === VERIFICATION_FORMAT && record.version === VERIFICATION_VERSION ? record : undefined;
  } catch {
    return undefined;
  }
}

export async function writeVerification(repo: Repository, record: VerificationRecord): Promise<void> {
  await repo.storage.put(recordKey(record.backup), [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
}

/**
 * Whether a fast check may take `info` as the object that already passed. A deep check always
 * reads: it also proves that the key given this time opens the object.
 */
export function unchangedSincePassed(previous: VerificationRecord | undefined, path: string, info: ObjectInfo, deep: boolean): boolean {
  const seen = previous?.objects[path];
  return !deep && seen !== undefined && seen.ok && seen.size === info.size && seen.version === info.version;
}

/** Every object of the manifest passed its last verification. */
export function passed(record: VerificationRecord | undefined, manifest: Manifest): boolean {
  return record !== undefined && manifest.objects.every((object) => record.objects[object.path]?.ok === true);
}
