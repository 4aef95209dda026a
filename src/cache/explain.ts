import type { ExplainStep } from '../core/explain.js';
import type { PostgresConfig, RedisConfig } from '../config/schema.js';
import { psqlInvocation } from '../postgres/explain.js';
import { keyCommand, onNodes } from '../redis/explain.js';
import { CacheKeys } from './keys.js';
import { installTriggerSql, uninstallTriggerSql } from './triggers.js';

/** What the `cache` verbs send, as redis-cli / psql lines (`--explain`); keys follow layout v1. */
export const cacheVerbSteps = {
  keys(redis: RedisConfig, redisKey: string, prefix: string, options: { namespace?: string; tag?: string }): ExplainStep[] {
    const keys = new CacheKeys(prefix);
    if (options.tag !== undefined) {
      return [{ note: 'the entry keys recorded under the tag (then PTTL and the header of each)', pipeline: [keyCommand(redis, redisKey, ['SMEMBERS', keys.tag(options.tag)])] }];
    }
    return onNodes(redis, redisKey, 'every primary', ['--scan', '--pattern', keys.entryPattern(options.namespace)], 'then PTTL and the header of each entry found');
  },
  flush(redis: RedisConfig, redisKey: string, prefix: string, namespaces: readonly string[]): ExplainStep[] {
    const keys = new CacheKeys(prefix);
    return namespaces.map((namespace, i) => ({
      ...(i === 0 ? { note: 'a new namespace version each: every older entry is unreachable at once and expires by its TTL' } : {}),
      pipeline: [keyCommand(redis, redisKey, ['INCR', keys.version(namespace)])],
    }));
  },
  triggers(postgres: PostgresConfig, postgresKey: string, action: 'install' | 'uninstall', tables: readonly string[]): ExplainStep[] {
    const statements = action === 'install' ? installTriggerSql(tables) : uninstallTriggerSql(tables);
    const migrations = "; opsctl first applies its pending schema migrations (src/postgres/migrations/*.sql, which create opsctl.cache_notify()) under an advisory lock";
    return [{ note: `in one transaction${action === 'install' ? migrations : ''}`, pipeline: [psqlInvocation(postgres, postgresKey, ['begin', ...statements, 'commit'].join(';\n'))] }];
  },
};
