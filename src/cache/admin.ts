import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import { OpsError } from '../core/errors.js';
import type { ProgressReporter } from '../core/progress.js';
import { noProgress } from '../core/progress.js';
import type { RedisClient } from '../redis/connection.js';
import { decodeEntry } from './codec.js';
import type { CacheKeys } from './keys.js';
import type { QueryCache } from './query-cache.js';
import { parseCounters, type CacheCounters } from './stats.js';
import type { Pool } from 'pg';
import { parseDuration } from '../core/parse.js';
import { normaliseSql, uncacheableReason } from './sql.js';

/** What operators look at (`opsctl cache …`): statistics, entries, warming. */

function primaries(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/** SCAN over every primary, in batches, stopping when the signal fires. */
async function* scanAll(redis: RedisClient, pattern: string, signal?: AbortSignal): AsyncGenerator<string[]> {
  for (const node of primaries(redis)) {
    let cursor = '0';
    do {
      if (signal?.aborted === true) return;
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (batch.length > 0) yield batch;
    } while (cursor !== '0');
  }
}

export interface StatementStatsRow extends CacheCounters {
  namespace: string;
  fingerprint: string;
  sql: string;
  lookups: number;
  hitRatio: number;
}

export interface NamespaceStatsRow extends CacheCounters {
  namespace: string;
  hitRatio: number;
}

export interface CacheStatsReport {
  namespaces: NamespaceStatsRow[];
  /** Most looked-up statements of each namespace. */
  top: StatementStatsRow[];
  /** used_memory summed over the primaries (the whole Redis, not only the cache). */
  redisUsedMemory: number;
}

function ratio(counters: CacheCounters): number {
  const lookups = counters.hits + counters.staleHits + counters.misses;
  return lookups === 0 ? 0 : (counters.hits + counters.staleHits) / lookups;
}

/** Namespaces that have counters in Redis (every instance's, not only the configured ones). */
async function namespacesWithStats(redis: RedisClient, keys: CacheKeys): Promise<string[]> {
  const found = new Set<string>();
  for await (const batch of scanAll(redis, `${keys.prefix}s:*`)) for (const key of batch) found.add(key.slice(keys.prefix.length + 2));
  return [...found].sort();
}

export async function readCacheStats(redis: RedisClient, keys: CacheKeys, options: { namespace?: string; top?: number } = {}): Promise<CacheStatsReport> {
  const namespaces = options.namespace === undefined ? await namespacesWithStats(redis, keys) : [options.namespace];
  const rows: NamespaceStatsRow[] = [];
  const top: StatementStatsRow[] = [];
  for (const namespace of namespaces) {
    const counters = parseCounters(await redis.hgetall(keys.stats(namespace)));
    rows.push({ namespace, ...counters, hitRatio: ratio(counters) });
    const ranked = await redis.zrevrange(keys.fingerprintRanking(namespace), 0, (options.top ?? 10) - 1, 'WITHSCORES');
    for (let index = 0; index < ranked.length; index += 2) {
      const fingerprint = ranked[index]!;
      const hash = await redis.hgetall(keys.fingerprint(namespace, fingerprint));
      const statement = parseCounters(hash);
      top.push({ namespace, fingerprint, sql: hash.sql ?? '', lookups: Number(ranked[index + 1]), ...statement, hitRatio: ratio(statement) });
    }
  }
  let redisUsedMemory = 0;
  for (const node of primaries(redis)) redisUsedMemory += Number(/used_memory:(\d+)/.exec(await node.info('memory'))?.[1] ?? 0);
  return { namespaces: rows, top, redisUsedMemory };
}

/** Statements recorded by the statistics, most looked-up first: what `warm --from-stats` runs. */
export async function topStatements(redis: RedisClient, keys: CacheKeys, namespaces: readonly string[], top: number): Promise<WarmQuery[]> {
  const queries: WarmQuery[] = [];
  for (const namespace of namespaces) {
    const ranked = await redis.zrevrange(keys.fingerprintRanking(namespace), 0, top - 1);
    for (const fingerprint of ranked) {
      const hash = await redis.hgetall(keys.fingerprint(namespace, fingerprint));
      if (hash.sql === undefined) continue;
      const tags = JSON.parse(hash.tags ?? '[]') as string[];
      // Table tags are recorded only for statements that declared their tables (SQL unreadable).
      const tables = tags.filter((tag) => tag.startsWith('table:')).map((tag) => tag.slice('table:'.length));
      queries.push({ sql: hash.sql, params: JSON.parse(hash.params ?? '[]') as unknown[], namespace, tags: tags.filter((tag) => !tag.startsWith('table:')), ...(tables.length > 0 ? { tables } : {}) });
    }
  }
  return queries;
}

/**
 * The most called statements of this database in `pg_stat_statements`, where that extension is
 * installed: those without parameters (the view keeps `$1` placeholders, not values) that the
 * cache accepts, most calls first, in the default namespace.
 */
export async function pgStatStatementQueries(pool: Pool, top: number): Promise<WarmQuery[]> {
  const present = await pool.query<{ ok: boolean }>("select to_regclass('pg_stat_statements') is not null as ok");
  if (present.rows[0]?.ok !== true) {
    throw new OpsError('CACHE_BAD_INPUT', 'pg_stat_statements is not installed in this database', {
      hint: "add it to shared_preload_libraries and run `create extension pg_stat_statements`, or warm from --file / --from-stats",
    });
  }
  const result = await pool.query<{ query: string }>(
    `select query from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
     and query !~ '\\$[0-9]' and query !~* '(pg_stat_statements|pg_catalog|information_schema)' order by calls desc limit $1`,
    [top * 5],
  );
  const queries: WarmQuery[] = [];
  for (const { query } of result.rows) {
    if (queries.length >= top) break;
    if (uncacheableReason(normaliseSql(query)) === undefined) queries.push({ sql: query });
  }
  return queries;
}

export interface EntryRow {
  key: string;
  namespace: string;
}

/** Entry keys, streamed in SCAN batches: of a namespace, or those recorded under a tag. */
export async function* scanEntries(redis: RedisClient, keys: CacheKeys, options: { namespace?: string; tag?: string; signal?: AbortSignal } = {}): AsyncGenerator<EntryRow[]> {
  if (options.tag !== undefined) {
    let cursor = '0';
    do {
      if (options.signal?.aborted === true) return;
      const [next, members] = await redis.sscan(keys.tag(options.tag), cursor, 'COUNT', 500);
      cursor = next;
      // Tag sets keep members until the set expires: show only entries that still exist.
      const present = await Promise.all(members.map((key) => redis.exists(key)));
      const rows = members
        .filter((key, index) => present[index] === 1)
        .map((key) => ({ key, namespace: keys.namespaceOf(key) ?? '' }))
        .filter((row) => options.namespace === undefined || row.namespace === options.namespace);
      if (rows.length > 0) yield rows;
    } while (cursor !== '0');
    return;
  }
  for await (const batch of scanAll(redis, keys.entryPattern(options.namespace), options.signal)) {
    yield batch.map((key) => ({ key, namespace: keys.namespaceOf(key) ?? '' }));
  }
}

export interface EntryDetails {
  key: string;
  namespace: string;
  fingerprint: string;
  tags: string[];
  rows: number;
  bytes: number;
  compressed: boolean;
  formatVersion: number;
  filledAt: Date;
  freshUntil: Date;
  stale: boolean;
  /** Remaining Redis TTL in ms (fresh time plus the stale-while-revalidate window). */
  ttlMs: number;
  fillMs: number;
  /** The rows, only when asked for (they may hold personal data). */
  value?: unknown[];
}

export async function inspectEntry(redis: RedisClient, keys: CacheKeys, key: string, options: { reveal?: boolean; now?: number } = {}): Promise<EntryDetails> {
  keys.requireEntry(key);
  const [stored, ttlMs] = await Promise.all([redis.getBuffer(key), redis.pttl(key)]);
  if (stored === null) {
    throw new OpsError('CACHE_ENTRY_NOT_FOUND', `no cache entry ${key}`, { hint: 'it expired or was invalidated; list entries with `opsctl cache keys`' });
  }
  const entry = decodeEntry(stored);
  return {
    key,
    namespace: entry.meta.ns,
    fingerprint: entry.meta.fp,
    tags: entry.meta.tags,
    rows: entry.rows.length,
    bytes: entry.bytes,
    compressed: entry.header.deflated,
    formatVersion: entry.header.version,
    filledAt: new Date(entry.meta.at),
    freshUntil: new Date(entry.header.freshUntil),
    stale: (options.now ?? Date.now()) >= entry.header.freshUntil,
    ttlMs,
    fillMs: entry.header.computeMicros / 1000,
    ...(options.reveal === true ? { value: entry.rows } : {}),
  };
}

export interface WarmQuery {
  sql: string;
  params?: unknown[];
  namespace?: string;
  tags?: string[];
  /** Tables the result depends on, for SQL whose tables cannot be read from it. */
  tables?: string[];
  /** Fresh lifetime in ms. */
  ttl?: number;
}

export interface WarmResult {
  total: number;
  ok: number;
  /** Already cached (a hit). */
  alreadyCached: number;
  failed: { sql: string; namespace: string; error: string }[];
}

/**
 * Runs the queries through the cache with at most `concurrency` at a time. A failing query is
 * reported and the others go on: warming is best effort.
 */
export async function warmCache(
  cache: QueryCache,
  queries: readonly WarmQuery[],
  options: { concurrency?: number; progress?: ProgressReporter; signal?: AbortSignal } = {},
): Promise<WarmResult> {
  const task = (options.progress ?? noProgress).start('warming the cache', { total: queries.length, unit: 'items' });
  const result: WarmResult = { total: queries.length, ok: 0, alreadyCached: 0, failed: [] };
  let next = 0;
  const worker = async () => {
    while (next < queries.length && options.signal?.aborted !== true) {
      const query = queries[next]!;
      next += 1;
      try {
        const answer = await cache.query(query.sql, query.params ?? [], { namespace: query.namespace, tags: query.tags, tables: query.tables, ttl: query.ttl });
        if (answer.source === 'database') result.ok += 1;
        else result.alreadyCached += 1;
      } catch (error) {
        result.failed.push({ sql: query.sql, namespace: query.namespace ?? 'default', error: (error as Error).message });
      }
      task.advance(1);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  task.finish(result.failed.length === 0, `${result.ok} filled, ${result.alreadyCached} already cached, ${result.failed.length} failed`);
  return result;
}

/** Parses a warm file's content (YAML or JSON): a list of queries, or `{ queries: [...] }`. */
export function parseWarmQueries(document: unknown, source: string): WarmQuery[] {
  const list = Array.isArray(document) ? document : (document as { queries?: unknown } | null)?.queries;
  if (!Array.isArray(list)) {
    throw new OpsError('CACHE_BAD_INPUT', `${source}: expected a list of queries`, { hint: 'write `- sql: select …` items, each with optional params, namespace, tags, tables, ttl' });
  }
  return list.map((item: unknown, index) => {
    const query = (typeof item === 'string' ? { sql: item } : item) as (Omit<Partial<WarmQuery>, 'ttl'> & { ttl?: string | number }) | null;
    const ttl = query?.ttl === undefined ? undefined : parseDuration(query.ttl);
    if (query === null || typeof query.sql !== 'string' || (query.params !== undefined && !Array.isArray(query.params)) || (query.tables !== undefined && !Array.isArray(query.tables)) || ttl === null || (query.ttl !== undefined && ttl === undefined)) {
      throw new OpsError('CACHE_BAD_INPUT', `${source}: query ${index + 1} needs a sql string (params as a list, ttl as a duration)`, {
        hint: 'write `- sql: select …` items, each with optional params, namespace, tags, tables, ttl',
      });
    }
    return { ...query, sql: query.sql, ttl } as WarmQuery;
  });
}

