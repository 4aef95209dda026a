import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema } from '../../src/config/schema.js';
import { createRedisClient, type RedisClient } from '../../src/redis/connection.js';
import { createRateLimiter } from '../../src/ratelimit/limiter.js';
import type { RateLimitPolicyInput } from '../../src/ratelimit/policy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const policies: Record<string, RateLimitPolicyInput> = {
  open: { algorithm: 'fixed-window', rate: '3/1h', failMode: 'open' },
  closed: { algorithm: 'fixed-window', rate: '3/1h', failMode: 'closed' },
};

async function connect(server: RedisServer): Promise<RedisClient> {
  const config = redisSchema.parse({ url: server.url, connectTimeout: '1s', commandTimeout: '300ms', retry: { maxAttempts: 50, baseDelay: '50ms', maxDelay: '100ms' } });
  return createRedisClient(config, { configKey: 'profiles.test.redis' });
}

describe('rate limiter when Redis fails', () => {
  let server: RedisServer;
  let client: RedisClient;
  beforeAll(async () => {
    server = await startRedis();
    client = await connect(server);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('a hung server: the lost answer falls back, decisions resume, and the re-sent request id is not counted twice', async () => {
    const limiter = createRateLimiter({ redis: client, policies, keyPrefix: 'hang' });
    expect(await limiter.consume('open', 'k', { requestId: 'a' })).toMatchObject({ allowed: true, remaining: 2, source: 'redis' });
    server.kill('SIGSTOP');
    let lost;
    try {
      // written to the socket, answer lost after commandTimeout: decided in-process (fail open)
      lost = await limiter.consume('open', 'k', { requestId: 'b' });
      expect(await limiter.consume('closed', 'k')).toMatchObject({ allowed: false, source: 'fail-closed', retryAfterMs: 1000 });
    } finally {
      server.kill('SIGCONT');
    }
    expect(lost).toMatchObject({ allowed: true, source: 'fallback' });
    // The server ran the stalled script once it woke up; the caller re-sends with the same id.
    const resent = await limiter.consume('open', 'k', { requestId: 'b' });
    expect(resent).toMatchObject({ allowed: true, remaining: 1, source: 'replayed' });
    expect(await limiter.consume('open', 'k')).toMatchObject({ allowed: true, remaining: 0, source: 'redis' });
    expect(limiter.stats()).toMatchObject({ redisDecisions: 2, replayed: 1, withoutRedis: { allowed: 1, refused: 0, failedClosed: 1 } });
  });

  it('a stopped server: open policies decide in-process with the same limits, closed ones refuse, all counted', async () => {
    const limiter = createRateLimiter({ redis: client, policies, keyPrefix: 'down' });
    expect(await limiter.consume('open', 'k')).toMatchObject({ source: 'redis' });
    await server.stop();
    await expect.poll(() => client.status, { timeout: 5000 }).not.toBe('ready');
    const fallback = [];
    for (let i = 0; i < 4; i++) fallback.push(await limiter.consume('open', 'k'));
    // the in-process limiter starts from its own (empty) counters: 3 per hour per process
    expect(fallback.map((d) => [d.allowed, d.source])).toEqual([
      [true, 'fallback'],
      [true, 'fallback'],
      [true, 'fallback'],
      [false, 'fallback'],
    ]);
    expect(await limiter.consume(['open', 'closed'], 'k')).toMatchObject({ allowed: false, source: 'fail-closed', policy: 'closed' });
    expect(await limiter.status('open', 'k')).toMatchObject({ allowed: false, source: 'fallback' });
    expect(limiter.stats()).toMatchObject({ redisDecisions: 1, withoutRedis: { allowed: 3, refused: 1, failedClosed: 1 } });
  });
});
