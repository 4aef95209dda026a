import { OpsError } from '../core/errors.js';

/** One step of a key path: a mapping key, or an index into a list. */
export type PathSegment = string | number;

/**
 * `profiles.prod.redis.cluster.nodes.0.port` (or `nodes[0].port`) → its segments. Every segment
 * is returned as a string: whether `0` is a list index or a mapping key depends on what the
 * path walks through, which only the caller that walks it knows.
 */
export function parseKeyPath(text: string): string[] {
  const normalized = text.trim().replace(/\[(\d+)\]/g, '.$1');
  const segments = normalized.split('.');
  if (normalized === '' || segments.some((segment) => segment === '')) {
    throw new OpsError('USAGE', `invalid key path "${text}"`, {
      hint: 'write keys separated by dots, e.g. profiles.prod.redis.url or profiles.prod.redis.cluster.nodes.0.port',
    });
  }
  return segments;
}

/** Segments → `profiles.prod.redis.url`; the empty path (the whole file) prints as `(root)`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

/** True when `path` starts with every segment of `prefix` (compared as strings). */
export function pathStartsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => String(segment) === String(path[i]));
}

export type Lookup = { found: true; value: unknown } | { found: false; value?: undefined; missingAt: number };

/** Looks a path up in plain data (parsed YAML/JSON); `missingAt` is the first segment not found. */
export function getAtPath(data: unknown, path: readonly PropertyKey[]): Lookup {
  let current = data;
  for (const [i, segment] of path.entries()) {
    if (Array.isArray(current)) {
      const index = Number(segment);
      if (!Number.isInteger(index) || index < 0 || index >= current.length) return { found: false, missingAt: i };
      current = current[index];
    } else if (isPlainObject(current) && Object.hasOwn(current, String(segment))) {
      current = current[String(segment)];
    } else {
      return { found: false, missingAt: i };
    }
  }
  return { found: true, value: current };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
