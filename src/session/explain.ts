import type { ExplainStep } from '../core/explain.js';
import type { RedisConfig } from '../config/schema.js';
import { evalshaStep, keyCommand, onNodes } from '../redis/explain.js';
import { sessionKeys } from './layout.js';
import { SESSION_DESTROY_SCRIPT } from './store.js';

/** What the `session` verbs send, as redis-cli lines (`--explain`); keys follow layout v1. */
export const sessionVerbSteps = {
  list(redis: RedisConfig, redisKey: string, prefix: string, user?: string): ExplainStep[] {
    const keys = sessionKeys(prefix);
    if (user !== undefined) {
      return [{ note: "the user's index: session ids scored by absolute expiry (expired ones are pruned first with ZREMRANGEBYSCORE)", pipeline: [keyCommand(redis, redisKey, ['ZRANGE', keys.user(user), '0', '-1'])] }];
    }
    return onNodes(redis, redisKey, 'every primary', ['--scan', '--pattern', keys.sessionPattern], 'then HMGET _v _u _c _e _b and PTTL of each session found');
  },
  show(redis: RedisConfig, redisKey: string, prefix: string, id: string): ExplainStep[] {
    const key = sessionKeys(prefix).session(id);
    return [
      { note: 'metadata (_v _c _e _b _u) and one d:<field> per data field; values are JSON, or AES-256-GCM when encryption is on', pipeline: [keyCommand(redis, redisKey, ['HGETALL', key])] },
      { pipeline: [keyCommand(redis, redisKey, ['PTTL', key])] },
    ];
  },
  revoke(redis: RedisConfig, redisKey: string, prefix: string, id: string): ExplainStep[] {
    const keys = sessionKeys(prefix);
    return [
      evalshaStep(redis, redisKey, SESSION_DESTROY_SCRIPT.sha, SESSION_DESTROY_SCRIPT.name, [keys.session(id)], ['']),
      { note: 'then the id leaves its user index (the user the script returned)', pipeline: [keyCommand(redis, redisKey, ['ZREM', keys.user('<user>'), id])] },
    ];
  },
};
