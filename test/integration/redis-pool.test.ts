import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { redisSchema, type RedisConfig } from '../../src/config/schema.js';
import { createRedisManager, type RedisManager } from '../../src/redis/pool.js';
import { redisQuery, startRedis, type RedisServer } from '../../src/testing/index.js';
import { rejection } from '../helpers/assertions.js';

const configKey = 'profiles.prod.redis';

function config(port: number, input: Record<string, unknown> = {}): RedisConfig {
  return redisSchema.parse({ host: '127.0.0.1', port, connectTimeout: '2s', commandTimeout: '500ms', ...input });
}


/** Connections named opsctl on the server (CLIENT LIST), asked through the shared client. */
async function clientCount(manager: RedisManager): Promise<number> {
  const shared = (await manager.shared()) as Redis;
  const list = String(await shared.client('LIST'));
  return list.split('\n').filter((line) => /name=opsctl\b/.test(line)).length;
}

describe('RedisManager against a real redis-server', () => {
  let server: RedisServer;
  const managers: RedisManager[] = [];
  const manager = (input: Record<string, unknown> = {}, pool: Parameters<typeof createRedisManager>[1]['pool'] = undefined) => {
    const made = createRedisManager(config(server.port, input), { configKey, ...(pool === undefined ? {} : { pool }) });
    managers.push(made);
    return made;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await server?.stop();
  });

  it('gives one shared multiplexed client, the same on every call', async () => {
    const m = manager();
    const a = await m.shared();
    const b = await m.shared();
    expect(a).toBe(b);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => a.incr(`pool:shared:${i % 3}`)));
    expect(results).toHaveLength(200);
    expect(await clientCount(m)).toBe(1);
  });

  it('lends dedicated connections up to pool.max, then fails with REDIS_POOL_EXHAUSTED naming the key', async () => {
    const m = manager({ pool: { max: 2, acquireTimeout: '300ms', idleTimeout: '30s' } });
    const first = await m.acquire();
    const second = await m.acquire();
    expect(first.client).not.toBe(second.client);
    expect(m.stats()).toMatchObject({ size: 2, inUse: 2, idle: 0, waiting: 0, created: 2 });
    const started = performance.now();
    const error = await rejection(m.acquire());
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(280);
    expect(waited).toBeLessThan(1500);
    expect(error.code).toBe('REDIS_POOL_EXHAUSTED');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(`no dedicated Redis connection became free within 300ms: all 2 allowed by ${configKey}.pool.max are in use`);
    expect(error.hint).toContain(`${configKey}.pool.max`);
    expect(m.stats().acquireTimeouts).toBe(1);
    first.release();
    second.release();
    expect(m.stats()).toMatchObject({ size: 2, inUse: 0, idle: 2 });
  });

  it('hands a released connection to the longest waiter, and reuses idle ones', async () => {
    const m = manager({}, { max: 1, acquireTimeoutMs: 2000, idleTimeoutMs: 30_000 });
    const lease = await m.acquire();
    const waiting = m.acquire();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(m.stats().waiting).toBe(1);
    lease.release();
    const next = await waiting;
    expect(next.client).toBe(lease.client);
    next.release();
    const again = await m.acquire();
    expect(again.client).toBe(lease.client);
    again.release();
    expect(m.stats()).toMatchObject({ created: 1, destroyed: 0 });
  });

  it('runs blocking commands longer than commandTimeout on a dedicated connection', async () => {
    const m = manager();
    const started = performance.now();
    const popped = await m.withConnection((client) => client.blpop('pool:nothing', 1));
    expect(popped).toBeNull();
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    // The shared client keeps its commandTimeout (500ms) for the same command.
    const shared = await m.shared();
    const error = await shared.blpop('pool:nothing', 1).then(() => undefined, (reason: Error) => reason);
    expect(error?.message).toMatch(/Command timed out/);
  });

  it('closes a connection left in subscriber mode or after a failed withConnection', async () => {
    const m = manager();
    const lease = await m.acquire();
    await (lease.client as Redis).subscribe('pool:channel');
    lease.release();
    expect(m.stats()).toMatchObject({ idle: 0, destroyed: 1 });
    await expect(
      m.withConnection(async (client) => {
        await client.multi().set('pool:tx', '1').exec();
        throw new Error('caller failed mid-way');
      }),
    ).rejects.toThrow('caller failed mid-way');
    expect(m.stats()).toMatchObject({ idle: 0, inUse: 0, destroyed: 2 });
    const fresh = await m.withConnection((client) => client.ping());
    expect(fresh).toBe('PONG');
  });

  it('evicts idle connections after pool.idleTimeout', async () => {
    const m = manager({}, { max: 3, acquireTimeoutMs: 1000, idleTimeoutMs: 200 });
    const leases = await Promise.all([m.acquire(), m.acquire(), m.acquire()]);
    for (const lease of leases) lease.release();
    expect(m.stats()).toMatchObject({ idle: 3, size: 3 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(m.stats()).toMatchObject({ idle: 0, size: 0, destroyed: 3 });
  });

  it('stops waiting when the signal is aborted', async () => {
    const m = manager({}, { max: 1, acquireTimeoutMs: 5000, idleTimeoutMs: 30_000 });
    const lease = await m.acquire();
    const controller = new AbortController();
    const waiting = m.acquire({ signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await rejection(waiting);
    expect(error.code).toBe('INTERRUPTED');
    expect(m.stats().waiting).toBe(0);
    lease.release();
  });

  it('fails every waiter and closes everything on close()', async () => {
    const m = manager({}, { max: 1, acquireTimeoutMs: 5000, idleTimeoutMs: 30_000 });
    await m.shared();
    const lease = await m.acquire();
    const waiting = rejection(m.acquire());
    await m.close();
    expect((await waiting).code).toBe('REDIS_UNREACHABLE');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lease.client.status).toBe('end');
    lease.release();
    await expect(m.shared()).rejects.toThrow(/closed/);
  });

  it('a write refused with READONLY (a demoted primary) is retried after reconnecting, and applied once', async () => {
    const primary = await startRedis();
    const other = await startRedis();
    const m = createRedisManager(config(primary.port), { configKey });
    managers.push(m);
    try {
      await m.write((client) => client.set('ro:k', 'before'));
      await redisQuery(primary.port, ['REPLICAOF', '127.0.0.1', String(other.port)]);
      const shared = await m.shared();
      const refused = await shared.incr('ro:counter').then(() => undefined, (error: Error) => error.message);
      expect(refused).toMatch(/^READONLY/);
      // Promoted back a moment later: the write, refused meanwhile, goes through exactly once.
      setTimeout(() => void redisQuery(primary.port, ['REPLICAOF', 'NO', 'ONE']), 400);
      expect(await m.write((client) => client.incr('ro:counter'))).toBe(1);
      expect(await redisQuery(primary.port, ['GET', 'ro:counter'])).toBe('1');
    } finally {
      await Promise.all([primary.stop(), other.stop()]);
    }
  });

  it('on a hung server: a read is retried up to failoverTimeout, a write fails as uncertain after commandTimeout', async () => {
    const hung = await startRedis();
    const m = createRedisManager(config(hung.port, { failoverTimeout: '1200ms' }), { configKey });
    managers.push(m);
    try {
      await m.write((client) => client.set('k', '1'));
      expect(await m.read((client) => client.get('k'))).toBe('1');
      hung.kill('SIGSTOP');
      let started = performance.now();
      const write = await rejection(m.write((client) => client.incr('counter')));
      expect(performance.now() - started).toBeLessThan(1000);
      expect(write.code).toBe('REDIS_WRITE_UNCERTAIN');
      expect(write.message).toMatch(/may or may not have been applied: Redis at 127\.0\.0\.1:\d+ did not answer within 500ms/);
      started = performance.now();
      const read = await rejection(m.read((client) => client.get('k')));
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1100);
      expect(elapsed).toBeLessThan(2500);
      expect(read.code).toBe('REDIS_TIMEOUT');
      expect(read.hint).toContain(`${configKey}.failoverTimeout`);
    } finally {
      hung.kill('SIGCONT');
      await hung.stop();
    }
  });
});
