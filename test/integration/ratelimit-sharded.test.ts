import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShardedRateLimiter } from '../../src/ratelimit/sharded.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

describe('rate limiter over a consistent-hash ring of independent primaries', () => {
  const servers: RedisServer[] = [];
  const clients: Redis[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const server = await startRedis();
      servers.push(server);
      clients.push(new Redis(server.url));
    }
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('keys are decided on their owner; adding a node moves their counters with TTLs (no fresh allowance)', async () => {
    const policies = { api: { algorithm: 'fixed-window' as const, rate: '3/1h' }, tb: { algorithm: 'token-bucket' as const, rate: '3/1h' } };
    const limiter = createShardedRateLimiter({ shards: { a: clients[0]!, b: clients[1]! }, policies, keyPrefix: 'ring' });
    const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
    for (const key of keys) {
      await limiter.consume(['api', 'tb'], key, { cost: 2 });
      expect(await clients[limiter.shardFor(key) === 'a' ? 0 : 1]!.exists(`{ring:${key}}:api`)).toBe(1);
    }
    const owners = new Map(keys.map((key) => [key, limiter.shardFor(key)]));
    const result = await limiter.rebalance({ a: clients[0]!, b: clients[1]!, c: clients[2]! });
    const movedKeys = keys.filter((key) => limiter.shardFor(key) !== owners.get(key));
    expect(result).toEqual({ scanned: 120, moved: movedKeys.length * 2 });
    // about a third moves, all to the new node
    expect(movedKeys.length).toBeGreaterThan(8);
    expect(movedKeys.length).toBeLessThan(35);
    expect(movedKeys.every((key) => limiter.shardFor(key) === 'c')).toBe(true);
    for (const key of movedKeys) {
      const ttl = await clients[2]!.pttl(`{ring:${key}}:api`);
      expect(ttl).toBeGreaterThan(0);
      expect(await clients[owners.get(key) === 'a' ? 0 : 1]!.exists(`{ring:${key}}:api`)).toBe(0);
    }
    // across the cut-over every key got exactly its limit: 2 before, 1 after, then refused
    for (const key of keys) {
      expect((await limiter.consume(['api', 'tb'], key)).allowed).toBe(true);
      expect((await limiter.consume(['api', 'tb'], key)).allowed).toBe(false);
    }
  });
});
