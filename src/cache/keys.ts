import { createHash } from 'node:crypto';
import { OpsError } from '../core/errors.js';

/**
 * Redis key layout of the query cache, version 1 (docs/cache.md). `p` is the key prefix
 * (default `opsctl:cache:`):
 *
 *   p e:<ns>:{<hash>}          entry (format v1, codec.ts); hash = sha1(SQL, params, ns version)
 *   p e:<ns>:{<hash>}:lease    fill lease and cross-process lock (same slot as the entry)
 *   p t:<tag>                  set of entry keys carrying the tag; tables are `table:<schema>.<name>`
 *   p v:<ns>                   namespace version (INCR = flush of the namespace, O(1))
 *   p tables                   set of tables cached results depend on (for gap invalidation)
 *   p s:<ns>                   hash of counters of the namespace
 *   p f:<ns>:<fingerprint>     hash of counters of one statement, plus its SQL and last params
 *   p fz:<ns>                  sorted set: fingerprint → lookups (hits + misses)
 *   p inv                      pub/sub channel: invalidations for in-process tiers
 */
export const KEY_LAYOUT_VERSION = 1;
export const DEFAULT_KEY_PREFIX = 'opsctl:cache:';

export class CacheKeys {
  constructor(readonly prefix: string) {}

  entry(namespace: string, hash: string): string {
    return `${this.prefix}e:${namespace}:{${hash}}`;
  }

  lease(entryKey: string): string {
    return `${entryKey}:lease`;
  }

  /** SCAN pattern of every entry (of one namespace). */
  entryPattern(namespace?: string): string {
    return `${this.prefix}e:${namespace ?? '*'}:{*}`;
  }

  /** The namespace of an entry key, or undefined when `key` is not one. */
  namespaceOf(key: string): string | undefined {
    if (!key.startsWith(`${this.prefix}e:`)) return undefined;
    const match = /^([^:]+):\{[0-9a-f]+\}$/.exec(key.slice(this.prefix.length + 2));
    return match?.[1];
  }

  requireEntry(key: string): string {
    if (this.namespaceOf(key) === undefined) {
      throw new OpsError('CACHE_BAD_INPUT', `"${key}" is not a cache entry key`, {
        hint: `entry keys look like ${this.prefix}e:<namespace>:{<hash>}; list them with \`opsctl cache keys\``,
      });
    }
    return key;
  }

  tag(tag: string): string {
    return `${this.prefix}t:${tag}`;
  }

  version(namespace: string): string {
    return `${this.prefix}v:${namespace}`;
  }

  tables(): string {
    return `${this.prefix}tables`;
  }

  stats(namespace: string): string {
    return `${this.prefix}s:${namespace}`;
  }

  fingerprint(namespace: string, fingerprint: string): string {
    return `${this.prefix}f:${namespace}:${fingerprint}`;
  }

  fingerprintRanking(namespace: string): string {
    return `${this.prefix}fz:${namespace}`;
  }

  channel(): string {
    return `${this.prefix}inv`;
  }
}

/** The tag a table's results carry. */
export function tableTag(table: string): string {
  return `table:${table}`;
}

/** JSON with BigInt and Buffer spelled out, so distinct parameters never hash alike. */
export function paramsText(params: readonly unknown[]): string {
  // The replacer costs more than the rest of a hit's key work: only pay it when needed.
  for (const value of params) {
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return JSON.stringify(params, (_key, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item));
    }
  }
  return JSON.stringify(params);
}

export function entryHash(normalisedSql: string, params: readonly unknown[], namespaceVersion: number): string {
  return createHash('sha1').update(`${normalisedSql}\0${paramsText(params)}\0${namespaceVersion}`).digest('hex').slice(0, 32);
}
