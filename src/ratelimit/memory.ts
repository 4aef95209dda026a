import { systemClock, type Clock } from '../core/clock.js';
import { ALGORITHM_STEPS, reportedLimit, type AlgorithmState } from './algorithms.js';
import { beforeCost, combineDecisions, PolicySet } from './decision.js';
import { checkCost, type RateLimitPolicyInput, type ResolvedPolicy } from './policy.js';
import type { ConsumeOptions, PolicyDecision, RateLimitDecision, RateLimiter, RateLimiterStats, StatusOptions } from './types.js';

export interface CreateMemoryRateLimiterOptions {
  policies: Record<string, RateLimitPolicyInput>;
  clock?: Clock;
  /** Most counters kept; beyond it the least recently written is dropped (default 100 000). */
  maxKeys?: number;
  /** How long a request id is remembered (default 60 s), and how many (default 10 000). */
  requestIdTtlMs?: number;
  maxRequestIds?: number;
}

interface Entry {
  state: AlgorithmState;
  expiresAt: number;
}

/** A Map used as a bounded, insertion-ordered cache: writing moves a key to the young end. */
function boundedSet<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

const EMPTY: AlgorithmState = [undefined, undefined, undefined];

/** Evaluates policies over in-process state: the same steps, the same all-or-nothing rule as the script. */
export class MemoryCounters {
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  evaluate(policies: ResolvedPolicy[], key: string, cost: number, now: number, write: boolean): PolicyDecision[] {
    const steps = policies.map((policy) => {
      const entry = this.#entries.get(`${policy.name}\0${key}`);
      const state = entry === undefined || entry.expiresAt <= now ? EMPTY : entry.state;
      return ALGORITHM_STEPS[policy.algorithm](state, now, policy.limit, policy.periodMs, policy.burst, cost);
    });
    const allowed = steps.every((step) => step.allowed);
    if (write && allowed) {
      policies.forEach((policy, i) => {
        const step = steps[i]!;
        boundedSet(this.#entries, `${policy.name}\0${key}`, { state: step.state, expiresAt: now + Math.max(1, Math.ceil(step.ttl)) }, this.#maxKeys);
      });
    }
    return policies.map((policy, i) => {
      const step = steps[i]!;
      return {
        policy: policy.name,
        algorithm: policy.algorithm,
        allowed: step.allowed,
        remaining: step.remaining,
        limit: reportedLimit(policy.algorithm, policy.limit, policy.burst),
        windowMs: policy.periodMs,
        resetMs: Math.ceil(step.reset),
        retryAfterMs: Math.ceil(step.retry),
      };
    });
  }

  /** Live counters (not expired at `now`), for snapshots. */
  *live(now: number): Generator<{ policy: string; key: string; state: AlgorithmState; expiresAt: number }> {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt <= now) continue;
      const cut = id.indexOf('\0');
      yield { policy: id.slice(0, cut), key: id.slice(cut + 1), state: entry.state, expiresAt: entry.expiresAt };
    }
  }

  delete(policy: string, key: string): boolean {
    return this.#entries.delete(`${policy}\0${key}`);
  }

  /** How many counters are held (live or not yet dropped). */
  get size(): number {
    return this.#entries.size;
  }
}

/** Snapshot format v1 of the in-process limiter's counters (`ratelimit migrate --from <file>.json`). */
export interface MemorySnapshot {
  format: 'opsctl-ratelimit-snapshot';
  version: 1;
  /** Epoch ms (this process's clock) when it was taken. */
  savedAt: number;
  counters: { policy: string; key: string; state: (number | null)[]; expiresAt: number }[];
}

export interface MemoryRateLimiter extends RateLimiter {
  /** The live counters, to move them to Redis without a burst at cut-over. */
  snapshot(): MemorySnapshot;
}

/**
 * The limiter for a single process: the same policies, algorithms and decisions as
 * createRateLimiter, with state in memory. Also the fallback of the Redis limiter.
 */
export function createMemoryRateLimiter(options: CreateMemoryRateLimiterOptions): MemoryRateLimiter {
  const policySet = new PolicySet(options.policies);
  const clock = options.clock ?? systemClock;
  const store = new MemoryCounters(options.maxKeys ?? 100_000);
  const requestIdTtlMs = options.requestIdTtlMs ?? 60_000;
  const maxRequestIds = options.maxRequestIds ?? 10_000;
  const seen = new Map<string, { decision: RateLimitDecision; expiresAt: number }>();
  let decisions = 0;
  let replayed = 0;

  return {
    policies: policySet.inputs,
    async consume(names, key, consumeOptions: ConsumeOptions = {}) {
      const cost = consumeOptions.cost ?? 1;
      checkCost(cost);
      const policies = policySet.resolve(names, key);
      const now = clock.now();
      const requestId = consumeOptions.requestId;
      if (requestId !== undefined) {
        const previous = seen.get(`${key}\0${requestId}`);
        if (previous !== undefined && previous.expiresAt > now) {
          replayed += 1;
          return { ...previous.decision, source: 'replayed' };
        }
      }
      decisions += 1;
      const decision = combineDecisions(store.evaluate(policies, key, cost, now, true), 'memory', now);
      if (requestId !== undefined) boundedSet(seen, `${key}\0${requestId}`, { decision, expiresAt: now + requestIdTtlMs }, maxRequestIds);
      return decision;
    },
    async status(names, key, statusOptions: StatusOptions = {}) {
      const cost = statusOptions.cost ?? 1;
      checkCost(cost);
      const now = clock.now();
      return combineDecisions(beforeCost(store.evaluate(policySet.resolve(names, key), key, cost, now, false), cost), 'memory', now);
    },
    async reset(names, key) {
      return policySet.resolve(names, key).filter((policy) => store.delete(policy.name, key)).length;
    },
    stats(): RateLimiterStats {
      return { redisDecisions: 0, replayed, localRefusals: 0, withoutRedis: { allowed: 0, refused: 0, failedClosed: 0 }, memoryDecisions: decisions };
    },
    snapshot(): MemorySnapshot {
      const now = clock.now();
      const counters = [...store.live(now)].map((c) => ({ policy: c.policy, key: c.key, state: c.state.map((v) => v ?? null), expiresAt: c.expiresAt }));
      return { format: 'opsctl-ratelimit-snapshot', version: 1, savedAt: now, counters };
    },
    async close() {},
  };
}
