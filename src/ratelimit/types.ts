import type { Algorithm, RateLimitPolicyInput } from './policy.js';

/** Where a decision was made. */
export type DecisionSource =
  /** By the Lua script in Redis. */
  | 'redis'
  /** A request id Redis had already decided: its first answer, nothing consumed again. */
  | 'replayed'
  /** Refused in-process: the key was refused by Redis and its retry time has not come yet. */
  | 'local-refusal'
  /** Redis unreachable; the in-process limiter decided (failMode open). */
  | 'fallback'
  /** Redis unreachable; refused because a policy fails closed. */
  | 'fail-closed'
  /** The in-process limiter (createMemoryRateLimiter). */
  | 'memory';

/** One policy's part of a decision. */
export interface PolicyDecision {
  policy: string;
  algorithm: Algorithm;
  allowed: boolean;
  /** Units still available after this call. */
  remaining: number;
  /** The window quota (fixed/sliding window) or the burst (token bucket, GCRA). */
  limit: number;
  /** The policy's period in ms (`100/1m` → 60 000). */
  windowMs: number;
  /** Ms until the full quota is back. */
  resetMs: number;
  /** Ms until the same cost could pass; 0 when allowed; -1 when it never can (cost above the limit). */
  retryAfterMs: number;
}

/** The answer to consume()/status(): allowed only when every policy allows. */
export interface RateLimitDecision {
  allowed: boolean;
  /** The binding policy: the refusing one with the longest wait, or the allowing one with the least left. */
  policy: string;
  remaining: number;
  limit: number;
  resetMs: number;
  /** Wall-clock ms since the epoch (this process's clock) when the full quota is back. */
  resetAt: number;
  retryAfterMs: number;
  source: DecisionSource;
  policies: PolicyDecision[];
}

export interface ConsumeOptions {
  /** Units this call takes (a positive integer, default 1). */
  cost?: number;
  /**
   * Idempotency: a call re-sent with the same id (after a reconnect or failover) returns the
   * first decision and consumes nothing more. Remembered for `requestIdTtlMs`.
   */
  requestId?: string;
}

export interface StatusOptions {
  /** The cost to evaluate (default 1); nothing is consumed. */
  cost?: number;
}

/** Counters since the limiter was created. */
export interface RateLimiterStats {
  /** Decisions made by the Lua script. */
  redisDecisions: number;
  /** Request ids Redis had already seen. */
  replayed: number;
  /** Refusals answered from the local refusal cache, without a round trip. */
  localRefusals: number;
  /** Decisions of createMemoryRateLimiter (always 0 for the Redis limiter). */
  memoryDecisions: number;
  /** Decisions made without Redis, by kind. */
  withoutRedis: { allowed: number; refused: number; failedClosed: number };
}

/** The shared API of createRateLimiter (Redis) and createMemoryRateLimiter (one process). */
export interface RateLimiter {
  /** Takes `cost` units from `key` under every named policy, or from none of them. */
  consume(policies: string | readonly string[], key: string, options?: ConsumeOptions): Promise<RateLimitDecision>;
  /** Decides as consume() would, without taking anything. */
  status(policies: string | readonly string[], key: string, options?: StatusOptions): Promise<RateLimitDecision>;
  /** Forgets `key`'s counters under the named policies; returns how many counters existed. */
  reset(policies: string | readonly string[], key: string): Promise<number>;
  stats(): RateLimiterStats;
  /** The configured policies, by name. */
  readonly policies: Readonly<Record<string, RateLimitPolicyInput>>;
  close(): Promise<void>;
}
