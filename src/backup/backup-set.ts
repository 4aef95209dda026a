import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { OpsError, isOpsError } from '../core/errors.js';
import type { Repository } from './repository.js';
import type { Manifest } from './types.js';

export const SET_FORMAT = 'opsctl-backup-set';
export const SET_VERSION = 1;

/** `sets/<id>.json`: the backups of one `backup run --all`, written after all of them. */
export const setDocumentSchema = z.object({
  format: z.literal(SET_FORMAT),
  version: z.literal(SET_VERSION),
  id: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  backups: z.array(z.object({ kind: z.string(), id: z.string() })),
});
export type SetDocument = z.infer<typeof setDocumentSchema>;

/** One member of a set: its kind and how to take it, given the set id for its manifest. */
export interface SetMember {
  kind: string;
  run(set: string): Promise<Manifest>;
}

export interface BackupSetResult {
  set: SetDocument;
  manifests: Manifest[];
}

/**
 * Takes the members one after another, each recording the set id in its manifest, then writes
 * the set document (atomically, last): a set without its document is not complete. When a
 * member fails, the ones taken before stay as ordinary backups, no document is written and
 * BACKUP_SET_INCOMPLETE names the member and the backups kept.
 */
export async function runBackupSet(repo: Repository, members: readonly SetMember[]): Promise<BackupSetResult> {
  if (members.length === 0) throw new OpsError('CONFIG_INVALID', 'nothing to back up: the profile has no postgres, redis or backup.vault section');
  const startedAt = new Date(repo.clock.now());
  const id = `${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-set-${randomBytes(3).toString('hex')}`;
  const manifests: Manifest[] = [];
  for (const member of members) {
    try {
      manifests.push(await member.run(id));
    } catch (error) {
      const kept = manifests.map((manifest) => manifest.id);
      throw new OpsError('BACKUP_SET_INCOMPLETE', `backup set ${id}: the ${member.kind} backup failed: ${error instanceof Error ? error.message : String(error)}`, {
        hint: kept.length === 0 ? 'fix the cause and run it again' : `kept as single backups: ${kept.join(', ')}; fix the cause and run it again`,
        details: { set: id, failed: member.kind, code: isOpsError(error) ? error.code : 'INTERNAL', kept },
        cause: error,
      });
    }
  }
  const set: SetDocument = {
    format: SET_FORMAT,
    version: SET_VERSION,
    id,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date(repo.clock.now()).toISOString(),
    backups: manifests.map((manifest) => ({ kind: manifest.kind, id: manifest.id })),
  };
  await repo.storage.put(`sets/${id}.json`, [Buffer.from(`${JSON.stringify(set, null, 2)}\n`)]);
  return { set, manifests };
}

/** Every complete set, oldest first. */
export async function listBackupSets(repo: Repository): Promise<SetDocument[]> {
  const sets: SetDocument[] = [];
  for (const key of await repo.storage.list('sets')) {
    const raw = await repo.storage.read(key);
    if (raw === undefined) continue;
    let value: { version?: unknown } | undefined;
    try {
      value = JSON.parse(raw.toString('utf8')) as { version?: unknown };
    } catch {
      value = undefined;
    }
    if (typeof value?.version === 'number' && value.version > SET_VERSION) {
      throw new OpsError('BACKUP_REPO_VERSION', `${key} has format version ${value.version}; this opsctl reads version ${SET_VERSION}`, { hint: 'upgrade opsctl' });
    }
    const parsed = setDocumentSchema.safeParse(value);
    if (!parsed.success) throw new OpsError('BACKUP_REPO_CORRUPT', `${key} is not a valid ${SET_FORMAT} document`);
    sets.push(parsed.data);
  }
  return sets.sort((a, b) => a.id.localeCompare(b.id));
}
