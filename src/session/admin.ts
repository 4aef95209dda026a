import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import type { RedisClientSource } from '../redis/failover-policy.js';
import type { SessionKeys } from './layout.js';
import type { SessionStore, SessionSummary } from './store.js';

const SCAN_COUNT = 500;

export async function resolveClient(source: RedisClientSource): Promise<RedisClient> {
  return typeof source === 'function' ? source() : source;
}

/** Primaries to SCAN: every master of a Cluster, or the one server. */
function scanTargets(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Every session id, a SCAN page at a time (never KEYS), across all primaries of a Cluster.
 * SCAN may return a key twice while the keyspace is rehashed: ids are de-duplicated per node.
 */
export async function* scanSessionIds(source: RedisClientSource, keys: SessionKeys, signal?: AbortSignal): AsyncGenerator<string[]> {
  for (const node of scanTargets(await resolveClient(source))) {
    const seen = new Set<string>();
    let cursor = '0';
    do {
      signal?.throwIfAborted();
      const [next, page] = await node.scan(cursor, 'MATCH', keys.sessionPattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      const ids: string[] = [];
      for (const key of page) {
        const id = keys.idOf(key);
        if (id !== undefined && !seen.has(id)) {
          seen.add(id);
          ids.push(id);
        }
      }
      if (ids.length > 0) yield ids;
    } while (cursor !== '0');
  }
}

export async function listSessionIds(client: RedisClientSource, keys: SessionKeys): Promise<string[]> {
  const all: string[] = [];
  for await (const ids of scanSessionIds(client, keys)) all.push(...ids);
  return all;
}

export interface SessionFilter {
  user?: string;
  /** Only sessions idle at least this long (ms), measured from the remaining idle TTL. */
  idleOverMs?: number;
  limit?: number;
}

/**
 * Idle time of a session: the idle TTL minus what is left of it. A session whose expiry was
 * capped by its absolute lifetime counts as idle since its last write or touch at the latest.
 */
export function idleMs(summary: SessionSummary, idleTtlMs: number, now: number): number {
  const cappedTtl = Math.min(idleTtlMs, summary.expiresAt - now);
  return Math.max(0, cappedTtl - summary.ttlMs);
}

/** Summaries matching `filter`, page by page; stops after `limit`. */
export async function* listSessions(
  client: RedisClientSource,
  store: SessionStore,
  filter: SessionFilter & { idleTtlMs: number; now: () => number; signal?: AbortSignal },
): AsyncGenerator<SessionSummary> {
  let emitted = 0;
  const pages = filter.user === undefined ? scanSessionIds(client, store.keys, filter.signal) : userPages(store, filter.user);
  for await (const ids of pages) {
    const summaries = await Promise.all(ids.map((id) => store.summary(id)));
    for (const summary of summaries) {
      if (summary === null) continue;
      if (filter.idleOverMs !== undefined && idleMs(summary, filter.idleTtlMs, filter.now()) < filter.idleOverMs) continue;
      yield summary;
      emitted += 1;
      if (filter.limit !== undefined && emitted >= filter.limit) return;
    }
  }
}

async function* userPages(store: SessionStore, user: string): AsyncGenerator<string[]> {
  yield (await store.listForUser(user)).map((summary) => summary.id);
}

/** Destroys every session under the store's prefix (express-session `clear`); returns how many. */
export async function destroyAllSessions(client: RedisClientSource, store: SessionStore): Promise<number> {
  let destroyed = 0;
  for await (const ids of scanSessionIds(client, store.keys)) {
    for (const id of ids) if (await store.destroy(id)) destroyed += 1;
  }
  return destroyed;
}

export interface SessionStats {
  count: number;
  users: number;
  anonymous: number;
  /** Sessions per user: how many users have 1, 2, 3-5, 6-10, more than 10. */
  perUser: Record<string, number>;
  /** Age since creation and idle time, in buckets. */
  age: Record<string, number>;
  idle: Record<string, number>;
  bytes: { p50: number; p90: number; p99: number; max: number; total: number };
  /** Sum of MEMORY USAGE of a sample of up to 1000 sessions, scaled to the count. */
  memoryBytes: number;
  expiringWithinHour: number;
}

const TIME_BUCKETS: [string, number][] = [
  ['<1m', 60_000],
  ['<10m', 600_000],
  ['<1h', 3_600_000],
  ['<1d', 86_400_000],
  ['<7d', 7 * 86_400_000],
];

function timeBucket(ms: number): string {
  for (const [label, limit] of TIME_BUCKETS) if (ms < limit) return label;
  return '>=7d';
}

function userBucket(count: number): string {
  if (count <= 2) return String(count);
  if (count <= 5) return '3-5';
  if (count <= 10) return '6-10';
  return '>10';
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

const MEMORY_SAMPLE = 1000;

/** One SCAN over all sessions: counts, distributions, sizes and memory. */
export async function sessionStats(
  client: RedisClientSource,
  store: SessionStore,
  options: { idleTtlMs: number; now: () => number; signal?: AbortSignal; onProgress?: (scanned: number) => void },
): Promise<SessionStats> {
  const perUserCount = new Map<string, number>();
  const age: Record<string, number> = {};
  const idle: Record<string, number> = {};
  const sizes: number[] = [];
  let anonymous = 0;
  let expiringWithinHour = 0;
  let sampledMemory = 0;
  let sampled = 0;
  for await (const ids of scanSessionIds(client, store.keys, options.signal)) {
    const summaries = await Promise.all(ids.map((id) => store.summary(id)));
    for (const summary of summaries) {
      if (summary === null) continue;
      const now = options.now();
      if (summary.user === undefined) anonymous += 1;
      else perUserCount.set(summary.user, (perUserCount.get(summary.user) ?? 0) + 1);
      const ageBucket = timeBucket(now - summary.createdAt);
      age[ageBucket] = (age[ageBucket] ?? 0) + 1;
      const idleBucket = timeBucket(idleMs(summary, options.idleTtlMs, now));
      idle[idleBucket] = (idle[idleBucket] ?? 0) + 1;
      sizes.push(summary.bytes);
      if (summary.ttlMs < 3_600_000) expiringWithinHour += 1;
      if (sampled < MEMORY_SAMPLE) {
        sampled += 1;
        sampledMemory += (await (await resolveClient(client)).memory('USAGE', store.keys.session(summary.id))) ?? 0;
      }
    }
    options.onProgress?.(sizes.length);
  }
  const perUser: Record<string, number> = {};
  for (const count of perUserCount.values()) perUser[userBucket(count)] = (perUser[userBucket(count)] ?? 0) + 1;
  const sorted = [...sizes].sort((a, b) => a - b);
  return {
    count: sizes.length,
    users: perUserCount.size,
    anonymous,
    perUser,
    age,
    idle,
    bytes: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? 0,
      total: sorted.reduce((sum, bytes) => sum + bytes, 0),
    },
    memoryBytes: sampled === 0 ? 0 : Math.round((sampledMemory / sampled) * sizes.length),
    expiringWithinHour,
  };
}
