import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema, type RedisConfig } from '../../src/config/schema.js';
import { OpsError } from '../../src/core/errors.js';
import { createRedisManager, type RedisManager } from '../../src/redis/pool.js';
import {
  redisQuery,
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterTopology,
  type RedisSentinelTopology,
  type RedisServer,
} from '../../src/testing/index.js';

/**
 * Failover under a stream of writes. Each write is one Lua call that appends its unique number
 * to a list and increments a counter: applying a write twice leaves its number twice in the
 * list, so "at most once" is checked on the data, not trusted.
 */
const LOG = '{failover}:log';
const COUNTER = '{failover}:counter';
const APPEND = "redis.call('RPUSH', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])";
const WRITERS = 4;

interface Outcome {
  n: number;
  ok: boolean;
  code?: string;
  /** performance.now() when the call settled. */
  at: number;
}

interface StreamResult {
  outcomes: Outcome[];
  killedAt: number;
}

const configKey = 'profiles.test.redis';

function config(input: Record<string, unknown>): RedisConfig {
  return redisSchema.parse({
    connectTimeout: '2s',
    // Detects a hung primary: its commands time out and fail to the caller.
    commandTimeout: '500ms',
    failoverTimeout: '15s',
    retry: { maxAttempts: 3, baseDelay: '50ms', maxDelay: '500ms' },
    ...input,
  });
}

/**
 * Runs WRITERS concurrent write loops; after `before` successful writes calls `kill`, then
 * keeps writing until `after` writes succeeded after `resumedFrom()` (or the time limit).
 */
