/**
 * Key layout v2 (docs/ratelimit.md). Every key of one client key shares the hash tag
 * `{<prefix>:<key>}`, so the counters of several policies and the request id sit in one Cluster
 * slot and one script call can check them all atomically. v2 keeps a counter's state in a string
 * (v1: a hash); the scripts still read a v1 hash and rewrite it as v2.
 */
export const KEY_LAYOUT_VERSION = 2;
export const DEFAULT_KEY_PREFIX = 'opsctl:rl';

/** The hash holding `key`'s counter under `policy`. */
export function counterKey(prefix: string, policy: string, key: string): string {
  return `{${prefix}:${key}}:${policy}`;
}

/**
 * A counter's value in layout v2: the algorithm's state numbers separated by spaces, up to the
 * first missing one. String(number) is the shortest exact form: tonumber() in the script reads
 * back the same double.
 */
export function encodeCounterState(state: readonly (number | null | undefined)[]): string {
  const end = state.findIndex((value) => value === null || value === undefined);
  return (end < 0 ? state : state.slice(0, end)).map(String).join(' ');
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
