import { Cluster } from 'ioredis';
import { OpsError } from '../core/errors.js';
import type { RedisClient } from '../redis/connection.js';
import { DEFAULT_KEY_PREFIX, parseCounterKey } from './keys.js';
import { createRateLimiter, type CreateRateLimiterOptions } from './limiter.js';
import { createHashRing, type HashRing } from './ring.js';
import type { RateLimiter, RateLimiterStats } from './types.js';

export interface CreateShardedRateLimiterOptions extends Omit<CreateRateLimiterOptions, 'redis'> {
  /** Independent primaries by a stable name (the name, not the address, places them on the ring). */
  shards: Record<string, RedisClient>;
  virtualNodes?: number;
}

export interface RebalanceResult {
  /** Counters whose owner changed and were copied (with their TTL) to it. */
  moved: number;
  /** Counters scanned on every old shard. */
  scanned: number;
}

export interface ShardedRateLimiter extends RateLimiter {
  /** The shard name a client key belongs to. */
  shardFor(key: string): string;
  /**
   * Switches to a new set of shards: copies every counter whose owner changes to its new owner
   * (DUMP/RESTORE with its remaining TTL, so nobody gets a fresh allowance), deletes it from the
   * old one, then routes by the new ring. Decisions made during the copy go by the old ring.
   */
  rebalance(shards: Record<string, RedisClient>): Promise<RebalanceResult>;
}

export interface MoveRingCountersOptions {
  keyPrefix: string;
  /** The shards as they are now (every one is scanned). */
  shards: Record<string, RedisClient>;
  /** The shards after the change, and their ring. */
  next: Record<string, RedisClient>;
  nextRing: HashRing;
  /** Count what would move, copy nothing. */
  dryRun?: boolean;
  onProgress?: (progress: RebalanceResult & { shard: string }) => void;
}

/**
 * Copies every counter whose owner changes under `nextRing` to its new owner (DUMP/RESTORE with
 * its remaining TTL, so nobody gets a fresh allowance), then deletes it from the old one. Each
 * key moves on its own and a moved key is no longer found on its old shard, so a run that stops
 * is resumed by running it again.
 */
export async function moveRingCounters(options: MoveRingCountersOptions): Promise<RebalanceResult> {
  const { keyPrefix, nextRing, next } = options;
  let moved = 0;
  let scanned = 0;
  for (const [name, client] of Object.entries(options.shards)) {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await client.scan(cursor, 'MATCH', `{${keyPrefix}:*`, 'COUNT', 500);
      cursor = nextCursor;
      for (const redisKey of keys) {
        const parsed = parseCounterKey(keyPrefix, redisKey);
        if (parsed === undefined) continue;
        scanned += 1;
        const owner = nextRing.nodeFor(`{${keyPrefix}:${parsed.key}}`);
        if (owner === name) continue;
        if (options.dryRun === true) {
          moved += 1;
          continue;
        }
        const [dump, ttl] = await Promise.all([client.dumpBuffer(redisKey), client.pttl(redisKey)]);
        // Gone meanwhile, or expiring now: nothing to carry over.
        if (dump === null || ttl === -2) continue;
        await next[owner]!.restore(redisKey, ttl > 0 ? ttl : 0, dump, 'REPLACE');
        await client.del(redisKey);
        moved += 1;
      }
      options.onProgress?.({ shard: name, moved, scanned });
    } while (cursor !== '0');
  }
  return { moved, scanned };
}

/** Routes a counter key to the ring node owning its client key (for `migrateCounters` into a ring). */
export function ringRoute(keyPrefix: string, ring: HashRing, shards: Record<string, RedisClient>): (counterKey: string) => RedisClient {
  return (redisKey) => {
    const parsed = parseCounterKey(keyPrefix, redisKey);
    if (parsed === undefined) throw new OpsError('RATELIMIT_BAD_INPUT', `not a rate limit counter key: ${redisKey}`, { hint: `Counter keys look like {${keyPrefix}:<key>}:<policy>.` });
    return shards[ring.nodeFor(`{${keyPrefix}:${parsed.key}}`)]!;
  };
}

function limiterFor(options: CreateShardedRateLimiterOptions, client: RedisClient): RateLimiter {
  if (client instanceof Cluster) {
    throw new OpsError('RATELIMIT_BAD_INPUT', 'a shard of the hash ring is a Redis Cluster client', {
      hint: 'A Cluster spreads keys itself (hash tags): pass it to createRateLimiter instead.',
    });
  }
  return createRateLimiter({ ...options, redis: client });
}

/**
 * The limiter over several independent Redis primaries: every client key is decided by the one
 * primary the consistent-hash ring assigns it (by its hash tag), with the same scripts and key
 * layout as createRateLimiter.
 */
export function createShardedRateLimiter(options: CreateShardedRateLimiterOptions): ShardedRateLimiter {
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  let shards = options.shards;
  let limiters = new Map(Object.entries(shards).map(([name, client]) => [name, limiterFor(options, client)]));
  let ring: HashRing = createHashRing(Object.keys(shards), { virtualNodes: options.virtualNodes });
  const tagOf = (key: string) => `{${prefix}:${key}}`;
  const pick = (key: string) => limiters.get(ring.nodeFor(tagOf(key)))!;

  return {
    policies: options.policies,
    consume: (names, key, consumeOptions) => pick(key).consume(names, key, consumeOptions),
    status: (names, key, statusOptions) => pick(key).status(names, key, statusOptions),
    reset: (names, key) => pick(key).reset(names, key),
    shardFor: (key) => ring.nodeFor(tagOf(key)),
    stats(): RateLimiterStats {
      const total: RateLimiterStats = { redisDecisions: 0, replayed: 0, localRefusals: 0, memoryDecisions: 0, withoutRedis: { allowed: 0, refused: 0, failedClosed: 0 } };
      for (const limiter of limiters.values()) {
        const s = limiter.stats();
        total.redisDecisions += s.redisDecisions;
        total.replayed += s.replayed;
        total.localRefusals += s.localRefusals;
        total.memoryDecisions += s.memoryDecisions;
        total.withoutRedis.allowed += s.withoutRedis.allowed;
        total.withoutRedis.refused += s.withoutRedis.refused;
        total.withoutRedis.failedClosed += s.withoutRedis.failedClosed;
      }
      return total;
    },
    async rebalance(next) {
      const nextRing = createHashRing(Object.keys(next), { virtualNodes: options.virtualNodes });
      const { moved, scanned } = await moveRingCounters({ keyPrefix: prefix, shards, next, nextRing });
      shards = next;
      limiters = new Map(Object.entries(next).map(([shard, client]) => [shard, limiterFor(options, client)]));
      ring = nextRing;
      return { moved, scanned };
    },
    async close() {},
  };
}
