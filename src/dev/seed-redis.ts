import { Faker, en } from '@faker-js/faker';
import type { Pool } from 'pg';
import type { RateLimitConfig } from '../config/schema.js';
import { noProgress, type ProgressReporter } from '../core/progress.js';
import { createQueryCache, type CreateQueryCacheOptions } from '../cache/query-cache.js';
import { createRateLimiter } from '../ratelimit/limiter.js';
import { counterKey } from '../ratelimit/keys.js';
import type { RedisClient } from '../redis/connection.js';
import { createSessionStore, type CreateSessionStoreOptions } from '../session/store.js';
import { SEED_SCHEMA } from './seed.js';

/**
 * The Redis side of `dev seed`: what the platform's servers would have written by now, through
 * the same libraries they use, so every `session`, `ratelimit` and `cache` command has data to
 * show. Users are the seeded `app.users` (ids 1..users); the same seed picks the same users,
 * session contents, counts and queries (session ids stay random: they are credentials).
 * Re-seeding replaces: the chosen users' sessions and counters are removed first.
 */
export interface RedisSeedOptions {
  redis: RedisClient;
  /** The seeded PostgreSQL (the cache entries are real query results over schema `app`). */
  pool: Pool;
  seed: number;
  users: number;
  sessions: number;
  rateLimitKeys: number;
  cacheQueries: number;
  session: Omit<CreateSessionStoreOptions, 'client'>;
  /** The profile's rate limit policies; without any, no counters are seeded. */
  ratelimit: RateLimitConfig | undefined;
  cache: Pick<CreateQueryCacheOptions, 'keyPrefix' | 'defaults' | 'namespaces'>;
  progress?: ProgressReporter;
  signal?: AbortSignal;
}

export interface RedisSeedResult {
  sessions: number;
  /** Distinct users the sessions belong to. */
  sessionUsers: number;
  rateLimitCounters: number;
  cacheEntries: number;
}

const PAGES = ['/', '/orders', '/account', '/support', '/checkout'];

export async function seedRedisData(options: RedisSeedOptions): Promise<RedisSeedResult> {
  const faker = new Faker({ locale: [en], seed: options.seed });
  const userId = () => faker.number.int({ min: 1, max: options.users });
  const total = options.sessions + options.rateLimitKeys + options.cacheQueries;
  const task = (options.progress ?? noProgress).start('seeding Redis', { total, unit: 'items' });
  let done = 0;
  const step = () => task.update((done += 1));
  try {
    // Sessions: signed-in users with a cart and preferences, as the session store writes them.
    const store = createSessionStore({ ...options.session, client: options.redis });
    const owners = Array.from({ length: options.sessions }, userId);
    for (const user of new Set(owners)) await store.destroyForUser(String(user));
    for (const user of owners) {
      options.signal?.throwIfAborted();
      await store.create({
        user: String(user),
        data: {
          userId: String(user),
          locale: faker.helpers.arrayElement(['en-GB', 'en-US', 'de-DE', 'fr-FR']),
          lastPage: faker.helpers.arrayElement(PAGES),
          cart: Array.from({ length: faker.number.int({ min: 0, max: 4 }) }, () => ({ sku: faker.string.alphanumeric(8).toUpperCase(), quantity: faker.number.int({ min: 1, max: 3 }) })),
        },
      });
      step();
    }
    await store.close();

    // Rate limit counters: part of each policy's quota used by the first users.
    let counters = 0;
    const policies = Object.keys(options.ratelimit?.policies ?? {});
    if (options.ratelimit !== undefined && policies.length > 0) {
      const limiter = createRateLimiter({ redis: options.redis, policies: options.ratelimit.policies, keyPrefix: options.ratelimit.keyPrefix, recordRefusals: false, refusalCacheSize: 0 });
      for (let user = 1; user <= Math.min(options.rateLimitKeys, options.users); user += 1) {
        options.signal?.throwIfAborted();
        const key = `user:${user}`;
        await options.redis.del(...policies.map((policy) => counterKey(options.ratelimit!.keyPrefix, policy, key)));
        for (const policy of policies) {
          await limiter.consume(policy, key, { cost: faker.number.int({ min: 1, max: 5 }) });
          counters += 1;
        }
        step();
      }
      await limiter.close();
    }

    // Cache entries: each user's recent orders, tagged by user and remembered by table.
    const cache = createQueryCache({ redis: options.redis, pg: options.pool, ...options.cache, subscriber: false });
    let entries = 0;
    for (let user = 1; user <= Math.min(options.cacheQueries, options.users); user += 1) {
      options.signal?.throwIfAborted();
      const result = await cache.query(
        `select id, total_cents, currency, created_at from ${SEED_SCHEMA}.orders where user_id = $1 order by created_at desc limit 10`,
        [user],
        { tags: [`user:${user}`] },
      );
      if (result.key !== undefined) entries += 1;
      step();
    }
    await cache.close();
    const result = { sessions: owners.length, sessionUsers: new Set(owners).size, rateLimitCounters: counters, cacheEntries: entries };
    task.finish(true, `seeded ${result.sessions} sessions, ${result.rateLimitCounters} rate limit counters, ${result.cacheEntries} cache entries`);
    return result;
  } catch (error) {
    task.finish(false, 'seeding Redis failed');
    throw error;
  }
}