async function writeThrough(manager: RedisManager, kill: () => void, options: { before: number; after: number; resumedFrom: () => number | undefined; limitMs: number }): Promise<StreamResult> {
  const outcomes: Outcome[] = [];
  let next = 0;
  let killedAt = Number.NaN;
  const started = performance.now();
  const done = () => {
    const from = options.resumedFrom();
    const resumed = from === undefined ? 0 : outcomes.filter((o) => o.ok && o.at > from).length;
    return resumed >= options.after || performance.now() - started > options.limitMs;
  };
  const loop = async () => {
    while (!done()) {
      next += 1;
      const n = next;
      try {
        await manager.write((client) => client.eval(APPEND, 2, LOG, COUNTER, String(n)));
        outcomes.push({ n, ok: true, at: performance.now() });
      } catch (error) {
        outcomes.push({ n, ok: false, code: error instanceof OpsError ? error.code : String(error), at: performance.now() });
      }
      if (Number.isNaN(killedAt) && outcomes.filter((o) => o.ok).length >= options.before) {
        killedAt = performance.now();
        kill();
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, loop));
  return { outcomes, killedAt };
}

interface Verdict {
  attempted: number;
  acknowledged: number;
  failed: number;
  uncertain: number;
  appliedTwice: number;
  acknowledgedButLost: number;
  refusedButApplied: number;
}

/** Compares what callers were told with what the (new) primary holds. */
function verdict(outcomes: readonly Outcome[], log: readonly string[], counter: number): Verdict {
  const seen = new Map<number, number>();
  for (const entry of log) seen.set(Number(entry), (seen.get(Number(entry)) ?? 0) + 1);
  expect(counter).toBe(log.length);
  return {
    attempted: outcomes.length,
    acknowledged: outcomes.filter((o) => o.ok).length,
    failed: outcomes.filter((o) => !o.ok).length,
    uncertain: outcomes.filter((o) => o.code === 'REDIS_WRITE_UNCERTAIN').length,
    appliedTwice: [...seen.values()].filter((count) => count > 1).length,
    acknowledgedButLost: outcomes.filter((o) => o.ok && !seen.has(o.n)).length,
    // A write reported as "not applied" (anything but uncertain) must really be absent.
    refusedButApplied: outcomes.filter((o) => !o.ok && o.code !== 'REDIS_WRITE_UNCERTAIN' && seen.has(o.n)).length,
  };
}

function firstSuccessAfter(outcomes: readonly Outcome[], at: number): number | undefined {
  return outcomes.filter((o) => o.ok && o.at > at).reduce<number | undefined>((min, o) => (min === undefined || o.at < min ? o.at : min), undefined);
}

function report(label: string, figures: Record<string, unknown>): void {
  // The figures docs/benchmarks.md records; printed so every run shows them.
  // eslint-disable-next-line no-console
  console.log(`[failover] ${label} ${JSON.stringify(figures)}`);
}

describe('Sentinel failover under a stream of writes', () => {
  let topology: RedisSentinelTopology | undefined;
  let manager: RedisManager | undefined;
  afterEach(async () => {
    await manager?.close();
    await topology?.stop();
    manager = undefined;
    topology = undefined;
  });

  async function scenario(signal: 'SIGKILL' | 'SIGSTOP'): Promise<void> {
    topology = await startRedisSentinel({ replicas: 1, sentinels: 3, downAfterMs: 1000, failoverTimeoutMs: 5000 });
    const t = topology;
    manager = createRedisManager(config({ mode: 'sentinel', sentinel: { name: t.masterName, nodes: t.sentinelNodes } }), { configKey });
    const m = manager;
    await m.write((client) => client.del(LOG, COUNTER));

    const result = await writeThrough(m, () => t.primary.kill(signal), {
      before: 300,
      after: 200,
      resumedFrom: () => m.failovers[0]?.at,
      limitMs: 25_000,
    });

    const switched = m.failovers[0];
    expect(switched, 'the manager saw +switch-master').toBeDefined();
    expect(switched!.to).toBe(`127.0.0.1:${t.replicas[0]!.port}`);
    const address = await redisQuery(t.sentinels[0]!.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', t.masterName]);
    expect(address).toEqual(['127.0.0.1', String(t.replicas[0]!.port)]);

    const log = (await redisQuery(t.replicas[0]!.port, ['LRANGE', LOG, '0', '-1'])) as string[];
    const counter = Number(await redisQuery(t.replicas[0]!.port, ['GET', COUNTER]));
    const v = verdict(result.outcomes, log, counter);
    const firstWrite = firstSuccessAfter(result.outcomes, switched!.at);
    expect(firstWrite, 'writes resumed after the failover').toBeDefined();
    const figures = {
      ...v,
      failoverDetectedMs: Math.round(switched!.at - result.killedAt),
      switchToFirstWriteMs: Math.round(firstWrite! - switched!.at),
      deathToFirstWriteMs: Math.round(firstWrite! - result.killedAt),
      errorCodes: [...new Set(result.outcomes.filter((o) => !o.ok).map((o) => o.code))],
    };
    report(`sentinel ${signal === 'SIGKILL' ? 'kill -9' : 'SIGSTOP'}`, figures);

    expect(v.appliedTwice).toBe(0);
    expect(v.refusedButApplied).toBe(0);
    // Async replication may lose the last acknowledged writes; on loopback none were lost in
    // any run (see docs/redis-failover.md), and the test holds that line.
    expect(v.acknowledgedButLost).toBe(0);
    expect(figures.switchToFirstWriteMs).toBeLessThan(2000);
    for (const code of figures.errorCodes) expect(['REDIS_WRITE_UNCERTAIN', 'REDIS_UNREACHABLE', 'REDIS_TIMEOUT']).toContain(code);
  }

  it('kill -9 of the primary: writes resume on the promoted replica, none applied twice', async () => {
    await scenario('SIGKILL');
  }, 60_000);

  it('a hung (SIGSTOP) primary is detected too: writes time out to the caller, then resume', async () => {
    await scenario('SIGSTOP');
  }, 60_000);
});

describe('Sentinel: following +switch-master', () => {
  it('moves to the new primary on a manual SENTINEL FAILOVER, and ignores a switch of another master name', async () => {
    const t = await startRedisSentinel({ replicas: 1, sentinels: 3 });
    const other = await startRedis();
    const otherReplica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(other.port)] });
    const m = createRedisManager(config({ mode: 'sentinel', sentinel: { name: t.masterName, nodes: t.sentinelNodes } }), { configKey });
    try {
      // The same Sentinels also monitor a second master, "othermaster".
      for (const sentinel of t.sentinels) {
        await redisQuery(sentinel.port, ['SENTINEL', 'MONITOR', 'othermaster', '127.0.0.1', String(other.port), '2']);
        await redisQuery(sentinel.port, ['SENTINEL', 'SET', 'othermaster', 'down-after-milliseconds', '1000']);
      }
      const before = await m.shared();
      await m.write((client) => client.set('follow:k', '1'));

      // Accepted once the Sentinel has seen the new replica in sync (else NOGOODSLAVE).
      await waitFor(async () => (await redisQuery(t.sentinels[0]!.port, ['SENTINEL', 'FAILOVER', 'othermaster'])) === 'OK', 20_000);
      await waitFor(async () => {
        const address = (await redisQuery(t.sentinels[1]!.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'othermaster'])) as string[];
        return address[1] === String(otherReplica.port);
      }, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(m.failovers).toEqual([]);
      expect(await m.shared()).toBe(before);
      expect(before.status).toBe('ready');

      await waitFor(async () => (await redisQuery(t.sentinels[0]!.port, ['SENTINEL', 'FAILOVER', t.masterName])) === 'OK', 20_000);
      await waitFor(async () => m.failovers.length === 1, 15_000);
      expect(m.failovers[0]).toMatchObject({ masterName: t.masterName, to: `127.0.0.1:${t.replicas[0]!.port}` });
      // The old primary is alive (demoted, read-only): writes must reach the new one.
      expect(await m.write((client) => client.incr('follow:counter'))).toBe(1);
      expect(await redisQuery(t.replicas[0]!.port, ['GET', 'follow:counter'])).toBe('1');
      expect(await m.shared()).not.toBe(before);
    } finally {
      await m.close();
      await Promise.all([t.stop(), other.stop(), otherReplica.stop()]);
    }
  }, 60_000);
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Cluster under a stream of writes', () => {
  let cluster: RedisClusterTopology;
  const managers: RedisManager[] = [];
  let killedPid = -1;
  beforeAll(async () => {
    cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1, nodeTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await cluster?.stop();
  });
  const clusterManager = () => {
    const m = createRedisManager(config({ mode: 'cluster', cluster: { nodes: cluster.seeds } }), { configKey });
    managers.push(m);
    return m;
  };

  it('kill -9 of the primary owning the slot: its replica is promoted, writes resume, none applied twice', async () => {
    const c = cluster;
    const m = clusterManager();
    await m.write((client) => client.del(LOG, COUNTER));

    const slot = Number(await redisQuery(c.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', LOG]));
    const owner = await slotOwner(c.nodes, slot);
    const replica = await replicaOf(c.nodes, owner);
    // Replication is asynchronous: a replica still in its initial sync (or reconnecting after an
    // earlier test) would lose everything acknowledged before the kill, which is Redis's
    // contract, not the client's. Start the measured stream only once it has caught up.
    await untilReplicaInSync(owner.port, replica.port);
    killedPid = owner.pid;

    let promotedAt: number | undefined;
    const watchPromotion = setInterval(() => {
      redisQuery(replica.port, ['ROLE']).then(
        (role) => {
          if (promotedAt === undefined && Array.isArray(role) && role[0] === 'master') promotedAt = performance.now();
        },
        () => undefined,
      );
    }, 25);
    let result: StreamResult;
    try {
      result = await writeThrough(m, () => owner.kill('SIGKILL'), {
        before: 300,
        after: 200,
        resumedFrom: () => promotedAt,
        limitMs: 30_000,
      });
    } finally {
      clearInterval(watchPromotion);
    }
    expect(promotedAt, 'the replica was promoted').toBeDefined();

    const log = (await redisQuery(replica.port, ['LRANGE', LOG, '0', '-1'])) as string[];
    const counter = Number(await redisQuery(replica.port, ['GET', COUNTER]));
    const v = verdict(result.outcomes, log, counter);
    // Writes answered just before the kill may settle just after it: count from the promotion.
    const firstWrite = firstSuccessAfter(result.outcomes, promotedAt!);
    expect(firstWrite).toBeDefined();
    const figures = {
      ...v,
      promotionMs: Math.round(promotedAt! - result.killedAt),
      promotionToFirstWriteMs: Math.round(firstWrite! - promotedAt!),
      deathToFirstWriteMs: Math.round(firstWrite! - result.killedAt),
      errorCodes: [...new Set(result.outcomes.filter((o) => !o.ok).map((o) => o.code))],
    };
    report('cluster kill -9', figures);
    expect(v.appliedTwice).toBe(0);
    expect(v.refusedButApplied).toBe(0);
    expect(v.acknowledgedButLost).toBe(0);
    expect(figures.promotionToFirstWriteMs).toBeLessThan(2000);
  }, 60_000);

  it('a slot migrated (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE) during the writes: every write succeeds once', async () => {
    const keys = { log: '{migrate}:log', counter: '{migrate}:counter' };
    const m = clusterManager();
    await m.write((client) => client.del(keys.log, keys.counter));
    // Runs after the kill test: ask a live node, move between live primaries.
    const live = cluster.nodes.filter((node) => node.pid !== killedPid);
    const slot = Number(await redisQuery(live[0]!.port, ['CLUSTER', 'KEYSLOT', keys.log]));
    const source = await slotOwner(live, slot);
    const primaries = await primaryNodes(live);
    const target = primaries.find((node) => node !== source)!;
    const sourceId = String(await redisQuery(source.port, ['CLUSTER', 'MYID']));
    const targetId = String(await redisQuery(target.port, ['CLUSTER', 'MYID']));

    const outcomes: Outcome[] = [];
    let migrated = false;
    let next = 0;
    const loop = async () => {
      // Keep writing until the migration is over, and a little after.
      let after = 0;
      while (after < 100) {
        next += 1;
        const n = next;
        try {
          await m.write((client) => client.eval(APPEND, 2, keys.log, keys.counter, String(n)));
          outcomes.push({ n, ok: true, at: performance.now() });
        } catch (error) {
          outcomes.push({ n, ok: false, code: error instanceof OpsError ? error.code : String(error), at: performance.now() });
        }
        if (migrated) after += 1;
      }
    };
    const migrate = async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await redisQuery(target.port, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', sourceId]);
      await redisQuery(source.port, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', targetId]);
      // Let writes run against the half-migrated slot (ASK / TRYAGAIN) for a while.
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (;;) {
        const batch = (await redisQuery(source.port, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100'])) as string[];
        if (batch.length === 0) break;
        await redisQuery(source.port, ['MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...batch]);
      }
      for (const node of [target, source, ...primaries.filter((p) => p !== source && p !== target)]) {
        await redisQuery(node.port, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', targetId]);
      }
      migrated = true;
    };
    await Promise.all([migrate(), ...Array.from({ length: WRITERS }, loop)]);

    expect((await slotOwner(live, slot)).port).toBe(target.port);
    const log = (await redisQuery(target.port, ['LRANGE', keys.log, '0', '-1'])) as string[];
    const counter = Number(await redisQuery(target.port, ['GET', keys.counter]));
    const v = verdict(outcomes, log, counter);
    report('cluster slot migration', { ...v, slot });
    expect(v.failed).toBe(0);
    expect(v.appliedTwice).toBe(0);
    expect(v.acknowledgedButLost).toBe(0);
  }, 60_000);
});

async function primaryNodes(nodes: readonly RedisServer[]): Promise<RedisServer[]> {
  const slots = (await redisQuery(nodes[0]!.port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string]][];
  const ports = new Set(slots.map((range) => Number(range[2][1])));
  return nodes.filter((node) => ports.has(node.port));
}

/** The primary serving `slot`, from CLUSTER SHARDS-free CLUSTER SLOTS (Redis 7.0 has both). */
async function slotOwner(nodes: readonly RedisServer[], slot: number): Promise<RedisServer> {
  const slots = (await redisQuery(nodes[0]!.port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, string]][];
  const range = slots.find(([from, to]) => slot >= from && slot <= to)!;
  return nodes.find((node) => node.port === Number(range[2][1]))!;
}

async function replicaOf(nodes: readonly RedisServer[], primary: RedisServer): Promise<RedisServer> {
  for (const node of nodes) {
    const info = String(await redisQuery(node.port, ['INFO', 'replication']));
    if (new RegExp(`master_port:${primary.port}\\b`).test(info)) return node;
  }
  throw new Error(`no replica of 127.0.0.1:${primary.port}`);
}

/** Waits until the replica's link is up and WAIT on the primary counts it (at most 20 s). */
async function untilReplicaInSync(primaryPort: number, replicaPort: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const info = String(await redisQuery(replicaPort, ['INFO', 'replication']));
    if (/master_link_status:up/.test(info) && !/master_sync_in_progress:1/.test(info) && Number(await redisQuery(primaryPort, ['WAIT', '1', '1000'])) >= 1) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`replica :${replicaPort} did not catch up with :${primaryPort} within 20 s`);
}
