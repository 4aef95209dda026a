import { systemClock, type Clock } from '../core/clock.js';
import { isOpsError } from '../core/errors.js';
import { redisError, type RedisClient } from '../redis/connection.js';
import { classifyRedisFailure, type RedisClientSource } from '../redis/failover-policy.js';
import { evalLuaScript, loadLuaScript, luaScript, type LuaScript } from '../redis/lua-script.js';
import { reportedLimit } from './algorithms.js';
import { beforeCost, combineDecisions, PolicySet } from './decision.js';
import { counterKey, DEFAULT_KEY_PREFIX, refusalsKey, requestIdKey } from './keys.js';
import { createMemoryRateLimiter } from './memory.js';
import { ALGORITHMS, checkCost, type Algorithm, type RateLimitPolicyInput, type ResolvedPolicy } from './policy.js';
import { RefusalCache } from './refusal-cache.js';
import type { ConsumeOptions, PolicyDecision, RateLimitDecision, RateLimiter, RateLimiterStats, StatusOptions } from './types.js';

const MAIN_SOURCE = loadLuaScript(import.meta.url, 'ratelimit').source;
const luaFunction = (algorithm: Algorithm) => algorithm.replace('-', '_');
const algorithmSource = (algorithm: Algorithm) => loadLuaScript(import.meta.url, algorithm).source;

/**
 * Script format v2: one script per algorithm (its step function and the main body, no dispatch
 * by name), used for every call whose policies share one algorithm.
 */
export const RATELIMIT_SCRIPTS: Readonly<Record<Algorithm, LuaScript>> = Object.fromEntries(
  ALGORITHMS.map((algorithm) => [
    algorithm,
    luaScript('ratelimit', [algorithmSource(algorithm), `local ALGORITHM, STEPS = ${luaFunction(algorithm)}, nil`, MAIN_SOURCE].join('\n')),
  ]),
) as Record<Algorithm, LuaScript>;
/** The script for policies of several algorithms in one call: every step function, chosen by name. */
export const RATELIMIT_MIXED_SCRIPT: LuaScript = luaScript(
  'ratelimit',
  [...ALGORITHMS.map(algorithmSource), `local ALGORITHM, STEPS = nil, { ${ALGORITHMS.map((a) => `['${a}'] = ${luaFunction(a)}`).join(', ')} }`, MAIN_SOURCE].join('\n'),
);
export const RECORD_REFUSAL_SCRIPT: LuaScript = loadLuaScript(import.meta.url, 'record-refusal');

const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

export interface CreateRateLimiterOptions {
  /**
   * An ioredis client (standalone, Sentinel or Cluster), or a function returning the current
   * one: pass `() => manager.shared()` with a RedisManager, which replaces its client after a
   * failover.
   */
  redis: RedisClientSource;
  policies: Record<string, RateLimitPolicyInput>;
  /** Prefix of every key (default `opsctl:rl`); see docs/ratelimit.md for the layout. */
  keyPrefix?: string;
  /** How long Redis remembers a request id (default 60 s). */
  requestIdTtlMs?: number;
  /** Keys refused in-process until their retry time; 0 turns the cache off (default 10 000). */
  refusalCacheSize?: number;
  /** Record refused keys for `opsctl ratelimit top` (default true), keeping this many per policy and minute (default 1000). */
  recordRefusals?: boolean;
  refusalSampleSize?: number;
  clock?: Clock;
  /** Fallback limiter bounds while Redis is unreachable (default 100 000 keys). */
  fallbackMaxKeys?: number;
}

/** Reads the script's reply (see ratelimit.lua). */
export function parseScriptReply(reply: unknown, policies: ResolvedPolicy[]): { replayed: boolean; parts: PolicyDecision[] } {
  const values = reply as number[];
  const parts = policies.map((policy, i) => {
    const at = 1 + i * 4;
    return {
      policy: policy.name,
      algorithm: policy.algorithm,
      allowed: values[at] === 1,
      remaining: values[at + 1] as number,
      limit: reportedLimit(policy.algorithm, policy.limit, policy.burst),
      windowMs: policy.periodMs,
      resetMs: values[at + 2] as number,
      retryAfterMs: values[at + 3] as number,
    };
  });
  return { replayed: values[0] === 1, parts };
}

