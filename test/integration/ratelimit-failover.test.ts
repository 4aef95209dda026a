import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema } from '../../src/config/schema.js';
import { createRedisManager, type RedisManager } from '../../src/redis/pool.js';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import type { DecisionSource } from '../../src/ratelimit/types.js';
import { redisQuery, startRedisCluster, startRedisSentinel, type RedisClusterTopology, type RedisSentinelTopology } from '../../src/testing/index.js';

const CALLERS = 4;

function manager(topology: Record<string, unknown>): RedisManager {
  const config = redisSchema.parse({
    ...topology,
    connectTimeout: '2s',
    commandTimeout: '500ms',
    failoverTimeout: '15s',
    retry: { maxAttempts: 20, baseDelay: '50ms', maxDelay: '500ms' },
  });
  return createRedisManager(config, { configKey: 'profiles.test.redis' });
}

/**
 * CALLERS callers consume one key (each call with its own request id); after 40 decisions
 * `kill` runs; they go on until Redis has decided 40 more. Then what a caller saw is checked:
 * no call threw; while no primary answered, decisions came from the in-process fallback
 * (failMode open) and were counted; afterwards Redis decided again, on a counter the promoted
 * replica had replicated.
 */
async function consumeThroughKill(m: RedisManager, keyPrefix: string, kill: () => void): Promise<void> {
  // The manager replaces its shared client after a failover: the limiter asks it for every call.
  const limiter = createRateLimiter({ redis: () => m.shared(), policies: { api: { algorithm: 'fixed-window', rate: '1000000/1h' } }, keyPrefix });
  // A Cluster client that has not yet loaded the slot map fails calls at once (no offline
  // queue): they are decided by the fallback. Start measuring once Redis answers.
  await expect.poll(async () => (await limiter.status('api', 'shared')).source, { timeout: 10_000 }).toBe('redis');
  const sources: { source: DecisionSource; at: number }[] = [];
  let killedAt = Number.NaN;
  const deadline = performance.now() + 25_000;
  const redisAfterKill = () => sources.filter((s) => s.source === 'redis' && s.at > killedAt).length;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let n = 0; performance.now() < deadline && redisAfterKill() < 40; n++) {
        const decision = await limiter.consume('api', 'shared', { requestId: `${caller}-${n}` });
        sources.push({ source: decision.source, at: performance.now() });
        if (Number.isNaN(killedAt) && sources.length >= 40) {
          killedAt = performance.now();
          kill();
        }
        // an application does I/O between decisions; without it the loop would starve the reconnect
        if (decision.source !== 'redis') await sleep(2);
      }
    }),
  );
  const client = await m.shared();
  const summary = { status: client.status, bySource: Object.fromEntries(['redis', 'fallback', 'fail-closed', 'replayed'].map((k) => [k, sources.filter((s) => s.source === k).length])) };
  expect(summary.status, JSON.stringify(summary)).toBe('ready');
  const during = sources.filter((s) => s.at > killedAt && s.source !== 'redis');
  expect(redisAfterKill(), JSON.stringify(summary)).toBeGreaterThanOrEqual(40);
  expect(during.length).toBeGreaterThan(0);
  expect(new Set(during.map((s) => s.source))).toEqual(new Set(['fallback']));
  const stats = limiter.stats();
  expect(stats.withoutRedis.allowed + stats.withoutRedis.refused).toBe(during.length);
  // The promoted replica holds the counter (v2 fixed window state: "<window> <units>"). Less
  // than Redis decided when an acknowledged write had not reached the replica (asynchronous
  // replication); more by at most the calls in flight at the kill (one per caller): applied and
  // replicated, answer lost, so the caller got a fallback decision (a re-send with the same
  // request id would have been `replayed`). Never more: nothing was counted twice.
  const counted = Number((await client.get(`{${keyPrefix}:shared}:api`))?.split(' ')[1]);
  const byRedis = sources.filter((s) => s.source === 'redis').length;
  expect(counted).toBeGreaterThan(0);
  expect(counted).toBeLessThanOrEqual(byRedis + CALLERS);
}

describe('rate limiter during a Sentinel failover', () => {
  let topology: RedisSentinelTopology;
  let m: RedisManager;
  beforeAll(async () => {
    topology = await startRedisSentinel({ replicas: 1, sentinels: 3, downAfterMs: 1000, failoverTimeoutMs: 5000 });
    m = manager({ mode: 'sentinel', sentinel: { name: topology.masterName, nodes: topology.sentinelNodes } });
  }, 120_000);
  afterAll(async () => {
    await m?.close();
    await topology?.stop();
  });

  it('kill -9 of the primary: decisions continue (fallback, counted), then resume in Redis', async () => {
    await consumeThroughKill(m, 'fo', () => topology.primary.kill('SIGKILL'));
  }, 60_000);
});

describe('rate limiter during a Cluster failover', () => {
  let topology: RedisClusterTopology;
  let m: RedisManager;
  beforeAll(async () => {
    topology = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1, nodeTimeoutMs: 1000 });
    m = manager({ mode: 'cluster', cluster: { nodes: topology.seeds } });
  }, 120_000);
  afterAll(async () => {
    await m?.close();
    await topology?.stop();
  });

  it('kill -9 of the primary owning the key: decisions continue (fallback, counted), then resume on the promoted replica', async () => {
    const key = '{cfo:shared}:api';
    const slot = Number(await redisQuery(topology.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', key]));
    const slots = (await redisQuery(topology.nodes[0]!.port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string]][];
    const owner = topology.nodes.find((node) => node.port === Number(slots.find(([from, to]) => slot >= from && slot <= to)![2][1]))!;
    // A replica still in its first sync would lose what was acknowledged before the kill (Redis's
    // contract): start once WAIT counts it.
    await expect.poll(async () => Number(await redisQuery(owner.port, ['WAIT', '1', '500'])), { timeout: 20_000 }).toBe(1);
    await consumeThroughKill(m, 'cfo', () => owner.kill('SIGKILL'));
  }, 60_000);
});
