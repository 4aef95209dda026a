import { OpsError } from '../core/errors.js';
import { resolvePolicy, validatePolicies, type RateLimitPolicyInput, type ResolvedPolicy } from './policy.js';
import type { DecisionSource, PolicyDecision, RateLimitDecision } from './types.js';

/** Folds the per-policy answers into one decision (allowed only when all allow). */
export function combineDecisions(parts: PolicyDecision[], source: DecisionSource, nowMs: number): RateLimitDecision {
  const refused = parts.filter((part) => !part.allowed);
  let binding: PolicyDecision;
  let retryAfterMs = 0;
  if (refused.length > 0) {
    const never = refused.find((part) => part.retryAfterMs < 0);
    binding = never ?? refused.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a));
    retryAfterMs = binding.retryAfterMs;
  } else {
    binding = parts.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  }
  return {
    allowed: refused.length === 0,
    policy: binding.policy,
    remaining: binding.remaining,
    limit: binding.limit,
    resetMs: binding.resetMs,
    resetAt: nowMs + binding.resetMs,
    retryAfterMs,
    source,
    policies: parts,
  };
}

/**
 * status() evaluates a cost without taking it; what it reports as remaining is what is left
 * now, so the cost an allowing policy counted is given back.
 */
export function beforeCost(parts: PolicyDecision[], cost: number): PolicyDecision[] {
  return parts.map((part) => (part.allowed ? { ...part, remaining: part.remaining + cost } : part));
}

/**
 * The policies of one limiter, resolved once (rate parsing is not on the hot path), with the
 * per-key overrides looked up per call.
 */
export class PolicySet {
  readonly inputs: Readonly<Record<string, RateLimitPolicyInput>>;
  readonly #base = new Map<string, ResolvedPolicy>();
  readonly #overridden = new Map<string, Map<string, ResolvedPolicy>>();

  constructor(policies: Record<string, RateLimitPolicyInput>) {
    validatePolicies(policies);
    this.inputs = policies;
    for (const [name, input] of Object.entries(policies)) {
      this.#base.set(name, resolvePolicy(name, input));
      const overrides = Object.keys(input.overrides ?? {});
      if (overrides.length > 0) this.#overridden.set(name, new Map(overrides.map((key) => [key, resolvePolicy(name, input, key)])));
    }
  }

  /** The resolved policies for `key`, in the order named. */
  resolve(names: string | readonly string[], key: string): ResolvedPolicy[] {
    const list = typeof names === 'string' ? [names] : names;
    if (list.length === 0) throw new OpsError('RATELIMIT_BAD_INPUT', 'no rate limit policy named', { hint: 'Name at least one policy.' });
    if (typeof key !== 'string' || key === '') {
      throw new OpsError('RATELIMIT_BAD_INPUT', 'the rate limit key is empty', { hint: 'Pass the client identity (user id, API key, IP) as the key.' });
    }
    return list.map((name) => {
      const policy = this.#overridden.get(name)?.get(key) ?? this.#base.get(name);
      if (policy === undefined) {
        throw new OpsError('RATELIMIT_UNKNOWN_POLICY', `no rate limit policy "${name}"`, {
          hint: `Configured policies: ${Object.keys(this.inputs).join(', ') || 'none'} (ratelimit.policies in the profile).`,
        });
      }
      return policy;
    });
  }
}
