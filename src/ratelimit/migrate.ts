import { Cluster, type Redis } from 'ioredis';
import { OpsError } from '../core/errors.js';
import type { RedisClient } from '../redis/connection.js';
import { ALGORITHM_STEPS } from './algorithms.js';
import { counterKey, encodeCounterState, parseCounterKey } from './keys.js';
import type { MemorySnapshot } from './memory.js';
import type { ResolvedPolicy } from './policy.js';

/**
 * Moves live counters to another Redis (or from the in-process limiter's snapshot, or from
 * rate-limiter-flexible's keys) with their remaining lifetimes, so nobody gets a fresh
 * allowance at cut-over. Copies are idempotent (RESTORE … REPLACE / SET), so a run that stops
 * can be resumed from its checkpoint or simply run again.
 */
export type MigrationSource =
  /** Several clients: the nodes of a hash ring, each scanned in turn. */
  | { kind: 'redis'; client: RedisClient | readonly RedisClient[]; keyPrefix: string }
  | { kind: 'snapshot'; snapshot: MemorySnapshot; keyPrefix: string }
  /** rate-limiter-flexible keys `<prefix>:<key>` (a count with a TTL), as counters of `policy`. */
  | { kind: 'rate-limiter-flexible'; client: RedisClient | readonly RedisClient[]; prefix: string; policy: ResolvedPolicy; keyPrefix: string };

/** Where a resumable run stands: the primary being scanned and its SCAN cursor. */
export interface MigrationCheckpoint {
  node: number;
  cursor: string;
}

/** A target spread over several independent primaries (a hash ring): each counter goes to its owner. */
export interface RoutedTarget {
  route(counterKey: string): RedisClient;
  /** The server whose TIME converted counters are dated by (the nodes' clocks agree within ms). */
  clock: RedisClient;
}

export interface MigrationOptions {
  from: MigrationSource;
  to: RedisClient | RoutedTarget;
  dryRun?: boolean;
  /** Start here (a previous run's last checkpoint). */
  resumeFrom?: MigrationCheckpoint | undefined;
  /** Called after every SCAN batch with the position to resume from and the counts so far. */
  onBatch?: (checkpoint: MigrationCheckpoint, result: MigrationResult) => Promise<void> | void;
  signal?: AbortSignal | undefined;
}

export interface MigrationResult {
  scanned: number;
  copied: number;
  /** Expired before they could be copied, or not counters. */
  skipped: number;
}

function primaries(client: RedisClient | readonly RedisClient[]): Redis[] {
  if (Array.isArray(client)) return client.flatMap((one: RedisClient) => primaries(one));
  return client instanceof Cluster ? client.nodes('master') : [client as Redis];
}

async function redisNow(client: RedisClient): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

async function writeState(to: RedisClient, key: string, state: readonly (number | null | undefined)[], ttlMs: number): Promise<void> {
  await to.set(key, encodeCounterState(state), 'PX', Math.max(1, Math.ceil(ttlMs)));
}

/**
 * rate-limiter-flexible counted `count` units in its current window; the equivalent state of
 * `policy` now: the units stay consumed (windows: in the current window; token bucket: fewer
 * tokens; GCRA: a later theoretical arrival time).
 */
export function stateFromConsumed(policy: ResolvedPolicy, count: number, now: number): { state: [number, number, number]; ttl: number } {
  if (count <= 0) return { state: [0, 0, 0], ttl: 0 };
  // Consuming `count` from an empty state with the algorithm itself gives the exact state,
  // whatever the limit (a count above it is clamped to a full consumption).
  const step = ALGORITHM_STEPS[policy.algorithm]([undefined, undefined, undefined], now, policy.limit, policy.periodMs, policy.burst, Math.min(count, policy.algorithm === 'token-bucket' || policy.algorithm === 'gcra' ? policy.burst : policy.limit));
  return { state: step.state, ttl: step.ttl };
}

export async function migrateCounters(options: MigrationOptions): Promise<MigrationResult> {
  const { from } = options;
  const to = options.to;
  const target = 'route' in to ? (key: string) => to.route(key) : () => to;
  const dryRun = options.dryRun === true;
  const result: MigrationResult = { scanned: 0, copied: 0, skipped: 0 };

  if (from.kind === 'snapshot') {
    if (from.snapshot.format !== 'opsctl-ratelimit-snapshot' || from.snapshot.version !== 1) {
      throw new OpsError('RATELIMIT_BAD_INPUT', 'not an opsctl rate limit snapshot (format v1)', { hint: 'Write it with createMemoryRateLimiter(…).snapshot().' });
    }
    // The snapshot's times are the app server's clock; the remaining lifetimes carry over as durations.
    const now = Date.now();
    for (const counter of from.snapshot.counters) {
      result.scanned += 1;
      if (counter.expiresAt <= now) {
        result.skipped += 1;
        continue;
      }
      const key = counterKey(from.keyPrefix, counter.policy, counter.key);
      if (!dryRun) await writeState(target(key), key, counter.state, counter.expiresAt - now);
      result.copied += 1;
    }
    await options.onBatch?.({ node: 0, cursor: '0' }, result);
    return result;
  }

  const nodes = primaries(from.client);
  const now = from.kind === 'rate-limiter-flexible' ? await redisNow('route' in to ? to.clock : to) : 0;
  const match = from.kind === 'redis' ? `{${from.keyPrefix}:*` : `${from.prefix}:*`;
  for (let node = options.resumeFrom?.node ?? 0; node < nodes.length; node++) {
    const source = nodes[node]!;
    let cursor = node === options.resumeFrom?.node ? options.resumeFrom.cursor : '0';
    do {
      if (options.signal?.aborted) throw new OpsError('INTERRUPTED', 'migration interrupted', { hint: 'Run it again with the same --checkpoint file to resume.' });
      const [next, keys] = await source.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      for (const redisKey of keys) {
        result.scanned += 1;
        if (from.kind === 'redis') {
          if (parseCounterKey(from.keyPrefix, redisKey) === undefined) {
            result.skipped += 1;
            continue;
          }
          const [dump, ttl] = await Promise.all([source.dumpBuffer(redisKey), source.pttl(redisKey)]);
          if (dump === null || ttl === -2) {
            result.skipped += 1;
            continue;
          }
          if (!dryRun) await target(redisKey).restore(redisKey, ttl > 0 ? ttl : 0, dump, 'REPLACE');
        } else {
          const count = Number(await source.get(redisKey).catch(() => null));
          if (!Number.isFinite(count) || count <= 0) {
            result.skipped += 1;
            continue;
          }
          const converted = stateFromConsumed(from.policy, count, now);
          const key = counterKey(from.keyPrefix, from.policy.name, redisKey.slice(from.prefix.length + 1));
          if (!dryRun) await writeState(target(key), key, converted.state, converted.ttl);
        }
        result.copied += 1;
      }
      await options.onBatch?.(cursor === '0' ? { node: node + 1, cursor: '0' } : { node, cursor }, result);
    } while (cursor !== '0');
  }
  return result;
}
