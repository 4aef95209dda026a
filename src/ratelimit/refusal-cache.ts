import type { RateLimitDecision } from './types.js';

interface Refusal {
  decision: RateLimitDecision;
  cost: number;
  /** Local clock ms when the refused cost can pass again. */
  until: number;
}

/**
 * Keys Redis refused, remembered until their retry time, so a client hammering a key that is
 * over its limit is answered in-process without a round trip. Bounded: the oldest entry goes
 * when it is full. Only a cost at least as large as the refused one is refused locally (a
 * smaller one might pass).
 */
export class RefusalCache {
  readonly #entries = new Map<string, Refusal>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  lookup(id: string, cost: number, now: number): RateLimitDecision | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(id);
      return undefined;
    }
    if (cost < entry.cost) return undefined;
    const left = entry.until - now;
    const decision = entry.decision;
    return {
      ...decision,
      retryAfterMs: decision.retryAfterMs < 0 ? -1 : left,
      resetMs: Math.max(0, decision.resetAt - now),
      source: 'local-refusal',
    };
  }

  remember(id: string, cost: number, decision: RateLimitDecision, now: number): void {
    // A cost that can never pass (retry -1) depends on the cost, not on time: nothing to wait for.
    if (decision.retryAfterMs <= 0) return;
    if (this.#entries.size >= this.#max && !this.#entries.has(id)) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(id, { decision, cost, until: now + decision.retryAfterMs });
  }

  /** Drops every entry of `key` (after a reset). */
  forgetKey(key: string): void {
    for (const id of this.#entries.keys()) if (id.endsWith(`\0${key}`)) this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }
}
