import { OpsError } from '../core/errors.js';
import { parseRate } from '../core/parse.js';

/** The algorithms; each is one Lua script (beside this module) and one function of algorithms.ts. */
export const ALGORITHMS = ['fixed-window', 'sliding-window', 'token-bucket', 'gcra'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** What happens to a decision when Redis cannot be reached. */
export type FailMode = 'open' | 'closed';

/** A policy as written in config or handed to the factory. */
export interface RateLimitPolicyInput {
  algorithm: Algorithm;
  /** `"100/1m"`, `"50/s"`, `"10/500ms"`: units per period. */
  rate: string;
  /** Units allowed at once (token bucket, GCRA); default: the rate's count. Ignored by the windows. */
  burst?: number | undefined;
  /** `open` (default): decide in-process while Redis is unreachable; `closed`: refuse. */
  failMode?: FailMode | undefined;
  /** Per-key replacements of rate and burst (a partner with a higher quota). */
  overrides?: Record<string, { rate?: string | undefined; burst?: number | undefined }> | undefined;
}

/** A policy ready to evaluate for one key. */
export interface ResolvedPolicy {
  name: string;
  algorithm: Algorithm;
  limit: number;
  periodMs: number;
  burst: number;
  failMode: FailMode;
}


function badPolicy(name: string, message: string): OpsError {
  return new OpsError('RATELIMIT_BAD_POLICY', `rate limit policy "${name}": ${message}`, {
    hint: 'Write rate as "<count>/<period>" (e.g. "100/1m") and burst as a positive integer.',
  });
}

/** Checks a policy and computes its numbers for `key` (its override when one matches). */
export function resolvePolicy(name: string, input: RateLimitPolicyInput, key?: string): ResolvedPolicy {
  const override = key === undefined ? undefined : input.overrides?.[key];
  const rateText = override?.rate ?? input.rate;
  const rate = parseRate(rateText);
  if (rate === undefined) throw badPolicy(name, `rate "${rateText}" is not "<count>/<period>"`);
  if (!(ALGORITHMS as readonly string[]).includes(input.algorithm)) {
    throw badPolicy(name, `algorithm "${input.algorithm}" is not one of ${ALGORITHMS.join(', ')}`);
  }
  const burst = override?.burst ?? input.burst ?? rate.limit;
  if (!Number.isSafeInteger(burst) || burst < 1) throw badPolicy(name, `burst ${burst} is not a positive integer`);
  return { name, algorithm: input.algorithm, limit: rate.limit, periodMs: rate.periodMs, burst, failMode: input.failMode ?? 'open' };
}

/** Validates every policy up front, so a typo fails at start-up and not on the first request. */
export function validatePolicies(policies: Record<string, RateLimitPolicyInput>): void {
  for (const [name, input] of Object.entries(policies)) {
    resolvePolicy(name, input);
    for (const key of Object.keys(input.overrides ?? {})) resolvePolicy(name, input, key);
  }
}

/** Costs are whole units: zero, negative or fractional costs are a caller bug, not a decision. */
export function checkCost(cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 1) {
    throw new OpsError('RATELIMIT_BAD_INPUT', `rate limit cost must be a positive integer, got ${String(cost)}`, {
      hint: 'Pass cost as 1 or more (whole units); to look without consuming use status().',
    });
  }
}
