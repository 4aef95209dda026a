import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryCache, type QueryCache } from '../../src/cache/query-cache.js';
import { installTriggers } from '../../src/cache/triggers.js';
import { rejection } from '../helpers/assertions.js';
import { usePostgres } from '../helpers/postgres.js';
import { startRedis, useRedis } from '../helpers/redis.js';

const redisServer = useRedis();
const pgServer = usePostgres();
let redis: Redis;
let pool: pg.Pool;
const caches: QueryCache[] = [];
let prefixCounter = 0;

/** A cache on its own key prefix, closed after the file. */
function newCache(options: Partial<Parameters<typeof createQueryCache>[0]> = {}, prefix?: string): QueryCache {
  prefixCounter += 1;
  const cache = createQueryCache({
    redis,
    pg: pool,
    keyPrefix: prefix ?? `t${prefixCounter}:`,
    namespaces: { short: { ttl: 150, jitter: 0 }, tiny: { maxBytes: 200 }, swr: { ttl: 100, jitter: 0, staleWhileRevalidate: 10_000 } },
    xfetchBeta: 0,
    ...options,
  });
  caches.push(cache);
  return cache;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

beforeAll(async () => {
  redis = new Redis(redisServer().url);
  await redis.ping();
  pool = new pg.Pool({ connectionString: pgServer().url, max: 20 });
  pool.on('error', () => undefined);
  await pool.query(`
    create table items (id int primary key, name text, price numeric(10,2), big int8, born timestamptz, blob bytea, doc jsonb, note text);
    insert into items select i, 'item ' || i, i * 1.5, 9007199254740993 + i, '2026-01-02T03:04:05.678Z'::timestamptz, '\\x00ff'::bytea, jsonb_build_object('i', i), null
      from generate_series(1, 50) i;
    create table calls (id serial primary key, at timestamptz default clock_timestamp());
    create table account (id int primary key, balance int not null);
    insert into account values (1, 0);
    -- Counts real executions: every call inserts a row, and takes 50 ms so misses pile up.
    create function counted_items(tag text) returns setof items language plpgsql as $$
    begin
      insert into calls default values;
      perform pg_sleep(0.05);
      return query select * from items where id <= 3 order by id;
    end $$;
  `);
});

afterAll(async () => {
  for (const cache of caches) await cache.close();
  redis.disconnect();
  await pool.end();
});

describe('query cache: values and bad input', () => {
  it('round-trips pg types: Date, numeric and int8 strings, Buffer, null, json', async () => {
    const cache = newCache();
    const sql = 'select id, name, price, big, born, blob, doc, note from items where id = $1';
    const direct = (await pool.query(sql, [7])).rows;
    const first = await cache.query(sql, [7]);
    const second = await cache.query(sql, [7]);
    expect(first.source).toBe('database');
    expect(second.source).toBe('redis');
    expect(second.rows).toEqual(direct);
    const row = second.rows[0]!;
    expect(row.born).toBeInstanceOf(Date);
    expect(Buffer.isBuffer(row.blob)).toBe(true);
    expect(row.price).toBe('10.50');
    expect(row.big).toBe('9007199254741000');
    expect(row.note).toBeNull();
    expect(row.doc).toEqual({ i: 7 });
  });

  it('treats spacing, comments and keyword case as the same statement; other params as another', async () => {
    const cache = newCache();
    await cache.query('select name from items where id = $1', [1]);
    expect((await cache.query('SELECT  name\n FROM items -- the first\n WHERE id = $1;', [1])).source).toBe('redis');
    expect((await cache.query('select name from items where id = $1', [2])).source).toBe('database');
  });

  it('compresses large results and still round-trips them', async () => {
    const cache = newCache({ compressAbove: 256 });
    await cache.query('select * from items order by id');
    const hit = await cache.query('select * from items order by id');
    expect(hit.rows).toHaveLength(50);
    const stored = await redis.getBuffer(hit.key!);
    expect(stored![1]! & 1).toBe(1);
  });

  it.each([
    ['select now()', 'now'],
    ['select * from items where born < current_timestamp', 'current_timestamp'],
    ['select random()', 'random'],
    ["select nextval('s')", 'nextval'],
    ['select clock_timestamp()', 'clock_timestamp'],
    ['update items set name = $1', 'not a read'],
    ['select * from items for update', 'for update'],
  ])('refuses %s', async (sql, why) => {
    const error = await rejection(newCache().query(sql));
    expect(error.code).toBe('CACHE_UNCACHEABLE_QUERY');
    expect(error.message).toContain(why);
  });

  it('does not mistake a literal for a volatile call', async () => {
    const result = await newCache().query("select 'now()' as text");
    expect(result.rows).toEqual([{ text: 'now()' }]);
  });

  it('rejects an unknown namespace, naming the configured ones', async () => {
    const error = await rejection(newCache().query('select 1', [], { namespace: 'nope' }));
    expect(error.code).toBe('CACHE_UNKNOWN_NAMESPACE');
    expect(error.hint).toContain('short');
  });

  it('serves but does not store a result above maxBytes, and counts it', async () => {
    const cache = newCache();
    const result = await cache.query('select * from items', [], { namespace: 'tiny' });
    expect(result.rows).toHaveLength(50);
    expect(await redis.exists(result.key!)).toBe(0);
    expect((await cache.query('select * from items', [], { namespace: 'tiny' })).source).toBe('database');
    expect(cache.localStats().oversize).toBe(2);
    await cache.flushStats();
    expect(await redis.hget(`${cache.keys.prefix}s:tiny`, 'oversize')).toBe('2');
  });
});

describe('query cache: invalidation', () => {
  it('expires after the TTL (jitter spreads it) and a new TTL can be set', async () => {
    const cache = newCache();
    const first = await cache.query('select name from items where id = 3', [], { namespace: 'short' });
    expect((await cache.query('select name from items where id = 3', [], { namespace: 'short' })).source).toBe('redis');
    await sleep(200);
    expect((await cache.query('select name from items where id = 3', [], { namespace: 'short' })).source).toBe('database');
    expect(await cache.setTtl(first.key!, 60_000)).toBe(true);
    expect(await redis.pttl(first.key!)).toBeGreaterThan(59_000);
    await sleep(200);
    expect((await cache.query('select name from items where id = 3', [], { namespace: 'short' })).source).toBe('redis');
    expect(await cache.setTtl(first.key!.replace(/\{.*\}/, '{00}'), 1000)).toBe(false);

    const jittered = newCache({ defaults: { ttl: 10_000, jitter: 0.5 } });
    const ttls = new Set<number>();
    for (let id = 1; id <= 8; id += 1) ttls.add(Math.round((await redis.pttl((await jittered.query('select id from items where id = $1', [id])).key!)) / 500));
    expect(ttls.size).toBeGreaterThan(1);
  });

  it('invalidates by tag, by explicit key, and by namespace version bump', async () => {
    const cache = newCache();
    const a = await cache.query('select name from items where id = 1', [], { tags: ['catalog'] });
    const b = await cache.query('select name from items where id = 2', [], { tags: ['catalog'] });
    const c = await cache.query('select name from items where id = 3');
    expect(await cache.invalidate({ tags: ['catalog'], dryRun: true })).toEqual({ entries: 2, tags: 1, namespaces: 0 });
    expect(await redis.exists(a.key!, b.key!)).toBe(2);
    expect((await cache.invalidate({ tags: ['catalog'] })).entries).toBe(2);
    expect(await redis.exists(a.key!, b.key!, c.key!)).toBe(1);

    await cache.invalidate({ keys: [c.key!] });
    expect(await redis.exists(c.key!)).toBe(0);
    expect((await rejection(cache.invalidate({ keys: ['foo'] }))).code).toBe('CACHE_BAD_INPUT');

    await cache.query('select name from items where id = 4');
    expect((await cache.query('select name from items where id = 4')).source).toBe('redis');
    await cache.invalidate({ namespaces: ['default'] });
    const after = await cache.query('select name from items where id = 4');
    expect(after.source).toBe('database');
    expect(after.key).not.toBe(c.key);
  });

  it('invalidates by table through the trigger and LISTEN/NOTIFY within 100 ms of the commit', async () => {
    await installTriggers(pool, ['items']);
    await installTriggers(pool, ['items']);
    const cache = newCache({ listen: true });
    await cache.ready();
    const joined = 'select i.name from items i join calls c on c.id = i.id where i.id = 5';
    const first = await cache.query(joined);
    expect(await redis.smembers(`${cache.keys.prefix}t:table:public.items`)).toContain(first.key);
    expect((await cache.query(joined)).source).toBe('redis');
    const simple = await cache.query('select name from items where id = 5');
    await pool.query("update items set name = 'renamed' where id = 5");
    const committed = Date.now();
    await until(async () => (await redis.exists(simple.key!)) === 0, 100);
    expect(Date.now() - committed).toBeLessThan(100);
    expect((await cache.query('select name from items where id = 5')).rows).toEqual([{ name: 'renamed' }]);
    // A rolled-back write sends no notification.
    const kept = await cache.query('select name from items where id = 6');
    await pool.query('begin; update items set name = $$x$$ where id = 6; rollback;').catch(() => undefined);
    await sleep(50);
    expect(await redis.exists(kept.key!)).toBe(1);
  });

  it('invalidates a comma join by any of its tables; refuses SQL whose tables it cannot tell unless they are declared', async () => {
    const cache = newCache();
    const sql = 'select i.name, a.balance from items as i, public.account a where i.id = a.id';
    const first = await cache.query(sql);
    expect((await cache.query(sql)).source).toBe('redis');
    expect((await cache.invalidate({ tables: ['account'] })).entries).toBe(1);
    expect(await redis.exists(first.key!)).toBe(0);

    const unreadable = 'select name from U&"items" where id = $1';
    const error = await rejection(cache.query(unreadable, [2]));
    expect(error.code).toBe('CACHE_UNCACHEABLE_QUERY');
    expect(error.message).toContain('cannot tell which tables');
    expect(error.hint).toContain('tables');
    expect(cache.localStats().misses).toBe(1);
    const declared = await cache.query(unreadable, [2], { tables: ['items'] });
    expect(declared.rows).toEqual([{ name: 'item 2' }]);
    await cache.invalidate({ tables: ['items'] });
    expect(await redis.exists(declared.key!)).toBe(0);
  });
});

describe('query cache: table listener', () => {
  it('reconnects after its connection is killed and invalidates every table after the gap', async () => {
    await installTriggers(pool, ['items']);
    const warnings: string[] = [];
    const cache = newCache({ listen: true, logger: { warn: (line) => warnings.push(line) } });
    await cache.ready();
    const before = await cache.query('select name from items where id = 11');
    const other = await cache.query('select id from account');
    // What a server restart looks like to the listener: its backend is terminated.
    await pool.query("select pg_terminate_backend(pid) from pg_stat_activity where query = 'listen opsctl_cache'");
    await pool.query("update items set name = 'changed in the gap' where id = 11");
    await until(async () => (await redis.exists(before.key!)) === 0, 3000);
    expect(await redis.exists(other.key!)).toBe(0);
    expect(warnings.some((line) => line.includes('reconnecting'))).toBe(true);
    // Listening again: the next write is seen through the trigger.
    const again = await cache.query('select name from items where id = 12');
    await pool.query("update items set name = 'after' where id = 12");
    await until(async () => (await redis.exists(again.key!)) === 0, 500);
  });
});

describe('query cache: consistency and stampede', () => {
  it('never serves the old value after a committed write plus 100 ms, with readers racing writers', async () => {
    await installTriggers(pool, ['account']);
    const readers = [newCache({ listen: true }, 'race:'), newCache({}, 'race:'), newCache({}, 'race:')];
    await Promise.all(readers.map((cache) => cache.ready()));
    const sql = 'select balance from account where id = 1';
    let committedValue = 0;
    let committedAt = Date.now();
    let stop = false;
    const violations: string[] = [];
    const readLoop = async (cache: QueryCache) => {
      while (!stop) {
        const before = { value: committedValue, at: committedAt };
        const balance = (await cache.query<{ balance: number }>(sql)).rows[0]!.balance;
        if (balance < before.value && Date.now() - before.at > 100) violations.push(`read ${balance} ${Date.now() - before.at} ms after ${before.value} committed`);
      }
    };
    const loops = readers.flatMap((cache) => [readLoop(cache), readLoop(cache)]);
    for (let value = 1; value <= 40; value += 1) {
      await pool.query('update account set balance = $1 where id = 1', [value]);
      committedValue = value;
      committedAt = Date.now();
      await sleep(value % 4 === 0 ? 120 : 15);
    }
    await sleep(150);
    stop = true;
    await Promise.all(loops);
    expect(violations).toEqual([]);
    for (const cache of readers) expect((await cache.query<{ balance: number }>(sql)).rows[0]!.balance).toBe(40);
  });

  it('runs one database query for 200 concurrent misses on one key, across two processes\' caches', async () => {
    const one = newCache({}, 'herd:');
    const two = newCache({}, 'herd:');
    await pool.query('truncate calls');
    const sql = "select * from counted_items('herd')";
    const results = await Promise.all(Array.from({ length: 200 }, (_, index) => (index % 2 === 0 ? one : two).query(sql)));
    expect(results.every((result) => result.rows.length === 3)).toBe(true);
    expect((await pool.query('select count(*)::int as n from calls')).rows[0].n).toBe(1);
  });

  it('serves a stale value while one caller refreshes it', async () => {
    const cache = newCache();
    await pool.query('truncate calls');
    const sql = "select * from counted_items('swr')";
    await cache.query(sql, [], { namespace: 'swr' });
    await sleep(150);
    const stale = await Promise.all(Array.from({ length: 20 }, () => cache.query(sql, [], { namespace: 'swr' })));
    expect(stale.every((result) => result.source === 'stale')).toBe(true);
    await until(async () => (await cache.query(sql, [], { namespace: 'swr' })).source === 'redis', 1000);
    expect((await pool.query('select count(*)::int as n from calls')).rows[0].n).toBe(2);
    expect(cache.localStats().staleHits).toBeGreaterThanOrEqual(20);
  });

  it('refreshes a hot entry early with XFetch before it expires', async () => {
    const cache = newCache({ xfetchBeta: 50 });
    const sql = "select * from counted_items('xfetch')";
    await pool.query('truncate calls');
    await cache.query(sql, [], { ttl: 1000 });
    await until(async () => {
      expect((await cache.query(sql, [], { ttl: 1000 })).source).toBe('redis');
      return (await pool.query('select count(*)::int as n from calls')).rows[0].n === 2;
    }, 900);
  });
});

describe('query cache: in-process tier and failures', () => {
  it('keeps in-process tiers coherent across instances through pub/sub', async () => {
    const one = newCache({ memory: { ttl: 60_000 } }, 'mem:');
    const two = newCache({ memory: { ttl: 60_000 } }, 'mem:');
    await Promise.all([one.ready(), two.ready()]);
    const sql = 'select name from items where id = 9';
    await one.query(sql, [], { tags: ['nine'] });
    expect((await two.query(sql, [], { tags: ['nine'] })).source).toBe('redis');
    expect((await two.query(sql, [], { tags: ['nine'] })).source).toBe('memory');
    await pool.query("update items set name = 'nine' where id = 9");
    await one.invalidate({ tags: ['nine'] });
    await until(async () => (await two.query(sql, [], { tags: ['nine'] })).source !== 'memory', 500);
    expect((await two.query(sql, [], { tags: ['nine'] })).rows).toEqual([{ name: 'nine' }]);
  });

  it('goes straight to PostgreSQL when Redis dies mid-run, logs once, never fails the caller', async () => {
    const server = await startRedis();
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200 });
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('ready', resolve));
    const warnings: string[] = [];
    const cache = createQueryCache({ redis: client, pg: pool, keyPrefix: 'down:', logger: { warn: (line) => warnings.push(line) } });
    try {
      await cache.query('select name from items where id = 1');
      expect((await cache.query('select name from items where id = 1')).source).toBe('redis');
      await server.stop();
      for (let round = 0; round < 5; round += 1) {
        const result = await cache.query('select name from items where id = 1');
        expect(result).toMatchObject({ source: 'database', rows: [{ name: 'item 1' }] });
      }
      expect(warnings).toHaveLength(1);
      expect(cache.localStats().errors).toBeGreaterThanOrEqual(5);
    } finally {
      await cache.close();
      client.disconnect();
      await server.stop();
    }
  });
});
