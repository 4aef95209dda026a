import { parseDuration, parseSize } from '../core/parse.js';
import type { CacheConfig } from '../config/schema.js';
import type { CacheNamespaceSettings, CreateQueryCacheOptions } from './query-cache.js';

/** The profile's cache settings as the factory takes them (durations and sizes in ms/bytes). */
export function queryCacheOptions(config: CacheConfig | undefined): Pick<CreateQueryCacheOptions, 'keyPrefix' | 'defaults' | 'namespaces'> {
  const convert = (own: NonNullable<CacheConfig['defaults']>): Partial<CacheNamespaceSettings> => ({
    ...(own.ttl === undefined ? {} : { ttl: parseDuration(own.ttl) }),
    ...(own.jitter === undefined ? {} : { jitter: own.jitter }),
    ...(own.maxBytes === undefined ? {} : { maxBytes: parseSize(own.maxBytes) }),
    ...(own.staleWhileRevalidate === undefined ? {} : { staleWhileRevalidate: parseDuration(own.staleWhileRevalidate) }),
  });
  const namespaces: Record<string, Partial<CacheNamespaceSettings>> = {};
  for (const [name, own] of Object.entries(config?.namespaces ?? {})) namespaces[name] = convert(own);
  return { ...(config?.keyPrefix === undefined ? {} : { keyPrefix: config.keyPrefix }), defaults: convert(config?.defaults ?? {}), namespaces };
}
