import type { ExplainStep } from '../core/explain.js';
import type { RedisConfig } from '../config/schema.js';
import { evalshaStep, keyCommand, onNodes } from '../redis/explain.js';
import { sessionKeys } from './layout.js';
import { SESSION_DESTROY_SCRIPT } from './store.js';

/** What the `session` verbs send, as redis-cli lines (`--explain`); keys follow layout 2 (docs/sessions.md). */
export const sessionVerbSteps = {
  list(redis: RedisConfig, redisKey: string, prefix: string, user?: string): ExplainStep[] {
    const keys = sessionKeys(prefix);
    if (user !== undefined) {
      return [{ note: "the user's index: session ids scored by absolute expiry (expired ones are pruned first with ZREMRANGEBYSCORE)", pipeline: [keyCommand(redis, redisKey, ['ZRANGE', keys.user(user), '0', '-1'])] }];
    }
    return onNodes(redis, redisKey, 'every primary', ['--scan', '--pattern', keys.sessionPattern], 'then GET (HGETALL for a layout 1 hash) and PTTL of each session found');
  },
  show(redis: RedisConfig, redisKey: string, prefix: string, id: string): ExplainStep[] {
    const key = sessionKeys(prefix).session(id);
    return [
      {
        note: 'one string: 2:<revision>:<created>:<expires>:<user>:<JSON or AES-256-GCM body> (a layout 1 session answers WRONGTYPE and is read with HGETALL)',
        pipeline: [keyCommand(redis, redisKey, ['GET', key])],
      },
      { pipeline: [keyCommand(redis, redisKey, ['PTTL', key])] },
    ];
  },
  revoke(redis: RedisConfig, redisKey: string, prefix: string, id: string): ExplainStep[] {
    const keys = sessionKeys(prefix);
    return [
      evalshaStep(redis, redisKey, SESSION_DESTROY_SCRIPT.sha, SESSION_DESTROY_SCRIPT.name, [keys.session(id)], ['', '']),
      { note: 'then the id leaves its user index (the user the script returned)', pipeline: [keyCommand(redis, redisKey, ['ZREM', keys.user('<user>'), id])] },
    ];
  },
};
