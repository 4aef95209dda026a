import type { RedisClient } from '../redis/connection.js';
import type { CacheKeys } from './keys.js';

/** Counters kept per namespace and per statement fingerprint (Redis hashes, docs/cache.md). */
export interface CacheCounters {
  hits: number;
  misses: number;
  /** Stale entries served while one caller refreshed them. */
  staleHits: number;
  /** Results stored. */
  fills: number;
  /** Results read before a concurrent invalidation, dropped instead of stored. */
  fillsRejected: number;
  /** Results larger than the namespace's maxBytes, not stored. */
  oversize: number;
  /** Redis failures: the query went to PostgreSQL directly. */
  errors: number;
  /** Bytes stored by fills. */
  bytes: number;
  /** Database time the hits did not spend, in microseconds. */
  savedMicros: number;
}

export type CounterName = keyof CacheCounters;

export const COUNTER_NAMES: readonly CounterName[] = ['hits', 'misses', 'staleHits', 'fills', 'fillsRejected', 'oversize', 'errors', 'bytes', 'savedMicros'];

export function emptyCounters(): CacheCounters {
  return { hits: 0, misses: 0, staleHits: 0, fills: 0, fillsRejected: 0, oversize: 0, errors: 0, bytes: 0, savedMicros: 0 };
}

export function parseCounters(hash: Record<string, string>): CacheCounters {
  const counters = emptyCounters();
  for (const name of COUNTER_NAMES) counters[name] = Number(hash[name] ?? 0);
  return counters;
}

/** A statement as the statistics see it: its id, and (asked once per interval) its description. */
export interface StatementSource {
  readonly fingerprint: string;
  /** The SQL, latest parameters and tags (JSON). */
  describe(): { sql: string; params: string; tags: string };
}

interface StatementStats {
  namespace: string;
  fingerprint: string;
  sql: string;
  params: string;
  tags: string;
  counters: CacheCounters;
}

/**
 * Counts in memory and adds the deltas to Redis every interval, so the hit path never waits
 * on a statistics write and every instance contributes to the same totals.
 */
export class StatsRecorder {
  readonly #namespaces = new Map<string, CacheCounters>();
  /** namespace → fingerprint → stats (nested: no key string built per lookup). */
  readonly #statements = new Map<string, Map<string, StatementStats>>();
  /** Totals of this process since start (also while Redis is unreachable). */
  readonly local = emptyCounters();

  add(namespace: string, name: CounterName, amount = 1): void {
    let counters = this.#namespaces.get(namespace);
    if (counters === undefined) this.#namespaces.set(namespace, (counters = emptyCounters()));
    counters[name] += amount;
    this.local[name] += amount;
  }

  /** A hit: counted with the database time it saved, in one pass. */
  addHit(namespace: string, statement: StatementSource, name: 'hits' | 'staleHits', savedMicros: number): void {
    this.add(namespace, name);
    this.add(namespace, 'savedMicros', savedMicros);
    const counters = this.#statement(namespace, statement).counters;
    counters[name] += 1;
    counters.savedMicros += savedMicros;
  }

  addStatement(namespace: string, statement: StatementSource, name: CounterName, amount = 1): void {
    this.#statement(namespace, statement).counters[name] += amount;
  }

  #statement(namespace: string, statement: StatementSource): StatementStats {
    let statements = this.#statements.get(namespace);
    if (statements === undefined) this.#statements.set(namespace, (statements = new Map()));
    const { fingerprint } = statement;
    let stats = statements.get(fingerprint);
    if (stats === undefined) statements.set(fingerprint, (stats = { namespace, fingerprint, ...statement.describe(), counters: emptyCounters() }));
    return stats;
  }

  /** Writes the pending deltas; on failure they are kept for the next attempt. */
  async flush(redis: RedisClient, keys: CacheKeys): Promise<void> {
    if (this.#namespaces.size === 0 && this.#statements.size === 0) return;
    const namespaces = [...this.#namespaces];
    const statements = [...this.#statements.values()].flatMap((byFingerprint) => [...byFingerprint.values()]);
    this.#namespaces.clear();
    this.#statements.clear();
    const writes: Promise<unknown>[] = [];
    for (const [namespace, counters] of namespaces) {
      for (const name of COUNTER_NAMES) if (counters[name] !== 0) writes.push(redis.hincrby(keys.stats(namespace), name, counters[name]));
    }
    for (const stats of statements) {
      const key = keys.fingerprint(stats.namespace, stats.fingerprint);
      writes.push(redis.hset(key, 'sql', stats.sql, 'params', stats.params, 'tags', stats.tags));
      for (const name of COUNTER_NAMES) if (stats.counters[name] !== 0) writes.push(redis.hincrby(key, name, stats.counters[name]));
      const lookups = stats.counters.hits + stats.counters.misses + stats.counters.staleHits;
      if (lookups > 0) writes.push(redis.zincrby(keys.fingerprintRanking(stats.namespace), lookups, stats.fingerprint));
    }
    try {
      await Promise.all(writes);
    } catch (error) {
      // Put the deltas back (HINCRBY is not idempotent: some may have landed, an overcount
      // beats losing the whole interval).
      for (const [namespace, counters] of namespaces) {
        const pending = this.#namespaces.get(namespace);
        if (pending === undefined) this.#namespaces.set(namespace, counters);
        else for (const name of COUNTER_NAMES) pending[name] += counters[name];
      }
      throw error;
    }
  }
}
