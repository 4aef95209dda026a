import type { RateLimitDecision, RateLimiter, RateLimiterStats } from './types.js';

export interface Disagreement {
  key: string;
  policies: string[];
  /** What each limiter decided. */
  current: boolean;
  next: boolean;
  /** Local clock, epoch ms. */
  at: number;
}

export interface CreateShadowRateLimiterOptions {
  /** The limiter in use until the move is done (e.g. the in-process one, or the old Redis). */
  current: RateLimiter;
  /** The limiter being moved to. */
  next: RateLimiter;
  /** Most recent disagreements kept for `disagreements()` (default 100). */
  keep?: number;
}

export interface ShadowRateLimiter extends RateLimiter {
  /** How many decisions differed, and the most recent of them. */
  disagreements(): { count: number; recent: Disagreement[] };
}

/** The stricter of two decisions: a refusal wins (the longer wait), else the one with less left. */
function stricter(a: RateLimitDecision, b: RateLimitDecision): RateLimitDecision {
  if (a.allowed !== b.allowed) return a.allowed ? b : a;
  if (!a.allowed) return a.retryAfterMs < 0 || (b.retryAfterMs >= 0 && a.retryAfterMs >= b.retryAfterMs) ? a : b;
  return a.remaining <= b.remaining ? a : b;
}

/**
 * Shadow mode for a move between limiters (memory → Redis, one topology → another): every call
 * goes to both, the stricter decision is applied, so the move cannot open a burst, and every
 * call where the two would have decided differently is counted (and the latest kept) until they
 * agree and the old one can be dropped.
 */
export function createShadowRateLimiter(options: CreateShadowRateLimiterOptions): ShadowRateLimiter {
  const keep = options.keep ?? 100;
  const recent: Disagreement[] = [];
  let count = 0;

  function compare(names: string | readonly string[], key: string, current: RateLimitDecision, next: RateLimitDecision): RateLimitDecision {
    if (current.allowed !== next.allowed) {
      count += 1;
      recent.push({ key, policies: typeof names === 'string' ? [names] : [...names], current: current.allowed, next: next.allowed, at: Date.now() });
      if (recent.length > keep) recent.shift();
    }
    return stricter(current, next);
  }

  return {
    policies: options.next.policies,
    async consume(names, key, consumeOptions) {
      const [current, next] = await Promise.all([options.current.consume(names, key, consumeOptions), options.next.consume(names, key, consumeOptions)]);
      return compare(names, key, current, next);
    },
    async status(names, key, statusOptions) {
      const [current, next] = await Promise.all([options.current.status(names, key, statusOptions), options.next.status(names, key, statusOptions)]);
      return stricter(current, next);
    },
    async reset(names, key) {
      const [current, next] = await Promise.all([options.current.reset(names, key), options.next.reset(names, key)]);
      return Math.max(current, next);
    },
    stats(): RateLimiterStats {
      return options.next.stats();
    },
    disagreements: () => ({ count, recent: [...recent] }),
    async close() {
      await Promise.all([options.current.close(), options.next.close()]);
    },
  };
}
