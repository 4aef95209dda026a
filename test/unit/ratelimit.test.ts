import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { Clock } from '../../src/core/clock.js';
import { rateLimitHeaders, rateLimitMiddleware } from '../../src/ratelimit/headers.js';
import { counterKey, encodeCounterState, parseCounterKey } from '../../src/ratelimit/keys.js';
import { createMemoryRateLimiter } from '../../src/ratelimit/memory.js';
import { parseRate } from '../../src/core/parse.js';
import { resolvePolicy } from '../../src/ratelimit/policy.js';
import { RefusalCache } from '../../src/ratelimit/refusal-cache.js';
import type { RateLimitDecision } from '../../src/ratelimit/types.js';
import { rejection } from '../helpers/assertions.js';

function manualClock(start = 1_795_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, monotonic: () => now, advance: (ms) => void (now += ms) };
}

describe('policies', () => {
  it('parses rates', () => {
    expect(parseRate('100/1m')).toEqual({ limit: 100, periodMs: 60_000 });
    expect(parseRate('50/s')).toEqual({ limit: 50, periodMs: 1000 });
    expect(parseRate('10/500ms')).toEqual({ limit: 10, periodMs: 500 });
    expect(parseRate('5/1m30s')).toEqual({ limit: 5, periodMs: 90_000 });
    for (const bad of ['100', '0/1m', '10/0s', 'x/1m', '10/1y', '1.5/1s']) expect(parseRate(bad)).toBeUndefined();
  });

  it('resolves overrides and reports bad policies with their name', () => {
    const input = { algorithm: 'gcra' as const, rate: '10/1s', overrides: { partner: { rate: '100/1s', burst: 20 } } };
    expect(resolvePolicy('api', input, 'someone')).toMatchObject({ limit: 10, burst: 10, failMode: 'open' });
    expect(resolvePolicy('api', input, 'partner')).toMatchObject({ limit: 100, burst: 20 });
    expect(() => resolvePolicy('api', { algorithm: 'gcra', rate: 'lots' })).toThrow(/policy "api": rate "lots"/);
    expect(() => resolvePolicy('api', { algorithm: 'gcra', rate: '1/s', burst: 0 })).toThrow(/burst 0/);
  });

  it('validates the ratelimit section of a profile, naming the path', () => {
    const base = { version: 2, profiles: { dev: { ratelimit: { policies: { api: { algorithm: 'gcra', rate: '100/1m', burst: 20 } } } } } };
    const parsed = configSchema.parse(base);
    expect(parsed.profiles.dev!.ratelimit).toMatchObject({ keyPrefix: 'opsctl:rl', policies: { api: { failMode: 'open', burst: 20 } } });
    const bad = configSchema.safeParse({ version: 2, profiles: { dev: { ratelimit: { policies: { api: { algorithm: 'leaky', rate: '1/x' } } } } } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['profiles.dev.ratelimit.policies.api.algorithm', 'profiles.dev.ratelimit.policies.api.rate']));
  });

  it('key layout v2: one hash tag per client key; counter keys parse back; state strings', () => {
    expect(encodeCounterState([1_795_000_000_000.123, 0.1, 0])).toBe('1795000000000.123 0.1 0');
    expect(encodeCounterState([1_795_000_000_000.5, null, null])).toBe('1795000000000.5');
    expect(counterKey('opsctl:rl', 'api', 'user:1')).toBe('{opsctl:rl:user:1}:api');
    expect(parseCounterKey('opsctl:rl', '{opsctl:rl:user:1}:api')).toEqual({ key: 'user:1', policy: 'api' });
    expect(parseCounterKey('opsctl:rl', '{opsctl:rl:user:1}:req:abc')).toBeUndefined();
    expect(parseCounterKey('opsctl:rl', 'other')).toBeUndefined();
  });
});

