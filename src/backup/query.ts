import type { Manifest } from './types.js';
import { tablesOf } from './toc.js';

/** Filters of `backup list`; every given filter must match. */
export interface BackupFilter {
  kind?: string;
  /** Started at or after (epoch ms). */
  since?: number;
  /** Started before (epoch ms). */
  until?: number;
  /** Holds a dump of this database. */
  database?: string;
  /** Holds this table: `name` (any schema) or `schema.name`. */
  table?: string;
  label?: string;
}

/** The backups matching `filter`, in the order given. */
export function filterBackups(manifests: readonly Manifest[], filter: BackupFilter): Manifest[] {
  return manifests.filter((manifest) => {
    const started = Date.parse(manifest.startedAt);
    if (filter.kind !== undefined && manifest.kind !== filter.kind) return false;
    if (filter.since !== undefined && started < filter.since) return false;
    if (filter.until !== undefined && started >= filter.until) return false;
    if (filter.label !== undefined && manifest.label !== filter.label) return false;
    if (filter.database !== undefined && !manifest.objects.some((object) => object.database === filter.database)) return false;
    if (filter.table !== undefined && !backupTables(manifest, filter.database).some((table) => tableMatches(table, filter.table!))) return false;
    return true;
  });
}

/** `database: schema.table` names a backup holds (of one database when given). */
export function backupTables(manifest: Manifest, database?: string): string[] {
  return manifest.objects
    .filter((object) => object.toc !== undefined && (database === undefined || object.database === database))
    .flatMap((object) => tablesOf(object.toc ?? []));
}

function tableMatches(qualified: string, wanted: string): boolean {
  return wanted.includes('.') ? qualified === wanted : qualified.slice(qualified.indexOf('.') + 1) === wanted;
}

/** Logical size over stored size, e.g. 3.4 for 3.4:1 (undefined when nothing was stored). */
export function compressionRatio(logical: number, stored: number): number | undefined {
  return stored === 0 ? undefined : logical / stored;
}
