import { Cluster } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryCache, type QueryCache } from '../../src/cache/query-cache.js';
import { startRedisCluster, type RedisClusterTopology } from '../../src/testing/index.js';
import { usePostgres } from '../helpers/postgres.js';

const pgServer = usePostgres();
let topology: RedisClusterTopology;
let cluster: Cluster;
let pool: pg.Pool;
let cache: QueryCache;

beforeAll(async () => {
  topology = await startRedisCluster({ primaries: 3, replicasPerPrimary: 0 });
  cluster = new Cluster(topology.seeds);
  await cluster.ping();
  pool = new pg.Pool({ connectionString: pgServer().url });
  pool.on('error', () => undefined);
  await pool.query("create table product (id int primary key, name text); insert into product select i, 'p' || i from generate_series(1, 40) i");
  cache = createQueryCache({ redis: cluster, pg: pool, namespaces: { catalog: {} }, memory: {} });
  await cache.ready();
}, 60_000);

afterAll(async () => {
  await cache?.close();
  cluster?.disconnect();
  await pool?.end();
  await topology?.stop();
});

describe('query cache on Redis Cluster', () => {
  it('spreads entries over slots on every primary, and tags, keys and versions work across them', async () => {
    const results = [];
    for (let id = 1; id <= 40; id += 1) results.push(await cache.query('select name from product where id = $1', [id], { namespace: 'catalog', tags: ['products'] }));
    const slots = new Set(await Promise.all(results.map((result) => cluster.cluster('KEYSLOT', result.key!) as Promise<number>)));
    expect(slots.size).toBeGreaterThan(20);
    const perNode = await Promise.all(cluster.nodes('master').map((node) => node.keys('opsctl:cache:e:*')));
    expect(perNode.every((keys) => keys.length > 0)).toBe(true);
    expect((await cache.query('select name from product where id = $1', [7], { namespace: 'catalog', tags: ['products'] })).source).not.toBe('database');

    expect((await cache.invalidate({ tags: ['products'], dryRun: true })).entries).toBe(40);
    expect((await cache.invalidate({ tags: ['products'] })).entries).toBe(40);
    const left = await Promise.all(results.map((result) => cluster.exists(result.key!)));
    expect(left.every((count) => count === 0)).toBe(true);

    const refilled = await cache.query('select name from product where id = 1', [], { namespace: 'catalog' });
    expect(refilled.source).toBe('database');
    await cache.invalidate({ tables: ['product'] });
    expect(await cluster.exists(refilled.key!)).toBe(0);

    await cache.query('select name from product where id = 2', [], { namespace: 'catalog' });
    await cache.invalidate({ namespaces: ['catalog'] });
    expect((await cache.query('select name from product where id = 2', [], { namespace: 'catalog' })).source).toBe('database');

    await cache.flushStats();
    expect(Number(await cluster.hget('opsctl:cache:s:catalog', 'fills'))).toBeGreaterThanOrEqual(42);
  });

  it('runs one database query for 200 concurrent misses on a Cluster', async () => {
    await pool.query('create table hits (n int); create function counted() returns int language sql as $$ insert into hits values (1); select count(*)::int from product $$');
    const results = await Promise.all(Array.from({ length: 200 }, () => cache.query('select counted() as n', [], { namespace: 'catalog' })));
    expect(results.every((result) => result.rows[0]!.n === 40)).toBe(true);
    expect((await pool.query('select count(*)::int as n from hits')).rows[0].n).toBe(1);
  });
});