/**
 * Builds the script call for `policies` on `key`: the script (per algorithm, or the mixed one),
 * keys and arguments (also used by --explain and the CLI's simulate).
 */
export function scriptCall(
  prefix: string,
  policies: ResolvedPolicy[],
  key: string,
  cost: number,
  options: { mode: 'consume' | 'peek'; requestId?: string | undefined; requestIdTtlMs: number; now?: number | undefined },
): { script: LuaScript; keys: string[]; args: (string | number)[] } {
  const algorithm = policies[0]!.algorithm;
  const mixed = policies.some((policy) => policy.algorithm !== algorithm);
  const keys: string[] = [];
  const args: (string | number)[] = [cost, options.mode, options.now ?? '', options.requestId === undefined ? '' : options.requestIdTtlMs];
  for (const policy of policies) {
    keys.push(counterKey(prefix, policy.name, key));
    if (mixed) args.push(policy.algorithm);
    args.push(policy.limit, policy.periodMs, policy.burst);
  }
  if (options.requestId !== undefined) keys.push(requestIdKey(prefix, key, options.requestId));
  return { script: mixed ? RATELIMIT_MIXED_SCRIPT : RATELIMIT_SCRIPTS[algorithm], keys, args };
}

/** How long a request id is remembered when the caller does not say. */
export const DEFAULT_REQUEST_ID_TTL_MS = 60_000;

/**
 * The distributed limiter: one EVALSHA per decision, however many policies, with time taken
 * from Redis. See docs/ratelimit.md.
 */
