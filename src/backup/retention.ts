import { listBackupSets } from './backup-set.js';
import type { Repository } from './repository.js';
import type { Manifest } from './types.js';

/** How many backups of one kind to keep (docs/backup.md, "Retention"). Unset counts keep nothing by that rule. */
export interface RetentionPolicy {
  /** The newest N. */
  keepLast?: number;
  /** The newest backup of each of the last N days (UTC) that have one. */
  daily?: number;
  /** … of each of the last N ISO weeks that have one. */
  weekly?: number;
  /** … of each of the last N months that have one. */
  monthly?: number;
}

export interface RetentionDecision {
  id: string;
  kind: string;
  startedAt: string;
  action: 'keep' | 'delete';
  /** Why it is kept (`last 3`, `daily`, `newest verified`, `needed by <id>`), or why not. */
  reasons: string[];
}

export interface RetentionPlanOptions {
  /** Policy per kind; a kind without one keeps everything. */
  policies: Readonly<Record<string, RetentionPolicy | undefined>>;
  /**
   * Whether a backup counts as verified for the "never delete the newest verified backup"
   * rule (`backup prune` passes: its last `backup verify` passed, verification.ts); default:
   * every complete backup (it has a manifest). With none verified the newest is kept.
   */
  verified?: (manifest: Manifest) => boolean;
}

const BUCKETS: { rule: 'daily' | 'weekly' | 'monthly'; key: (date: Date) => string }[] = [
  { rule: 'daily', key: (date) => date.toISOString().slice(0, 10) },
  { rule: 'weekly', key: isoWeek },
  { rule: 'monthly', key: (date) => date.toISOString().slice(0, 7) },
];

/**
 * Decides which backups a prune keeps, per kind, without touching anything. A backup is kept
 * when any rule keeps it: keep-last N, the newest of each of the last N days/weeks/months, the
 * newest verified backup of its kind (always), or a kept backup reads from it (a physical
 * diff/incr's `dependsOn`). Kinds without a policy keep everything. Decisions are returned
 * oldest first.
 */
export function planRetention(manifests: readonly Manifest[], options: RetentionPlanOptions): RetentionDecision[] {
  const verified = options.verified ?? (() => true);
  const reasons = new Map<string, string[]>(manifests.map((manifest) => [manifest.id, []]));
  const byKind = new Map<string, Manifest[]>();
  for (const manifest of manifests) byKind.set(manifest.kind, [...(byKind.get(manifest.kind) ?? []), manifest]);
  for (const [kind, list] of byKind) {
    const newestFirst = [...list].sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
    const policy = options.policies[kind];
    if (policy === undefined) {
      for (const manifest of newestFirst) reasons.get(manifest.id)!.push('no policy for this kind');
      continue;
    }
    newestFirst.slice(0, policy.keepLast ?? 0).forEach((manifest) => reasons.get(manifest.id)!.push(`last ${policy.keepLast}`));
    for (const { rule, key } of BUCKETS) {
      const count = policy[rule] ?? 0;
      const seen = new Set<string>();
      for (const manifest of newestFirst) {
        if (seen.size >= count) break;
        const bucket = key(new Date(manifest.startedAt));
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        reasons.get(manifest.id)!.push(`${rule} ${bucket}`);
      }
    }
    const newestVerified = newestFirst.find(verified);
    if (newestVerified !== undefined) reasons.get(newestVerified.id)!.push('newest verified');
    // Nothing of this kind verified yet: keep the newest rather than trust none.
    else if (newestFirst[0] !== undefined) reasons.get(newestFirst[0].id)!.push('newest (none verified yet)');
  }
  // A kept physical backup needs every backup it reads blocks from.
  const byId = new Map(manifests.map((manifest) => [manifest.id, manifest]));
  for (const manifest of manifests) {
    if (reasons.get(manifest.id)!.length === 0) continue;
    for (const dependency of manifest.physical?.dependsOn ?? []) {
      if (dependency !== manifest.id && byId.has(dependency)) reasons.get(dependency)!.push(`needed by ${manifest.id}`);
    }
  }
  return [...manifests]
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id))
    .map((manifest) => {
      const kept = reasons.get(manifest.id)!;
      return {
        id: manifest.id,
        kind: manifest.kind,
        startedAt: manifest.startedAt,
        action: kept.length === 0 ? 'delete' : 'keep',
        reasons: kept.length === 0 ? ['no rule keeps it'] : kept,
      };
    });
}

/** ISO 8601 week of a UTC date, as `2026-W48`. */
function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * WAL archive objects no kept physical backup needs: segments (and their `.partial` /
 * `.backup` files) positioned before the `walStart` of the oldest kept physical backup. Recovery
 * from a kept backup replays from its walStart onwards (to any later point), so everything from
 * there on stays, on every timeline; `.history` files always stay. With no kept physical
 * backup nothing is deleted (the archive may be waiting for one). Positions compare the log and
 * segment digits (characters 9-24 of the name), which order segments whatever their size.
 */
export function planWalPrune(keptPhysical: readonly Manifest[], walKeys: readonly string[]): string[] {
  const starts = keptPhysical.flatMap((manifest) => (manifest.physical === undefined ? [] : [manifest.physical.walStart.slice(8, 24)]));
  if (starts.length === 0) return [];
  const oldest = starts.sort()[0]!;
  return walKeys.filter((key) => {
    const match = /^wal\/[^/]+\/[0-9A-F]{8}([0-9A-F]{16})(?:\.partial|\.[0-9A-F]{8}\.backup)?-[0-9a-f]{64}/.exec(key);
    return match !== null && match[1]! < oldest;
  });
}

/**
 * Deletes the backups `plan` marks for deletion: the manifest first (after which the backup no
 * longer exists; an interruption leaves a directory without a manifest, which the next run's
 * cleanup removes), then its objects, then the set documents that named it (the set is no
 * longer a complete restore point), then `walKeys` (planWalPrune's answer).
 */
export async function applyRetention(
  repo: Repository,
  plan: readonly RetentionDecision[],
  options: { walKeys?: readonly string[]; signal?: AbortSignal } = {},
): Promise<{ deleted: string[]; setsDeleted: string[]; walDeleted: number }> {
  const signal = options.signal;
  const doomed = plan.filter((decision) => decision.action === 'delete').map((decision) => decision.id);
  const deleted: string[] = [];
  for (const id of doomed) {
    signal?.throwIfAborted();
    await repo.storage.delete(`backups/${id}/manifest.json`);
    await repo.storage.deletePrefix(`backups/${id}`);
    deleted.push(id);
  }
  const setsDeleted: string[] = [];
  const gone = new Set(deleted);
  for (const set of await listBackupSets(repo)) {
    if (!set.backups.some((backup) => gone.has(backup.id))) continue;
    await repo.storage.delete(`sets/${set.id}.json`);
    setsDeleted.push(set.id);
  }
  // WAL last: a crash before this point leaves extra WAL, never a kept backup without its WAL.
  for (const key of options.walKeys ?? []) {
    signal?.throwIfAborted();
    await repo.storage.delete(key);
  }
  return { deleted, setsDeleted, walDeleted: options.walKeys?.length ?? 0 };
}
