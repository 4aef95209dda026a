/**
 * Key layout v1 (docs/ratelimit.md). Every key of one client key shares the hash tag
 * `{<prefix>:<key>}`, so the counters of several policies and the request id sit in one Cluster
 * slot and one script call can check them all atomically.
 */
export const KEY_LAYOUT_VERSION = 1;
export const DEFAULT_KEY_PREFIX = 'opsctl:rl';

/** The hash holding `key`'s counter under `policy`. */
export function counterKey(prefix: string, policy: string, key: string): string {
  return `{${prefix}:${key}}:${policy}`;
}

/** Remembers the decision of one request id. */
export function requestIdKey(prefix: string, key: string, requestId: string): string {
  return `{${prefix}:${key}}:req:${requestId}`;
}

/** Sorted set of the keys `policy` refused during one minute (epoch minute `minute`). */
export function refusalsKey(prefix: string, policy: string, minute: number): string {
  return `${prefix}:top:${policy}:${minute}`;
}

/** Splits a counter key back into its client key and policy; undefined when it is not one. */
export function parseCounterKey(prefix: string, redisKey: string): { key: string; policy: string } | undefined {
  const start = `{${prefix}:`;
  if (!redisKey.startsWith(start)) return undefined;
  const close = redisKey.lastIndexOf('}:');
  if (close < start.length) return undefined;
  const policy = redisKey.slice(close + 2);
  if (policy.startsWith('req:') || policy === '') return undefined;
  return { key: redisKey.slice(start.length, close), policy };
}
