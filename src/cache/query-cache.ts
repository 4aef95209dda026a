import { randomBytes } from 'node:crypto';
import type { Pool, QueryResultRow } from 'pg';
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../core/clock.js';
import { OpsError } from '../core/errors.js';
import type { RedisClient } from '../redis/connection.js';
import { evalLuaScript, loadLuaScript } from '../redis/lua-script.js';
import { decodeEntry, encodeEntry, type EntryMeta } from './codec.js';
import { CacheKeys, DEFAULT_KEY_PREFIX, entryHash, paramsText, tableTag } from './keys.js';
import { fingerprintSql, normaliseSql, tablesInSql, uncacheableReason } from './sql.js';
import { StatsRecorder, type CacheCounters, type CounterName, type StatementSource } from './stats.js';
import { startTableListener, type TableListener } from './table-listener.js';

const fillScript = loadLuaScript(import.meta.url, 'fill');
const releaseScript = loadLuaScript(import.meta.url, 'release');
const tagAddScript = loadLuaScript(import.meta.url, 'tag-add');
const tagTakeScript = loadLuaScript(import.meta.url, 'tag-take');
const retimeScript = loadLuaScript(import.meta.url, 'retime');

/** Lifetimes and limits of one namespace. Durations in ms. */
export interface CacheNamespaceSettings {
  /** How long a result is fresh. */
  ttl: number;
  /** Random spread of the TTL, as a fraction (0.1 = up to ±10 %), so fills do not expire together. */
  jitter: number;
  /** Largest encoded result stored; bigger ones are served but not cached (counted as oversize). */
  maxBytes: number;
  /** How long after expiry a stale result may be served while one caller refreshes it (0 = never). */
  staleWhileRevalidate: number;
}

export const DEFAULT_NAMESPACE_SETTINGS: CacheNamespaceSettings = { ttl: 60_000, jitter: 0.1, maxBytes: 1024 * 1024, staleWhileRevalidate: 0 };

export interface CreateQueryCacheOptions {
  /** ioredis client (standalone, Sentinel or Cluster) holding the cache. */
  redis: RedisClient;
  /** PostgreSQL pool the queries run on; omit for administration only (invalidate, setTtl). */
  pg?: Pool;
  /** Namespaces and their settings; `default` always exists. */
  namespaces?: Record<string, Partial<CacheNamespaceSettings>>;
  /** Settings every namespace starts from. */
  defaults?: Partial<CacheNamespaceSettings>;
  /** Default `opsctl:cache:`. */
  keyPrefix?: string;
  /** Bodies larger than this are deflated (default 8 KiB). */
  compressAbove?: number;
  /** Fill lease (cross-process lock) lifetime in ms (default 5 s). */
  leaseMs?: number;
  /** How long a caller waits for another process's fill before querying itself, ms (default 2 s). */
  lockWaitMs?: number;
  /** XFetch β: larger refreshes earlier; 0 turns probabilistic early refresh off (default 1). */
  xfetchBeta?: number;
  /**
   * In-process tier: decoded results kept in memory for `ttl` ms (capped by the entry's own
   * freshness), dropped on every instance through Redis pub/sub when invalidated.
   */
  memory?: { maxEntries?: number; ttl?: number };
  /**
   * Connection for pub/sub (invalidations of in-process tiers and namespace versions); default
   * `redis.duplicate()`. Pass `false` to run without (namespace versions are then re-read every
   * `versionRefreshMs`).
   */
  subscriber?: RedisClient | false;
  /** How old a cached namespace version may be before it is read again, ms (default 1 s). */
  versionRefreshMs?: number;
  /** Listen for table-change notifications of the triggers `cache install-triggers` creates. */
  listen?: boolean;
  /** How often the counters are added to Redis, ms (default 1 s). */
  statsFlushMs?: number;
  /** Where fail-open and listener problems are reported (once per outage). */
  logger?: { warn(message: string): void };
  clock?: Clock;
}

