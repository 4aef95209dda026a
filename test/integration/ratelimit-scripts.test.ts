import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalLuaScript } from '../../src/redis/lua-script.js';
import { MemoryCounters } from '../../src/ratelimit/memory.js';
import { createRateLimiter, parseScriptReply, scriptCall } from '../../src/ratelimit/limiter.js';
import { ALGORITHMS, resolvePolicy, type Algorithm, type ResolvedPolicy } from '../../src/ratelimit/policy.js';
import { rejection } from '../helpers/assertions.js';
import { useRedis } from '../helpers/redis.js';

const redis = useRedis();
let client: Redis;
let keySeq = 0;

beforeAll(() => {
  client = new Redis(redis().url);
});
afterAll(() => client.disconnect());

/**
 * How the comparison works: the script takes an optional "now" argument (tests only; the
 * library always leaves it empty so the script reads Redis TIME). Each test run feeds the same
 * arrival times and costs to the script and to the JavaScript model (MemoryCounters, which is
 * also the in-process limiter) and requires identical decisions, field by field.
 */
async function scriptDecide(policies: ResolvedPolicy[], key: string, cost: number, now: number, mode: 'consume' | 'peek') {
  const call = scriptCall('t', policies, key, cost, { mode, requestIdTtlMs: 60_000, now });
  return parseScriptReply(await evalLuaScript(client, call.script, call.keys, call.args), policies).parts;
}

const arrival = fc.record({
  gap: fc.integer({ min: 0, max: 3000 }),
  micros: fc.integer({ min: 0, max: 999 }),
  cost: fc.integer({ min: 1, max: 12 }),
  peek: fc.boolean(),
});

function policyArb(algorithm: Algorithm, name = 'p') {
  return fc
    .record({ limit: fc.integer({ min: 1, max: 10 }), periodMs: fc.integer({ min: 50, max: 2000 }), burst: fc.integer({ min: 1, max: 12 }) })
    .map(({ limit, periodMs, burst }): ResolvedPolicy => ({ name, algorithm, limit, periodMs, burst, failMode: 'open' }));
}

async function compare(policies: ResolvedPolicy[], arrivals: { gap: number; micros: number; cost: number; peek: boolean }[]) {
  const key = `k${keySeq++}`;
  const model = new MemoryCounters(1000);
  // A realistic epoch-ms base with sub-millisecond parts, as Redis TIME gives.
  let now = 1_795_000_000_000;
  for (const step of arrivals) {
    now += step.gap + step.micros / 1000;
    const mode = step.peek ? 'peek' : 'consume';
    const expected = model.evaluate(policies, key, step.cost, now, mode === 'consume');
    expect(await scriptDecide(policies, key, step.cost, now, mode)).toEqual(expected);
  }
}