describe('createMemoryRateLimiter', () => {
  it('fixed window: limit per window, refusal with retry time, reset at the edge', async () => {
    const clock = manualClock();
    const limiter = createMemoryRateLimiter({ policies: { api: { algorithm: 'fixed-window', rate: '2/1s' } }, clock });
    expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 1, limit: 2, source: 'memory' });
    expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 0 });
    clock.advance(400);
    const refused = await limiter.consume('api', 'k');
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 600, resetMs: 600, resetAt: clock.now() + 600 });
    clock.advance(600);
    expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('token bucket and GCRA: bursts up to burst, then one unit per interval', async () => {
    for (const algorithm of ['token-bucket', 'gcra'] as const) {
      const clock = manualClock();
      const limiter = createMemoryRateLimiter({ policies: { api: { algorithm, rate: '10/1s', burst: 3 } }, clock });
      const burst = [];
      for (let i = 0; i < 4; i++) burst.push((await limiter.consume('api', 'k')).allowed);
      expect(burst).toEqual([true, true, true, false]);
      expect((await limiter.status('api', 'k')).retryAfterMs).toBe(100);
      clock.advance(100);
      expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 0 });
    }
  });

  it('sliding window counts the previous window by its remaining share', async () => {
    const clock = manualClock(1_795_000_000_000); // a window edge
    const limiter = createMemoryRateLimiter({ policies: { api: { algorithm: 'sliding-window', rate: '4/1s' } }, clock });
    expect(await limiter.consume('api', 'k', { cost: 4 })).toMatchObject({ allowed: true, remaining: 0 });
    clock.advance(1250); // previous window weighs 0.75: estimate 3
    expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await limiter.consume('api', 'k');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(250); // when the previous share is down to 2
  });

  it('several policies: all must allow, nothing is taken when one refuses', async () => {
    const limiter = createMemoryRateLimiter({
      policies: { second: { algorithm: 'fixed-window', rate: '5/1s' }, day: { algorithm: 'fixed-window', rate: '2/1d' } },
      clock: manualClock(),
    });
    await limiter.consume(['second', 'day'], 'k');
    await limiter.consume(['second', 'day'], 'k');
    expect(await limiter.consume(['second', 'day'], 'k')).toMatchObject({ allowed: false, policy: 'day' });
    expect(await limiter.status('second', 'k')).toMatchObject({ remaining: 3 });
  });

  it('cost above the limit is never allowed; bad costs and unknown policies are rejected', async () => {
    const limiter = createMemoryRateLimiter({ policies: { api: { algorithm: 'gcra', rate: '5/1s' } } });
    expect(await limiter.consume('api', 'k', { cost: 6 })).toMatchObject({ allowed: false, retryAfterMs: -1 });
    expect(await rejection(limiter.consume('api', 'k', { cost: 0 }))).toMatchObject({ code: 'RATELIMIT_BAD_INPUT' });
    expect(await rejection(limiter.consume('api', '', {}))).toMatchObject({ code: 'RATELIMIT_BAD_INPUT' });
    expect(await rejection(limiter.consume('nope', 'k'))).toMatchObject({ code: 'RATELIMIT_UNKNOWN_POLICY' });
    expect(() => createMemoryRateLimiter({ policies: { api: { algorithm: 'gcra', rate: '5' } } })).toThrow(/RATELIMIT|rate "5"/);
  });

  it('request ids: a re-sent call gets the first answer; reset forgets a key', async () => {
    const limiter = createMemoryRateLimiter({ policies: { api: { algorithm: 'fixed-window', rate: '2/1h' } }, clock: manualClock() });
    await limiter.consume('api', 'k', { requestId: 'r' });
    expect(await limiter.consume('api', 'k', { requestId: 'r' })).toMatchObject({ remaining: 1, source: 'replayed' });
    expect(limiter.stats()).toMatchObject({ memoryDecisions: 1, replayed: 1 });
    expect(await limiter.reset('api', 'k')).toBe(1);
    expect(await limiter.status('api', 'k')).toMatchObject({ remaining: 2 });
  });
});

describe('local refusal cache', () => {
  const decision: RateLimitDecision = {
    allowed: false, policy: 'api', remaining: 0, limit: 5, resetMs: 1000, resetAt: 2000, retryAfterMs: 500, source: 'redis', policies: [],
  };

  it('refuses until the retry time, only costs at least as large, and stays bounded', () => {
    const cache = new RefusalCache(2);
    cache.remember('api\0a', 2, decision, 1000);
    expect(cache.lookup('api\0a', 2, 1200)).toMatchObject({ allowed: false, retryAfterMs: 300, resetMs: 800, source: 'local-refusal' });
    expect(cache.lookup('api\0a', 1, 1200)).toBeUndefined();
    expect(cache.lookup('api\0a', 2, 1500)).toBeUndefined();
    for (const key of ['b', 'c', 'd']) cache.remember(`api\0${key}`, 1, decision, 1000);
    expect(cache.size).toBe(2);
  });
});

describe('headers and middleware', () => {
  it('sets RateLimit-Policy, RateLimit and Retry-After per the IETF draft', () => {
    const headers = rateLimitHeaders({
      allowed: false, policy: 'day', remaining: 0, limit: 1000, resetMs: 3_600_000, resetAt: 0, retryAfterMs: 1500, source: 'redis',
      policies: [
        { policy: 'second', algorithm: 'gcra', allowed: true, remaining: 9, limit: 10, windowMs: 1000, resetMs: 100, retryAfterMs: 0 },
        { policy: 'day', algorithm: 'fixed-window', allowed: false, remaining: 0, limit: 1000, windowMs: 86_400_000, resetMs: 3_600_000, retryAfterMs: 1500 },
      ],
    });
    expect(headers).toEqual({
      'RateLimit-Policy': '"second";q=10;w=1, "day";q=1000;w=86400',
      RateLimit: '"second";r=9;t=1, "day";r=0;t=3600',
      'Retry-After': '2',
    });
  });

  describe('Express', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      const limiter = createMemoryRateLimiter({ policies: { api: { algorithm: 'fixed-window', rate: '2/1h' } } });
      const app = express();
      app.use(rateLimitMiddleware(limiter, { policies: 'api', key: (req) => String(req.headers['x-user'] ?? 'anon') }));
      app.get('/', (_req, res) => void res.send('ok'));
      server = createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('passes allowed requests with headers and answers 429 with Retry-After', async () => {
      const get = () => fetch(base, { headers: { 'x-user': 'u1' } });
      const first = await get();
      expect(first.status).toBe(200);
      expect(first.headers.get('ratelimit')).toMatch(/^"api";r=1;t=\d+$/);
      expect(first.headers.get('ratelimit-policy')).toBe('"api";q=2;w=3600');
      await get();
      const refused = await get();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.text()).toBe('Too Many Requests\n');
      expect((await fetch(base, { headers: { 'x-user': 'u2' } })).status).toBe(200);
    });
  });
});