export interface QueryOptions {
  namespace?: string;
  /** Fresh lifetime override, ms. */
  ttl?: number;
  tags?: readonly string[];
  /** Tables the result depends on; default: the tables named in the SQL. */
  tables?: readonly string[];
}

export interface CachedQueryResult<Row> {
  rows: Row[];
  rowCount: number;
  /** Where the rows came from. */
  source: 'memory' | 'redis' | 'stale' | 'database';
  /** The entry key (for `cache inspect`), or undefined when Redis was not used. */
  key: string | undefined;
}

export interface InvalidateOptions {
  tags?: readonly string[];
  tables?: readonly string[];
  /** Entry keys (as `keys()` and `keyFor()` give them). */
  keys?: readonly string[];
  /** Namespaces to flush by a version bump. */
  namespaces?: readonly string[];
  /** Count what would be invalidated, change nothing. */
  dryRun?: boolean;
}

export interface InvalidateResult {
  /** Entry keys deleted (or, with dryRun, that would be). */
  entries: number;
  tags: number;
  namespaces: number;
}

export interface QueryCache {
  query<Row extends QueryResultRow = QueryResultRow>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<CachedQueryResult<Row>>;
  /** The entry key a query would use now. */
  keyFor(sql: string, params?: readonly unknown[], options?: { namespace?: string }): Promise<string>;
  invalidate(options: InvalidateOptions): Promise<InvalidateResult>;
  /** Every table cached results depend on invalidated (a gap in table notifications). */
  invalidateAllTables(): Promise<InvalidateResult>;
  /** Sets an entry's remaining fresh lifetime; false when there is no such entry. */
  setTtl(key: string, ttlMs: number): Promise<boolean>;
  /** The namespaces with their effective settings. */
  namespaces(): Record<string, CacheNamespaceSettings>;
  /** Counters of this process since it started (Redis keeps the shared totals). */
  localStats(): CacheCounters;
  /** Writes pending counters to Redis now. */
  flushStats(): Promise<void>;
  /** Resolves once the pub/sub subscription and the table listener (if any) are active. */
  ready(): Promise<void>;
  readonly keys: CacheKeys;
  close(): Promise<void>;
}

/** What a statement's text alone determines, worked out once per distinct SQL string. */
class PreparedStatement implements StatementSource {
  readonly fingerprint: string;
  /** The tables found in the SQL, or undefined (with the reason) when they could not be told. */
  readonly tables: string[] | undefined;
  readonly tablesProblem: string | undefined;
  /** `table:<name>` of each table: the tags of a query that declares none of its own. */
  readonly tableTags: string[];
  /** Entry keys of recent parameters, per namespace at its current version: spares a SHA-1 per hit. */
  readonly keys = new Map<string, { version: number; byParams: Map<string, string> }>();
  /** Parameters and tags of the latest lookup, for the statistics (no object per hit). */
  lastParams: readonly unknown[] = [];
  lastTags: readonly string[] = [];

  constructor(
    readonly sql: string,
    readonly normalised: string,
  ) {
    this.fingerprint = fingerprintSql(normalised);
    const { tables, problem } = tablesInSql(normalised);
    this.tables = tables;
    this.tablesProblem = problem;
    this.tableTags = tables?.map(tableTag) ?? [];
  }

  /**
   * What `cache stats` and `warm --from-stats` use: the SQL, its latest parameters and own tags;
   * table tags too when the SQL does not tell its tables (they were declared).
   */
  describe() {
    const tags = this.tables === undefined ? this.lastTags : this.lastTags.filter((tag) => !tag.startsWith('table:'));
    return { sql: this.sql, params: safeJson(this.lastParams), tags: JSON.stringify(tags) };
  }
}

interface MemoryEntry {
  rows: QueryResultRow[];
  until: number;
  tags: readonly string[];
  /** The fill's cost: the database time a hit saves. */
  computeMicros: number;
}

