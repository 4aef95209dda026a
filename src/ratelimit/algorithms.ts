import type { Algorithm } from './policy.js';

/**
 * The algorithms in JavaScript, operation for operation the same as the Lua scripts beside this
 * module (same double arithmetic, same rounding), so the in-process limiter decides exactly as
 * Redis does and the property tests use them as the reference model.
 */

/** Stored state: fields a, b, c of the key's hash (see each script for their meaning). */
export type AlgorithmState = [number | undefined, number | undefined, number | undefined];

export interface Step {
  allowed: boolean;
  remaining: number;
  /** Ms until the full quota is back (unrounded). */
  reset: number;
  /** Ms until this cost could pass; -1 when it never can (cost above the limit or burst). */
  retry: number;
  state: [number, number, number];
  ttl: number;
}

type AlgorithmFn = (state: AlgorithmState, now: number, limit: number, period: number, burst: number, cost: number) => Step;

function fixedWindow(state: AlgorithmState, now: number, limit: number, period: number, _burst: number, cost: number): Step {
  const window = Math.floor(now / period);
  let count = state[0] === window ? (state[1] as number) : 0;
  const reset = (window + 1) * period - now;
  const allowed = count + cost <= limit;
  let retry = 0;
  if (allowed) count += cost;
  else retry = cost > limit ? -1 : reset;
  return { allowed, remaining: limit - count, reset, retry, state: [window, count, 0], ttl: reset };
}

function slidingWindow(state: AlgorithmState, now: number, limit: number, period: number, _burst: number, cost: number): Step {
  const window = Math.floor(now / period);
  let current = 0;
  let previous = 0;
  if (state[0] === window) {
    current = state[1] as number;
    previous = state[2] as number;
  } else if (state[0] === window - 1) {
    previous = state[1] as number;
  }
  const elapsed = now - window * period;
  let estimate = previous * ((period - elapsed) / period) + current;
  const allowed = estimate + cost <= limit;
  let retry = 0;
  if (allowed) {
    current = current + cost;
    estimate = estimate + cost;
  } else if (cost > limit) {
    retry = -1;
  } else if (current + cost <= limit) {
    retry = period - ((limit - current - cost) * period) / previous - elapsed;
  } else {
    retry = period - elapsed + period - ((limit - cost) * period) / current;
  }
  let reset = 0;
  if (current > 0) reset = 2 * period - elapsed;
  else if (previous > 0) reset = period - elapsed;
  return {
    allowed,
    remaining: Math.max(0, Math.floor(limit - estimate)),
    reset,
    retry,
    state: [window, current, previous],
    ttl: 2 * period - elapsed,
  };
}

function tokenBucket(state: AlgorithmState, now: number, limit: number, period: number, burst: number, cost: number): Step {
  const rate = limit / period;
  let tokens = burst;
  if (state[0] !== undefined) tokens = Math.min(burst, (state[1] as number) + Math.max(0, now - state[0]) * rate);
  const allowed = tokens >= cost;
  let retry = 0;
  if (allowed) tokens = tokens - cost;
  else retry = cost > burst ? -1 : (cost - tokens) / rate;
  const reset = (burst - tokens) / rate;
  return { allowed, remaining: Math.floor(tokens), reset, retry, state: [now, tokens, 0], ttl: reset };
}

function gcra(state: AlgorithmState, now: number, limit: number, period: number, burst: number, cost: number): Step {
  const interval = period / limit;
  let tat = state[0] !== undefined && state[0] > now ? state[0] : now;
  const newTat = tat + cost * interval;
  const allowAt = newTat - burst * interval;
  const allowed = allowAt <= now;
  let retry = 0;
  if (allowed) tat = newTat;
  else retry = cost > burst ? -1 : allowAt - now;
  return {
    allowed,
    remaining: Math.floor((now + burst * interval - tat) / interval),
    reset: tat - now,
    retry,
    state: [tat, 0, 0],
    ttl: tat - now,
  };
}

export const ALGORITHM_STEPS: Record<Algorithm, AlgorithmFn> = {
  'fixed-window': fixedWindow,
  'sliding-window': slidingWindow,
  'token-bucket': tokenBucket,
  gcra,
};

/** The limit a decision reports: the window quota, or the burst for the rate-shaping algorithms. */
export function reportedLimit(algorithm: Algorithm, limit: number, burst: number): number {
  return algorithm === 'token-bucket' || algorithm === 'gcra' ? burst : limit;
}
