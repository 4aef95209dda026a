import type { Manifest } from './types.js';

/** Sizes of the backups of one kind (or of all: kind `total`). */
export interface KindStats {
  kind: string;
  backups: number;
  objects: number;
  /** Bytes before compression and encryption (what pg_dump, redis-cli or tar produced). */
  sizeLogical: number;
  /** Bytes in the repository. */
  sizeStored: number;
  /** 1 - stored/logical, as a percentage (0 when nothing is stored). */
  savingsPercent: number;
}

function stats(kind: string, manifests: readonly Manifest[]): KindStats {
  const sizeLogical = manifests.reduce((sum, manifest) => sum + manifest.totals.sizeLogical, 0);
  const sizeStored = manifests.reduce((sum, manifest) => sum + manifest.totals.sizeStored, 0);
  return {
    kind,
    backups: manifests.length,
    objects: manifests.reduce((sum, manifest) => sum + manifest.totals.objects, 0),
    sizeLogical,
    sizeStored,
    savingsPercent: sizeLogical === 0 ? 0 : Math.round((1 - sizeStored / sizeLogical) * 1000) / 10,
  };
}

/** Per-kind sizes of complete backups, then a `total` row. */
export function repositoryStats(manifests: readonly Manifest[]): KindStats[] {
  const kinds = [...new Set(manifests.map((manifest) => manifest.kind))].sort();
  return [...kinds.map((kind) => stats(kind, manifests.filter((manifest) => manifest.kind === kind))), stats('total', manifests)];
}