/** Carries a database failure through the Redis fail-open handler unchanged. */
class DatabaseFailure {
  constructor(readonly error: unknown) {}
}

const PREPARED_LIMIT = 2000;
const HASHES_PER_STATEMENT = 256;
const NAMESPACE_NAME = /^[A-Za-z0-9_-]+$/;
const POLL_MS = 10;

/**
 * Creates the query cache (docs/cache.md): `query()` answers from Redis when it can and from
 * PostgreSQL otherwise, storing results under a lease that any invalidation revokes, so a result
 * read before a concurrent write's invalidation is never stored. Redis trouble never fails a
 * query: it goes to PostgreSQL directly (counted, logged once per outage).
 */
export function createQueryCache(options: CreateQueryCacheOptions): QueryCache {
  const { redis, pg } = options;
  const clock = options.clock ?? systemClock;
  const keys = new CacheKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  const compressAbove = options.compressAbove ?? 8 * 1024;
  const leaseMs = options.leaseMs ?? 5000;
  const lockWaitMs = options.lockWaitMs ?? 2000;
  const beta = options.xfetchBeta ?? 1;
  const versionRefreshMs = options.versionRefreshMs ?? 1000;
  const defaults = { ...DEFAULT_NAMESPACE_SETTINGS, ...options.defaults };
  const settings: Record<string, CacheNamespaceSettings> = { default: defaults };
  for (const [name, own] of Object.entries(options.namespaces ?? {})) settings[name] = { ...defaults, ...own };
  for (const [name, value] of Object.entries(settings)) validateSettings(name, value);

  const stats = new StatsRecorder();
  const prepared = new Map<string, PreparedStatement>();
  const inflight = new Map<string, Promise<CachedQueryResult<QueryResultRow>>>();
  const versions = new Map<string, { version: number; readAt: number }>();
  const versionReads = new Map<string, Promise<number>>();
  const memoryLimit = options.memory?.maxEntries ?? 10_000;
  const memoryTtl = options.memory?.ttl ?? 5000;
  const memory = options.memory === undefined ? undefined : new Map<string, MemoryEntry>();
  const background = new Set<Promise<unknown>>();
  let redisFailing = false;
  let closed = false;

  const subscriber = options.subscriber === false ? undefined : (options.subscriber ?? (redis as Redis).duplicate());
  const subscribed = subscriber === undefined ? Promise.resolve() : subscribe(subscriber).catch((error: unknown) => noteRedisFailure(error));
  let listener: TableListener | undefined;
  if (options.listen === true && pg !== undefined) {
    listener = startTableListener({
      pool: pg,
      onTables: (tables) => track(invalidate({ tables }).then(() => undefined)),
      onGap: () => track(invalidateAllTables().then(() => undefined)),
      logger: options.logger,
    });
  }
  const statsTimer = setInterval(() => void flushStatsQuietly(), options.statsFlushMs ?? 1000);
  statsTimer.unref();

  function validateSettings(name: string, value: CacheNamespaceSettings): void {
    if (!NAMESPACE_NAME.test(name)) {
      throw new OpsError('CACHE_BAD_INPUT', `cache namespace "${name}" has characters keys cannot carry`, { hint: 'use letters, digits, "-" and "_"' });
    }
    const bad = value.ttl <= 0 ? 'ttl' : value.jitter < 0 || value.jitter >= 1 ? 'jitter' : value.maxBytes <= 0 ? 'maxBytes' : value.staleWhileRevalidate < 0 ? 'staleWhileRevalidate' : undefined;
    if (bad !== undefined) {
      throw new OpsError('CACHE_BAD_INPUT', `cache namespace "${name}": ${bad} is out of range`, {
        hint: 'ttl and maxBytes must be positive, jitter in [0, 1), staleWhileRevalidate ≥ 0',
      });
    }
  }

  function namespaceSettings(namespace: string): CacheNamespaceSettings {
    const found = settings[namespace];
    if (found === undefined) {
      throw new OpsError('CACHE_UNKNOWN_NAMESPACE', `unknown cache namespace "${namespace}"`, {
        hint: `configured namespaces: ${Object.keys(settings).join(', ')}`,
      });
    }
    return found;
  }

  function prepare(sql: string): PreparedStatement {
    let statement = prepared.get(sql);
    if (statement !== undefined) return statement;
    const normalised = normaliseSql(sql);
    const reason = uncacheableReason(normalised);
    if (reason !== undefined) {
      throw new OpsError('CACHE_UNCACHEABLE_QUERY', `this statement cannot be cached: ${reason}`, {
        hint: 'run it on the pool directly',
        details: { sql: normalised.slice(0, 200) },
      });
    }
    statement = new PreparedStatement(sql, normalised);
    if (prepared.size >= PREPARED_LIMIT) prepared.delete(prepared.keys().next().value!);
    prepared.set(sql, statement);
    return statement;
  }

  function ownTags(statement: PreparedStatement, queryOptions: QueryOptions): string[] {
    const tables = queryOptions.tables?.map((table) => (table.includes('.') ? table : `public.${table}`)) ?? statement.tables;
    if (tables === undefined) {
      // Guessing a shorter list would leave results that table invalidation never reaches.
      throw new OpsError('CACHE_UNCACHEABLE_QUERY', `cannot tell which tables this statement reads: ${statement.tablesProblem}`, {
        hint: 'pass `tables` (every table it reads) in the query options',
        details: { sql: statement.normalised.slice(0, 200) },
      });
    }
    const tags = [...(queryOptions.tags ?? []), ...tables.map(tableTag)];
    if (tags.some((tag) => tag.length === 0)) throw new OpsError('CACHE_BAD_INPUT', 'a cache tag is empty', { hint: 'tags are non-empty strings' });
    return tags;
  }

  function entryKey(namespace: string, statement: PreparedStatement, params: readonly unknown[], version: number): string {
    let known = statement.keys.get(namespace);
    if (known?.version !== version) statement.keys.set(namespace, (known = { version, byParams: new Map() }));
    const text = paramsText(params);
    let key = known.byParams.get(text);
    if (key === undefined) {
      key = keys.entry(namespace, entryHash(statement.normalised, params, version));
      if (known.byParams.size >= HASHES_PER_STATEMENT) known.byParams.delete(known.byParams.keys().next().value!);
      known.byParams.set(text, key);
    }
    return key;
  }

  function track(work: Promise<unknown>): void {
    const settled = work.catch((error: unknown) => noteRedisFailure(error));
    background.add(settled);
    void settled.finally(() => background.delete(settled));
  }

  function noteRedisFailure(error: unknown, namespace = 'default'): void {
    stats.add(namespace, 'errors');
    if (!redisFailing) {
      redisFailing = true;
      options.logger?.warn(`query cache: Redis unavailable, queries go to PostgreSQL directly (${(error as Error)?.message ?? String(error)})`);
    }
  }

  function redisUsable(): boolean {
    return redis.status === 'ready';
  }

  /** The namespace version when it can be used without waiting (a re-read may start behind it). */
  function knownVersion(namespace: string): number | undefined {
    const known = versions.get(namespace);
    if (known === undefined) return undefined;
    if (clock.now() - known.readAt < versionRefreshMs) return known.version;
    if (subscriber === undefined) return undefined;
    // Pub/sub brings the bumps; the periodic re-read only covers a lost message: nobody waits for it.
    if (!versionReads.has(namespace)) track(readVersion(namespace));
    return known.version;
  }

  /**
   * One GET per namespace at a time, shared by every caller that finds the version old (else each
   * lookup of a busy in-process tier sent its own until the first answer came back).
   */
  function readVersion(namespace: string): Promise<number> {
    let pending = versionReads.get(namespace);
    if (pending === undefined) {
      const asked = clock.now();
      pending = redis
        .get(keys.version(namespace))
        .then((value) => {
          // A bump announced while the GET was under way is newer than its answer.
          const announced = versions.get(namespace);
          if (announced !== undefined && announced.readAt >= asked && announced.version > Number(value ?? 0)) return announced.version;
          const version = Number(value ?? 0);
          versions.set(namespace, { version, readAt: clock.now() });
          return version;
        })
        .finally(() => versionReads.delete(namespace));
      versionReads.set(namespace, pending);
    }
    return pending;
  }

  async function subscribe(client: RedisClient): Promise<void> {
    client.on('message', (_channel: string, message: string) => applyMessage(message));
    // After a reconnect the messages sent meanwhile are lost: forget what they could have changed.
    client.on('ready', () => {
      versions.clear();
      memory?.clear();
    });
    client.on('error', () => undefined);
    // A client built without an offline queue refuses commands until it is connected.
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    await client.subscribe(keys.channel());
  }

  function applyMessage(message: string): void {
    let parsed: { keys?: string[]; tags?: string[]; namespaces?: Record<string, number> };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      return;
    }
    for (const [namespace, version] of Object.entries(parsed.namespaces ?? {})) versions.set(namespace, { version, readAt: clock.now() });
    if (memory === undefined) return;
    if (parsed.namespaces !== undefined) memory.clear();
    for (const key of parsed.keys ?? []) memory.delete(key);
    if (parsed.tags !== undefined && parsed.tags.length > 0) {
      const gone = new Set(parsed.tags);
      for (const [key, entry] of memory) if (entry.tags.some((tag) => gone.has(tag))) memory.delete(key);
    }
  }

  function remember(key: string, rows: QueryResultRow[], freshUntil: number, tags: readonly string[], computeMicros: number): void {
    if (memory === undefined) return;
    if (memory.size >= memoryLimit) memory.delete(memory.keys().next().value!);
    memory.set(key, { rows, until: Math.min(freshUntil, clock.now() + memoryTtl), tags, computeMicros });
  }

  function jittered(ttl: number, jitter: number): number {
    return Math.max(1, Math.round(ttl * (1 + jitter * (2 * Math.random() - 1))));
  }

  async function runDirect<Row extends QueryResultRow>(sql: string, params: readonly unknown[]): Promise<Row[]> {
    if (pg === undefined) {
      throw new DatabaseFailure(new OpsError('CACHE_BAD_INPUT', 'this query cache was created without a pg pool', { hint: 'pass `pg` to createQueryCache to run queries' }));
    }
    try {
      return (await pg.query<Row>(sql, params as unknown[])).rows;
    } catch (error) {
      throw new DatabaseFailure(error);
    }
  }

  /** A lookup that goes further than a hit: a miss, a refresh, a stale answer. */
  interface Lookup {
    namespace: string;
    settings: CacheNamespaceSettings;
    statement: PreparedStatement;
    params: readonly unknown[];
    key: string;
    tags: readonly string[];
    ttl: number;
  }

  function lookupOf(namespace: string, statement: PreparedStatement, params: readonly unknown[], key: string, tags: readonly string[], ttl: number | undefined): Lookup {
    const nsSettings = settings[namespace]!;
    return { namespace, settings: nsSettings, statement, params, key, tags, ttl: ttl ?? nsSettings.ttl };
  }

  function count(lookup: Lookup, name: CounterName, amount = 1): void {
    stats.add(lookup.namespace, name, amount);
    stats.addStatement(lookup.namespace, lookup.statement, name, amount);
  }

  async function query<Row extends QueryResultRow = QueryResultRow>(
    sql: string,
    params: readonly unknown[] = [],
    queryOptions: QueryOptions = {},
  ): Promise<CachedQueryResult<Row>> {
    const namespace = queryOptions.namespace ?? 'default';
    namespaceSettings(namespace);
    const statement = prepare(sql);
    if (queryOptions.ttl !== undefined && !(queryOptions.ttl > 0)) {
      throw new OpsError('CACHE_BAD_INPUT', `ttl must be a positive number of ms, got ${queryOptions.ttl}`, { hint: 'omit ttl to use the namespace default' });
    }
    const tags = queryOptions.tags === undefined && queryOptions.tables === undefined && statement.tables !== undefined ? statement.tableTags : ownTags(statement, queryOptions);
    try {
      if (!redisUsable()) throw new Error(`Redis connection is ${redis.status}`);
      const version = knownVersion(namespace) ?? (await readVersion(namespace));
      const key = entryKey(namespace, statement, params, version);
      // Hits build no lookup object: the statistics read these when they first count the statement.
      statement.lastParams = params;
      statement.lastTags = tags;
      if (memory !== undefined) {
        const local = memory.get(key);
        if (local !== undefined && local.until > clock.now()) {
          stats.addHit(namespace, statement, 'hits', local.computeMicros);
          return { rows: local.rows as Row[], rowCount: local.rows.length, source: 'memory', key };
        }
      }
      const stored = await redis.getBuffer(key);
      redisFailing = false;
      if (stored !== null) {
        const entry = decodeEntry<Row>(stored);
        const now = clock.now();
        const { freshUntil, computeMicros } = entry.header;
        // XFetch: refresh before expiry with a probability that grows as expiry nears and with
        // the fill's cost, so one caller refreshes a hot entry before everybody misses it.
        const early = beta > 0 && now - (computeMicros / 1000) * beta * Math.log(Math.random()) >= freshUntil;
        if (now < freshUntil) {
          stats.addHit(namespace, statement, 'hits', computeMicros);
          if (early) track(refresh(lookupOf(namespace, statement, params, key, tags, queryOptions.ttl)));
          else remember(key, entry.rows, freshUntil, entry.meta.tags, computeMicros);
          return { rows: entry.rows, rowCount: entry.rows.length, source: 'redis', key };
        }
        stats.addHit(namespace, statement, 'staleHits', computeMicros);
        track(refresh(lookupOf(namespace, statement, params, key, tags, queryOptions.ttl)));
        return { rows: entry.rows, rowCount: entry.rows.length, source: 'stale', key };
      }
      const missed = lookupOf(namespace, statement, params, key, tags, queryOptions.ttl);
      count(missed, 'misses');
      return (await coalescedFill(missed)) as CachedQueryResult<Row>;
    } catch (error) {
      if (error instanceof DatabaseFailure) throw error.error;
      if (error instanceof OpsError) throw error;
      noteRedisFailure(error, namespace);
      const rows = await runDirect<Row>(sql, params).catch((failure: unknown) => {
        throw failure instanceof DatabaseFailure ? failure.error : failure;
      });
      return { rows, rowCount: rows.length, source: 'database', key: undefined };
    }
  }

  /** One fill per key in this process; other processes are held off by the lease. */
  function coalescedFill(lookup: Lookup): Promise<CachedQueryResult<QueryResultRow>> {
    let pending = inflight.get(lookup.key);
    if (pending === undefined) {
      pending = fillOrWait(lookup).finally(() => inflight.delete(lookup.key));
      inflight.set(lookup.key, pending);
    }
    return pending;
  }

  async function fillOrWait(lookup: Lookup): Promise<CachedQueryResult<QueryResultRow>> {
    const token = randomBytes(12).toString('base64');
    const deadline = clock.now() + lockWaitMs;
    const lease = keys.lease(lookup.key);
    const storedEntry = async (): Promise<CachedQueryResult<QueryResultRow> | undefined> => {
      const stored = await redis.getBuffer(lookup.key);
      if (stored === null) return undefined;
      const entry = decodeEntry(stored);
      return { rows: entry.rows, rowCount: entry.rows.length, source: 'redis', key: lookup.key };
    };
    for (;;) {
      if ((await redis.set(lease, token, 'PX', leaseMs, 'NX')) === 'OK') {
        // Another process may have filled and released between our miss and this lease: look
        // again before querying, or two processes fill one key.
        const filled = await storedEntry();
        if (filled === undefined) break;
        await evalLuaScript(redis, releaseScript, [lease], [token]).catch(() => undefined);
        return filled;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const filled = await storedEntry();
      if (filled !== undefined) return filled;
      if (clock.now() >= deadline) {
        const rows = await runDirect(lookup.statement.sql, lookup.params);
        return { rows, rowCount: rows.length, source: 'database', key: lookup.key };
      }
    }
    return fillWithLease(lookup, token);
  }

  /** Stale-while-revalidate and XFetch: refresh in the background if nobody else is. */
  async function refresh(lookup: Lookup): Promise<void> {
    if (inflight.has(lookup.key)) return;
    const token = randomBytes(12).toString('base64');
    if ((await redis.set(keys.lease(lookup.key), token, 'PX', leaseMs, 'NX')) !== 'OK') return;
    const pending = fillWithLease(lookup, token).finally(() => inflight.delete(lookup.key));
    inflight.set(lookup.key, pending);
    await pending;
  }

  /**
   * Holds the lease: record the key under its tags first, then read the database, then store
   * only if the lease survived. An invalidation that could have missed this read deletes the
   * lease (it finds the key in the tag set, recorded before the read began), so the store fails.
   */
  async function fillWithLease(lookup: Lookup, token: string): Promise<CachedQueryResult<QueryResultRow>> {
    const lease = keys.lease(lookup.key);
    const ttl = jittered(lookup.ttl, lookup.settings.jitter);
    const redisTtl = ttl + lookup.settings.staleWhileRevalidate;
    const tables = lookup.tags.filter((tag) => tag.startsWith('table:')).map((tag) => tag.slice(6));
    await Promise.all([
      ...lookup.tags.map((tag) => evalLuaScript(redis, tagAddScript, [keys.tag(tag)], [redisTtl + leaseMs, lookup.key])),
      ...(tables.length > 0 ? [redis.sadd(keys.tables(), ...tables)] : []),
    ]);
    const started = clock.monotonic();
    let rows: QueryResultRow[];
    try {
      rows = await runDirect(lookup.statement.sql, lookup.params);
    } catch (error) {
      await evalLuaScript(redis, releaseScript, [lease], [token]).catch(() => undefined);
      throw error;
    }
    const computeMicros = (clock.monotonic() - started) * 1000;
    const result: CachedQueryResult<QueryResultRow> = { rows, rowCount: rows.length, source: 'database', key: lookup.key };
    try {
      const meta: EntryMeta = { ns: lookup.namespace, fp: lookup.statement.fingerprint, tags: [...lookup.tags], at: clock.now() };
      const freshUntil = clock.now() + ttl;
      const value = encodeEntry(meta, rows, { freshUntil, computeMicros, compressAbove });
      if (value.length > lookup.settings.maxBytes) {
        count(lookup, 'oversize');
        await evalLuaScript(redis, releaseScript, [lease], [token]);
        return result;
      }
      const stored = await evalLuaScript(redis, fillScript, [lookup.key, lease], [token, value, redisTtl]);
      if (stored === 1) {
        count(lookup, 'fills');
        count(lookup, 'bytes', value.length);
        remember(lookup.key, rows, freshUntil, lookup.tags, Math.round(computeMicros));
      } else {
        count(lookup, 'fillsRejected');
      }
    } catch (error) {
      noteRedisFailure(error, lookup.namespace);
    }
    return result;
  }

  async function deleteEntries(entryKeys: Iterable<string>): Promise<number> {
    const deletions = [...entryKeys].map((key) => redis.del(key, keys.lease(key)));
    const counts = await Promise.all(deletions);
    return counts.length;
  }

  async function invalidate(request: InvalidateOptions): Promise<InvalidateResult> {
    const tags = [...(request.tags ?? []), ...(request.tables ?? []).map((table) => tableTag(table.includes('.') ? table : `public.${table}`))];
    const explicit = (request.keys ?? []).map((key) => keys.requireEntry(key));
    const namespaces = request.namespaces ?? [];
    for (const namespace of namespaces) namespaceSettings(namespace);
    if (request.dryRun === true) {
      const sizes = await Promise.all(tags.map((tag) => redis.scard(keys.tag(tag))));
      const present = await Promise.all(explicit.map((key) => redis.exists(key)));
      return { entries: sizes.reduce((a, b) => a + b, 0) + present.reduce((a, b) => a + b, 0), tags: tags.length, namespaces: namespaces.length };
    }
    const taken = await Promise.all(tags.map((tag) => evalLuaScript(redis, tagTakeScript, [keys.tag(tag)], []) as Promise<string[]>));
    const entryKeys = new Set([...explicit, ...taken.flat()]);
    const entries = await deleteEntries(entryKeys);
    const bumped: Record<string, number> = {};
    for (const namespace of namespaces) bumped[namespace] = await redis.incr(keys.version(namespace));
    for (const [namespace, version] of Object.entries(bumped)) versions.set(namespace, { version, readAt: clock.now() });
    if (memory !== undefined || namespaces.length > 0) applyMessage(JSON.stringify({ keys: [...entryKeys], tags, namespaces: bumped }));
    await redis.publish(keys.channel(), JSON.stringify({ keys: [...entryKeys], tags, ...(namespaces.length > 0 ? { namespaces: bumped } : {}) }));
    return { entries, tags: tags.length, namespaces: namespaces.length };
  }

  async function invalidateAllTables(): Promise<InvalidateResult> {
    const tables = await redis.smembers(keys.tables());
    return invalidate({ tables });
  }

  async function flushStatsQuietly(): Promise<void> {
    if (!redisUsable()) return;
    await stats.flush(redis, keys).catch(() => undefined);
  }

  return {
    keys,
    query,
    async keyFor(sql, params = [], keyOptions = {}) {
      const namespace = keyOptions.namespace ?? 'default';
      namespaceSettings(namespace);
      return keys.entry(namespace, entryHash(prepare(sql).normalised, params, await readVersion(namespace)));
    },
    invalidate,
    invalidateAllTables,
    async setTtl(key, ttlMs) {
      keys.requireEntry(key);
      if (!(ttlMs > 0)) throw new OpsError('CACHE_BAD_INPUT', `ttl must be positive, got ${ttlMs}`, { hint: 'give a duration such as 30s or 5m' });
      const freshUntil = Buffer.alloc(8);
      freshUntil.writeDoubleBE(clock.now() + ttlMs);
      const namespace = keys.namespaceOf(key)!;
      const swr = settings[namespace]?.staleWhileRevalidate ?? 0;
      const changed = (await evalLuaScript(redis, retimeScript, [key], [freshUntil, ttlMs + swr])) === 1;
      if (changed) {
        memory?.delete(key);
        await redis.publish(keys.channel(), JSON.stringify({ keys: [key] }));
      }
      return changed;
    },
    namespaces: () => structuredClone(settings),
    localStats: () => ({ ...stats.local }),
    flushStats: () => stats.flush(redis, keys),
    async ready() {
      await subscribed;
      await listener?.ready;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(statsTimer);
      await listener?.close();
      await Promise.allSettled([...background]);
      await flushStatsQuietly();
      if (subscriber !== undefined && options.subscriber === undefined) subscriber.disconnect();
      else if (subscriber !== undefined) await subscriber.unsubscribe(keys.channel()).catch(() => undefined);
    },
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
  } catch {
    return '[]';
  }
}
