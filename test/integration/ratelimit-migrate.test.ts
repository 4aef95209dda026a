import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import { createMemoryRateLimiter } from '../../src/ratelimit/memory.js';
import { migrateCounters, type MigrationCheckpoint } from '../../src/ratelimit/migrate.js';
import { createShadowRateLimiter } from '../../src/ratelimit/shadow.js';
import { resolvePolicy, type RateLimitPolicyInput } from '../../src/ratelimit/policy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const policies: Record<string, RateLimitPolicyInput> = {
  fixed: { algorithm: 'fixed-window', rate: '3/1h' },
  gcra: { algorithm: 'gcra', rate: '3/1h' },
};

/** Consumes until refused; returns how many were allowed. */
async function allowedUntilRefused(consume: () => Promise<{ allowed: boolean }>): Promise<number> {
  let allowed = 0;
  while ((await consume()).allowed) allowed += 1;
  return allowed;
}

describe('migrating live counters without a burst at cut-over', () => {
  let source: RedisServer;
  let target: RedisServer;
  let from: Redis;
  let to: Redis;
  beforeAll(async () => {
    [source, target] = await Promise.all([startRedis(), startRedis()]);
    from = new Redis(source.url);
    to = new Redis(target.url);
  });
  afterAll(async () => {
    from?.disconnect();
    to?.disconnect();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('from the in-process limiter (snapshot): the limit holds across the move', async () => {
    const memory = createMemoryRateLimiter({ policies });
    for (const key of ['a', 'b']) for (let i = 0; i < 2; i++) await memory.consume(['fixed', 'gcra'], key);
    const snapshot = JSON.parse(JSON.stringify(memory.snapshot()));
    expect(snapshot).toMatchObject({ format: 'opsctl-ratelimit-snapshot', version: 1 });
    expect(await migrateCounters({ from: { kind: 'snapshot', snapshot, keyPrefix: 'mem' }, to, dryRun: true })).toEqual({ scanned: 4, copied: 4, skipped: 0 });
    expect(await to.exists('{mem:a}:fixed')).toBe(0);
    expect(await migrateCounters({ from: { kind: 'snapshot', snapshot, keyPrefix: 'mem' }, to })).toEqual({ scanned: 4, copied: 4, skipped: 0 });
    const redisLimiter = createRateLimiter({ redis: to, policies, keyPrefix: 'mem' });
    // 2 before the move + 1 after = the limit of 3
    expect(await allowedUntilRefused(() => redisLimiter.consume(['fixed', 'gcra'], 'a'))).toBe(1);
    expect(await to.pttl('{mem:b}:gcra')).toBeGreaterThan(0);
  });

  it('from another Redis: counters with their TTLs, resumable from a checkpoint', async () => {
    const old = createRateLimiter({ redis: from, policies, keyPrefix: 'r2r' });
    for (let i = 0; i < 1200; i++) await old.consume('fixed', `user:${i}`, { cost: 2, requestId: `q${i}` });
    const checkpoints: MigrationCheckpoint[] = [];
    const first = await migrateCounters({
      from: { kind: 'redis', client: from, keyPrefix: 'r2r' },
      to,
      onBatch: (checkpoint) => {
        checkpoints.push(checkpoint);
        // stop after the first batch, as an interrupted run would
        if (checkpoints.length === 1) throw new Error('stopped');
      },
    }).catch((error: Error) => error);
    expect((first as Error).message).toBe('stopped');
    const rest = await migrateCounters({ from: { kind: 'redis', client: from, keyPrefix: 'r2r' }, to, resumeFrom: checkpoints[0] });
    expect(await to.dbsize()).toBeGreaterThanOrEqual(1200 + 4 + 2);
    expect(rest.copied).toBeLessThan(1200);
    expect(rest.skipped).toBeGreaterThan(0); // the request-id keys are not counters
    const ttl = await to.pttl('{r2r:user:7}:fixed');
    expect(ttl).toBeGreaterThan(0);
    const moved = createRateLimiter({ redis: to, policies, keyPrefix: 'r2r' });
    expect(await allowedUntilRefused(() => moved.consume('fixed', 'user:7'))).toBe(1);
  });

  it("imports rate-limiter-flexible's keys: its users keep their consumed points", async () => {
    const rlf = new RateLimiterRedis({ storeClient: from, points: 3, duration: 3600, keyPrefix: 'rlflx' });
    await rlf.consume('alice', 2);
    await rlf.consume('bob', 3);
    for (const name of ['fixed', 'gcra']) {
      const result = await migrateCounters({
        from: { kind: 'rate-limiter-flexible', client: from, prefix: 'rlflx', policy: resolvePolicy(name, policies[name]!), keyPrefix: 'imp' },
        to,
      });
      expect(result).toEqual({ scanned: 2, copied: 2, skipped: 0 });
    }
    const limiter = createRateLimiter({ redis: to, policies, keyPrefix: 'imp' });
    expect(await allowedUntilRefused(() => limiter.consume(['fixed', 'gcra'], 'alice'))).toBe(1);
    expect(await allowedUntilRefused(() => limiter.consume(['fixed', 'gcra'], 'bob'))).toBe(0);
  });
});

describe('shadow mode', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('applies the stricter decision of the old and new limiter and reports where they differ', async () => {
    const current = createMemoryRateLimiter({ policies });
    await current.consume('fixed', 'k', { cost: 2 }); // the old limiter already counted 2 of 3
    const next = createRateLimiter({ redis: client, policies, keyPrefix: 'shadow' });
    const shadow = createShadowRateLimiter({ current, next });
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await shadow.consume('fixed', 'k'));
    // old: 1 more then refused; new: 3 allowed. Stricter: only 1 allowed.
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, false]);
    const report = shadow.disagreements();
    expect(report.count).toBe(2);
    expect(report.recent[0]).toMatchObject({ key: 'k', policies: ['fixed'], current: false, next: true });
  });
});