export function createRateLimiter(options: CreateRateLimiterOptions): RateLimiter {
  const source = options.redis;
  const currentClient = (): Promise<RedisClient> | RedisClient => (typeof source === 'function' ? source() : source);
  const policySet = new PolicySet(options.policies);
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const clock = options.clock ?? systemClock;
  const requestIdTtlMs = options.requestIdTtlMs ?? DEFAULT_REQUEST_ID_TTL_MS;
  const refusals = (options.refusalCacheSize ?? 10_000) > 0 ? new RefusalCache(options.refusalCacheSize ?? 10_000) : undefined;
  const recordRefusals = options.recordRefusals ?? true;
  const sampleSize = options.refusalSampleSize ?? 1000;
  const fallback = createMemoryRateLimiter({ policies: options.policies, clock, maxKeys: options.fallbackMaxKeys ?? 100_000 });
  const stats = { redisDecisions: 0, replayed: 0, localRefusals: 0, memoryDecisions: 0, withoutRedis: { allowed: 0, refused: 0, failedClosed: 0 } };

  function record(client: RedisClient, decision: RateLimitDecision, key: string): void {
    const minute = Math.floor(clock.now() / 60_000);
    for (const part of decision.policies) {
      if (part.allowed) continue;
      // Best effort, not awaited: losing a sample must not slow or fail the decision.
      evalLuaScript(client, RECORD_REFUSAL_SCRIPT, [refusalsKey(prefix, part.policy, minute)], [key, sampleSize, 120_000]).catch(() => undefined);
    }
  }

  async function withoutRedis(
    client: RedisClient | undefined,
    names: string | readonly string[],
    policies: ResolvedPolicy[],
    key: string,
    cost: number,
    mode: 'consume' | 'peek',
    error: unknown,
  ): Promise<RateLimitDecision> {
    if (client !== undefined && error !== undefined && classifyRedisFailure(error) === 'final') throw redisError(client, error);
    const now = clock.now();
    if (policies.some((policy) => policy.failMode === 'closed')) {
      stats.withoutRedis.failedClosed += 1;
      const parts = policies.map((policy) => ({
        policy: policy.name,
        algorithm: policy.algorithm,
        allowed: policy.failMode !== 'closed',
        remaining: 0,
        limit: reportedLimit(policy.algorithm, policy.limit, policy.burst),
        windowMs: policy.periodMs,
        resetMs: 0,
        // Nothing to compute without the counters: ask the caller to come back in a second.
        retryAfterMs: policy.failMode === 'closed' ? 1000 : 0,
      }));
      return combineDecisions(parts, 'fail-closed', now);
    }
    if (mode === 'peek') return { ...(await fallback.status(names, key, { cost })), source: 'fallback' };
    const decision = await fallback.consume(names, key, { cost });
    if (decision.allowed) stats.withoutRedis.allowed += 1;
    else stats.withoutRedis.refused += 1;
    return { ...decision, source: 'fallback' };
  }

  async function run(
    names: string | readonly string[],
    key: string,
    cost: number,
    mode: 'consume' | 'peek',
    requestId: string | undefined,
  ): Promise<RateLimitDecision> {
    checkCost(cost);
    const policies = policySet.resolve(names, key);
    const cacheId = mode === 'consume' && refusals !== undefined ? `${policies.map((p) => p.name).join(',')}\0${key}` : undefined;
    if (cacheId !== undefined) {
      const cached = refusals!.lookup(cacheId, cost, clock.now());
      if (cached !== undefined) {
        stats.localRefusals += 1;
        return cached;
      }
    }
    let client: RedisClient;
    try {
      // A plain client is used as is: no extra await on the hot path.
      const current = currentClient();
      client = current instanceof Promise ? await current : current;
    } catch (error) {
      // The manager could not (re)connect: nothing was sent. A wrong password or a bad config
      // is not an outage: it is reported, not hidden behind fallback decisions.
      if (isOpsError(error) && error.code !== 'REDIS_UNREACHABLE' && error.code !== 'REDIS_TIMEOUT') throw error;
      return withoutRedis(undefined, names, policies, key, cost, mode, undefined);
    }
    // A client that lost its connection would queue the call or fail it later: decide now instead.
    // (A client still making its first connection is sent the call: it waits in its queue.)
    if (DISCONNECTED.has(client.status)) return withoutRedis(client, names, policies, key, cost, mode, undefined);
    const call = scriptCall(prefix, policies, key, cost, { mode, requestId, requestIdTtlMs });
    let reply: unknown;
    try {
      reply = await evalLuaScript(client, call.script, call.keys, call.args);
    } catch (error) {
      return withoutRedis(client, names, policies, key, cost, mode, error);
    }
    const parsed = parseScriptReply(reply, policies);
    const now = clock.now();
    if (parsed.replayed) stats.replayed += 1;
    else stats.redisDecisions += 1;
    const parts = mode === 'peek' ? beforeCost(parsed.parts, cost) : parsed.parts;
    const decision = combineDecisions(parts, parsed.replayed ? 'replayed' : 'redis', now);
    if (!decision.allowed && mode === 'consume' && !parsed.replayed) {
      if (cacheId !== undefined) refusals!.remember(cacheId, cost, decision, now);
      if (recordRefusals) record(client, decision, key);
    }
    return decision;
  }

  return {
    policies: policySet.inputs,
    consume: (names, key, consumeOptions: ConsumeOptions = {}) => run(names, key, consumeOptions.cost ?? 1, 'consume', consumeOptions.requestId),
    status: (names, key, statusOptions: StatusOptions = {}) => run(names, key, statusOptions.cost ?? 1, 'peek', undefined),
    async reset(names, key) {
      const policies = policySet.resolve(names, key);
      refusals?.forgetKey(key);
      await fallback.reset(names, key);
      let removed = 0;
      // One DEL per key: in a Cluster they share a slot anyway, and standalone does not care.
      const client = await currentClient();
      for (const policy of policies) removed += await client.del(counterKey(prefix, policy.name, key));
      return removed;
    },
    stats(): RateLimiterStats {
      return { ...stats, withoutRedis: { ...stats.withoutRedis } };
    },
    async close() {},
  };
}