describe('rate limit scripts against the JavaScript model (fast-check)', () => {
  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: same decisions for random arrivals and costs`, async () => {
      await fc.assert(
        fc.asyncProperty(policyArb(algorithm), fc.array(arrival, { minLength: 1, maxLength: 40 }), (policy, arrivals) => compare([policy], arrivals)),
        { numRuns: 60 },
      );
    });
  }

  it('several policies of different algorithms: same all-or-nothing decisions', async () => {
    const pair = fc.tuple(fc.constantFrom(...ALGORITHMS), fc.constantFrom(...ALGORITHMS)).chain(([a, b]) => fc.tuple(policyArb(a, 'one'), policyArb(b, 'two')));
    await fc.assert(fc.asyncProperty(pair, fc.array(arrival, { minLength: 1, maxLength: 40 }), (policies, arrivals) => compare(policies, arrivals)), {
      numRuns: 60,
    });
  });
});

describe('rate limit scripts: edges', () => {
  const fixed = resolvePolicy('fixed', { algorithm: 'fixed-window', rate: '3/1s' });

  it('fixed window: the quota comes back exactly at the window edge', async () => {
    const base = 1_795_000_000_000; // a multiple of 1000: a window starts here
    const key = `edge${keySeq++}`;
    for (let i = 0; i < 3; i++) expect((await scriptDecide([fixed], key, 1, base + 10, 'consume'))[0]!.allowed).toBe(true);
    const refused = (await scriptDecide([fixed], key, 1, base + 999, 'consume'))[0]!;
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 1, resetMs: 1 });
    expect((await scriptDecide([fixed], key, 1, base + 1000, 'consume'))[0]).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('a cost above the limit is refused with retryAfterMs -1 (never), and consumes nothing', async () => {
    const key = `big${keySeq++}`;
    const [part] = await scriptDecide([fixed], key, 4, 1_795_000_000_000, 'consume');
    expect(part).toMatchObject({ allowed: false, retryAfterMs: -1, remaining: 3 });
    expect(await client.exists(`{t:${key}}:fixed`)).toBe(0);
  });

  it('one refusing policy consumes nothing from the others', async () => {
    const perDay = resolvePolicy('day', { algorithm: 'fixed-window', rate: '1/1d' });
    const key = `multi${keySeq++}`;
    const now = 1_795_000_000_000;
    expect((await scriptDecide([fixed, perDay], key, 1, now, 'consume')).map((p) => p.allowed)).toEqual([true, true]);
    expect((await scriptDecide([fixed, perDay], key, 1, now + 1, 'consume')).map((p) => p.allowed)).toEqual([true, false]);
    // the per-second policy still has 2 left (1 after this cost): the refused call took nothing from it
    expect((await scriptDecide([fixed], key, 1, now + 2, 'peek'))[0]).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('the library reads time from Redis TIME and writes the v2 layout (a string) with a TTL', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'gcra', rate: '10/1s', burst: 5 } }, keyPrefix: 'lay' });
    const decision = await limiter.consume('api', 'user:1', { cost: 2 });
    expect(decision).toMatchObject({ allowed: true, remaining: 3, limit: 5, policy: 'api', source: 'redis' });
    expect(await client.type('{lay:user:1}:api')).toBe('string');
    const tat = Number(await client.get('{lay:user:1}:api'));
    const [seconds] = await client.time();
    expect(Math.abs(tat - Number(seconds) * 1000)).toBeLessThan(5000);
    const ttl = await client.pttl('{lay:user:1}:api');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(200);
  });

  it('reads a layout v1 counter (a hash) and rewrites it as v2: an upgrade resets nobody', async () => {
    const policies = { api: { algorithm: 'fixed-window' as const, rate: '5/1h' }, burst: { algorithm: 'token-bucket' as const, rate: '5/1h' } };
    const limiter = createRateLimiter({ redis: client, policies, keyPrefix: 'v1' });
    const [seconds] = await client.time();
    const now = Number(seconds) * 1000;
    // What a v1 limiter left after 4 units under each policy.
    await client.hset('{v1:user:1}:api', 'a', String(Math.floor(now / 3_600_000)), 'b', '4', 'c', '0');
    await client.hset('{v1:user:1}:burst', 'a', String(now), 'b', '1', 'c', '0');
    await client.pexpire('{v1:user:1}:api', 60_000);
    await client.pexpire('{v1:user:1}:burst', 60_000);
    expect(await limiter.status(['api', 'burst'], 'user:1')).toMatchObject({ allowed: true, remaining: 1 });
    expect(await client.type('{v1:user:1}:api')).toBe('hash');
    expect(await limiter.consume(['api', 'burst'], 'user:1')).toMatchObject({ allowed: true, remaining: 0 });
    expect(await client.type('{v1:user:1}:api')).toBe('string');
    expect(await client.type('{v1:user:1}:burst')).toBe('string');
    expect(await limiter.consume('api', 'user:1')).toMatchObject({ allowed: false });
  });

  it('rejects zero, negative and fractional costs clearly, before any Redis call', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'fixed-window', rate: '10/1s' } } });
    for (const cost of [0, -1, 1.5, Number.NaN]) {
      const error = await rejection(limiter.consume('api', 'k', { cost }));
      expect(error).toMatchObject({ code: 'RATELIMIT_BAD_INPUT' });
      expect((error as Error).message).toContain('positive integer');
    }
    expect(await rejection(limiter.consume('nope', 'k'))).toMatchObject({ code: 'RATELIMIT_UNKNOWN_POLICY' });
  });
});

describe('rate limiter against a real Redis', () => {
  it('survives SCRIPT FLUSH mid-run without losing or double-counting', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'fixed-window', rate: '5/1h' } }, keyPrefix: 'flush' });
    const allowed: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      if (i === 3) await client.script('FLUSH');
      allowed.push((await limiter.consume('api', 'k')).allowed);
    }
    expect(allowed).toEqual([true, true, true, true, true, false, false, false]);
  });

  it('a re-sent request id returns the first decision and consumes nothing more', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'token-bucket', rate: '3/1h' } }, keyPrefix: 'rid', requestIdTtlMs: 5000 });
    const first = await limiter.consume('api', 'k', { requestId: 'req-1' });
    // The re-send a client makes after a lost answer: the same id, the same command.
    const again = await limiter.consume('api', 'k', { requestId: 'req-1' });
    expect(first).toMatchObject({ allowed: true, remaining: 2, source: 'redis' });
    expect(again).toMatchObject({ allowed: true, remaining: 2, source: 'replayed' });
    expect(await limiter.consume('api', 'k', { requestId: 'req-2' })).toMatchObject({ remaining: 1 });
    expect(limiter.stats()).toMatchObject({ redisDecisions: 2, replayed: 1 });
    const ttl = await client.pttl('{rid:k}:req:req-1');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it('refuses a key over its limit locally until its retry time, and records refusals for top', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'fixed-window', rate: '2/1h' } }, keyPrefix: 'local' });
    await limiter.consume('api', 'hot');
    await limiter.consume('api', 'hot');
    const viaRedis = await limiter.consume('api', 'hot');
    const local = await limiter.consume('api', 'hot');
    expect(viaRedis).toMatchObject({ allowed: false, source: 'redis' });
    expect(local).toMatchObject({ allowed: false, source: 'local-refusal', policy: 'api' });
    expect(local.retryAfterMs).toBeGreaterThan(0);
    expect(limiter.stats()).toMatchObject({ redisDecisions: 3, localRefusals: 1 });
    // the sample is written after the decision, without being awaited
    await new Promise((resolve) => setTimeout(resolve, 50));
    const minute = Math.floor(Date.now() / 60_000);
    const sampled = (await client.zrange(`local:top:api:${minute}`, 0, -1)).concat(await client.zrange(`local:top:api:${minute - 1}`, 0, -1));
    expect(sampled).toEqual(['hot']);
    expect(await limiter.reset('api', 'hot')).toBe(1);
    expect(await limiter.consume('api', 'hot')).toMatchObject({ allowed: true, source: 'redis' });
  });

  it('status decides without consuming', async () => {
    const limiter = createRateLimiter({ redis: client, policies: { api: { algorithm: 'sliding-window', rate: '4/1m' } }, keyPrefix: 'peek' });
    await limiter.consume('api', 'k', { cost: 3 });
    // status reports what is left now (a consume of 1 would leave 0)
    expect(await limiter.status('api', 'k')).toMatchObject({ allowed: true, remaining: 1 });
    expect(await limiter.status('api', 'k', { cost: 2 })).toMatchObject({ allowed: false });
    expect(await limiter.consume('api', 'k')).toMatchObject({ allowed: true, remaining: 0 });
  });
});
