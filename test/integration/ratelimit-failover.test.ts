import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema } from '../../src/config/schema.js';
import { createRedisManager, type RedisManager } from '../../src/redis/pool.js';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import type { DecisionSource } from '../../src/ratelimit/types.js';
import { startRedisSentinel, type RedisSentinelTopology } from '../../src/testing/index.js';

/**
 * Sentinel failover while four callers consume: what a caller sees. Every call settles (no
 * exception reaches the caller); while no primary answers, decisions come from the in-process
 * fallback (failMode open) and are counted; once the promoted replica is reached, decisions are
 * made by Redis again, on counters the replica had replicated.
 */
describe('rate limiter during a Sentinel failover', () => {
  let topology: RedisSentinelTopology;
  let manager: RedisManager;
  beforeAll(async () => {
    topology = await startRedisSentinel({ replicas: 1, sentinels: 3, downAfterMs: 1000, failoverTimeoutMs: 5000 });
    const config = redisSchema.parse({
      mode: 'sentinel',
      sentinel: { name: topology.masterName, nodes: topology.sentinelNodes },
      connectTimeout: '2s',
      commandTimeout: '500ms',
      failoverTimeout: '15s',
      retry: { maxAttempts: 20, baseDelay: '50ms', maxDelay: '500ms' },
    });
    manager = createRedisManager(config, { configKey: 'profiles.test.redis' });
  }, 120_000);
  afterAll(async () => {
    await manager?.close();
    await topology?.stop();
  });

  it('kill -9 of the primary: decisions continue (fallback, counted), then resume in Redis', async () => {
    // The manager replaces its shared client after a failover: the limiter asks it for every call.
    const limiter = createRateLimiter({ redis: () => manager.shared(), policies: { api: { algorithm: 'fixed-window', rate: '1000000/1h' } }, keyPrefix: 'fo' });
    const sources: { source: DecisionSource; at: number }[] = [];
    let killedAt = Number.NaN;
    const deadline = performance.now() + 25_000;
    const redisAfterKill = () => sources.filter((s) => s.source === 'redis' && s.at > killedAt).length;
    await Promise.all(
      Array.from({ length: 4 }, async (_, caller) => {
        for (let n = 0; performance.now() < deadline && redisAfterKill() < 40; n++) {
          const decision = await limiter.consume('api', 'shared', { requestId: `${caller}-${n}` });
          sources.push({ source: decision.source, at: performance.now() });
          if (Number.isNaN(killedAt) && sources.length >= 40) {
            killedAt = performance.now();
            topology.primary.kill('SIGKILL');
          }
          // an application does I/O between decisions; without it the loop would starve the reconnect
          if (decision.source !== 'redis') await sleep(2);
        }
      }),
    );
    const client = await manager.shared();
    const summary = { status: client.status, bySource: Object.fromEntries(['redis', 'fallback', 'fail-closed', 'replayed'].map((k) => [k, sources.filter((s) => s.source === k).length])) };
    expect(summary.status, JSON.stringify(summary)).toBe('ready');
    const during = sources.filter((s) => s.at > killedAt && s.source !== 'redis');
    expect(redisAfterKill()).toBeGreaterThanOrEqual(40);
    expect(during.length).toBeGreaterThan(0);
    expect(new Set(during.map((s) => s.source))).toEqual(new Set(['fallback']));
    const stats = limiter.stats();
    expect(stats.withoutRedis.allowed + stats.withoutRedis.refused).toBe(during.length);
    // The promoted replica holds the counter. Less than Redis decided when an acknowledged write
    // had not reached the replica (asynchronous replication); more by at most the calls in
    // flight at the kill (one per caller): applied and replicated, answer lost, so the caller
    // got a fallback decision (a re-send with the same request id would have been `replayed`).
    const counted = Number(await client.hget('{fo:shared}:api', 'b'));
    const byRedis = sources.filter((s) => s.source === 'redis').length;
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThanOrEqual(byRedis + 4);
  }, 60_000);
});
