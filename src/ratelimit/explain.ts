import type { ExplainStep } from '../core/explain.js';
import type { RateLimitConfig, RedisConfig } from '../config/schema.js';
import { evalshaStep } from '../redis/explain.js';
import { PolicySet } from './decision.js';
import { DEFAULT_REQUEST_ID_TTL_MS, scriptCall } from './limiter.js';

/** `ratelimit status|consume` as the one EVALSHA the limiter sends (`--explain`). */
export function decisionSteps(
  redis: RedisConfig,
  redisKey: string,
  config: RateLimitConfig,
  names: readonly string[],
  key: string,
  options: { mode: 'consume' | 'peek'; cost: number; requestId?: string },
): ExplainStep[] {
  const policies = new PolicySet(config.policies).resolve(names, key);
  const call = scriptCall(config.keyPrefix, policies, key, options.cost, { mode: options.mode, requestId: options.requestId, requestIdTtlMs: DEFAULT_REQUEST_ID_TTL_MS });
  return [evalshaStep(redis, redisKey, call.script.sha, call.script.name, call.keys, call.args.map(String))];
}
