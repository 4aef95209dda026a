import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { evalLuaScript } from '../redis/lua-script.js';
import { PolicySet } from './decision.js';
import { counterKey, parseCounterKey, refusalsKey } from './keys.js';
import { parseScriptReply, scriptCall } from './limiter.js';
import { resolvePolicy, type RateLimitPolicyInput } from './policy.js';

/**
 * What the `ratelimit` commands do besides consume/status: list, find and delete counters,
 * read the refusal samples, and simulate a client. Pure domain: data in, data out.
 */

export interface PolicyRow {
  name: string;
  algorithm: string;
  rate: string;
  burst: number;
  failMode: string;
  overrides: number;
}

export function policyRows(policies: Record<string, RateLimitPolicyInput>): PolicyRow[] {
  return Object.entries(policies).map(([name, input]) => {
    const resolved = resolvePolicy(name, input);
    return { name, algorithm: resolved.algorithm, rate: input.rate, burst: resolved.burst, failMode: resolved.failMode, overrides: Object.keys(input.overrides ?? {}).length };
  });
}

function primaries(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

export interface CounterRow {
  redisKey: string;
  key: string;
  policy: string;
}

/**
 * The counters whose client key matches `pattern` (a SCAN glob), on every primary, optionally
 * of one policy only. Request-id keys are left out (they expire by themselves).
 */
export async function findCounters(client: RedisClient, prefix: string, pattern: string, policy?: string): Promise<CounterRow[]> {
  const rows: CounterRow[] = [];
  const match = `{${prefix}:${pattern}}:${policy ?? '*'}`;
  for (const node of primaries(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
      cursor = next;
      for (const redisKey of keys) {
        const parsed = parseCounterKey(prefix, redisKey);
        if (parsed !== undefined && (policy === undefined || parsed.policy === policy)) rows.push({ redisKey, ...parsed });
      }
    } while (cursor !== '0');
  }
  return rows.sort((a, b) => a.redisKey.localeCompare(b.redisKey));
}

/** Deletes counters one key at a time (Cluster-safe: no multi-slot DEL); returns how many existed. */
export async function deleteCounters(client: RedisClient, redisKeys: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const key of redisKeys) deleted += await client.del(key);
  return deleted;
}

export interface TopRow {
  policy: string;
  key: string;
  refusals: number;
}

/**
 * The most refused keys of the current and previous minute, from the bounded samples the
 * limiter writes on refusals (record-refusal.lua), merged over policies.
 */
export async function topRefused(client: RedisClient, prefix: string, policies: readonly string[], n: number, nowMs: number): Promise<TopRow[]> {
  const minute = Math.floor(nowMs / 60_000);
  const rows = new Map<string, TopRow>();
  for (const policy of policies) {
    for (const bucket of [minute - 1, minute]) {
      const flat = await client.zrevrange(refusalsKey(prefix, policy, bucket), 0, n - 1, 'WITHSCORES');
      for (let i = 0; i < flat.length; i += 2) {
        const id = `${policy}\0${flat[i]}`;
        const row = rows.get(id) ?? { policy, key: flat[i] as string, refusals: 0 };
        row.refusals += Number(flat[i + 1]);
        rows.set(id, row);
      }
    }
  }
  return [...rows.values()].sort((a, b) => b.refusals - a.refusals || a.key.localeCompare(b.key)).slice(0, n);
}

export interface SimulationOptions {
  /** The policies the simulated client is checked against (all must allow). */
  policies: readonly string[];
  config: Record<string, RateLimitPolicyInput>;
  /** The key whose overrides apply (default: a key without overrides). */
  key?: string | undefined;
  /** Requests per second the simulated client sends, evenly spaced. */
  ratePerSecond: number;
  durationMs: number;
  cost: number;
  /** Scratch prefix; its keys are deleted afterwards. */
  scratchPrefix: string;
}

export interface SimulationSecond {
  second: number;
  allowed: number;
  refused: number;
}

export interface SimulationResult {
  policies: string[];
  requests: number;
  allowed: number;
  refused: number;
  firstRefusalMs: number | null;
  timeline: SimulationSecond[];
}

/**
 * What a client sending `ratePerSecond` requests for `durationMs` sees: the real script runs
 * once per request against a scratch key, on a time base that starts at Redis TIME and advances
 * by the arrival times (the script's time argument), so 30 s are simulated in well under a second.
 */
export async function simulate(client: RedisClient, options: SimulationOptions): Promise<SimulationResult> {
  const key = options.key ?? 'simulated-client';
  const policies = new PolicySet(options.config).resolve(options.policies, key);
  const [seconds, micros] = await client.time();
  const start = Number(seconds) * 1000 + Number(micros) / 1000;
  const requests = Math.floor((options.ratePerSecond * options.durationMs) / 1000);
  const timeline: SimulationSecond[] = [];
  let allowed = 0;
  let firstRefusalMs: number | null = null;
  try {
    for (let i = 0; i < requests; i++) {
      const offset = (i * 1000) / options.ratePerSecond;
      const call = scriptCall(options.scratchPrefix, policies, key, options.cost, { mode: 'consume', requestIdTtlMs: 1000, now: start + offset });
      const reply = parseScriptReply(await evalLuaScript(client, call.script, call.keys, call.args), policies);
      const ok = reply.parts.every((part) => part.allowed);
      const second = Math.floor(offset / 1000);
      timeline[second] ??= { second, allowed: 0, refused: 0 };
      if (ok) {
        allowed += 1;
        timeline[second].allowed += 1;
      } else {
        timeline[second].refused += 1;
        firstRefusalMs ??= Math.round(offset);
      }
    }
  } finally {
    for (const policy of policies) await client.del(counterKey(options.scratchPrefix, policy.name, key));
  }
  return { policies: policies.map((policy) => policy.name), requests, allowed, refused: requests - allowed, firstRefusalMs, timeline: timeline.filter(Boolean) };
}
