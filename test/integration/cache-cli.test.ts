import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueryCache, type QueryCache } from '../../src/cache/query-cache.js';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

const redisServer = useRedis();
const pgServer = usePostgres({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
let dir: string;
let redis: Redis;
let pool: pg.Pool;
let cache: QueryCache;

const cli = (...argv: string[]) => runCli(argv, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });
const json = <T>(stdout: string) => JSON.parse(stdout) as T;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'opsctl-cache-cli-'));
  await writeFile(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\nprofiles:\n  t:\n    redis:\n      url: ${redisServer().url}\n    postgres:\n      url: ${pgServer().url}\n    cache:\n      namespaces:\n        users: { ttl: 5m }\n`,
  );
  redis = new Redis(redisServer().url);
  await redis.ping();
  pool = new pg.Pool({ connectionString: pgServer().url });
  pool.on('error', () => undefined);
  await pool.query("create table users (id int primary key, name text); insert into users select i, 'u' || i from generate_series(1, 20) i");
  cache = createQueryCache({ redis, pg: pool, namespaces: { users: { ttl: 300_000 } }, subscriber: false });
});

afterAll(async () => {
  await cache.close();
  redis.disconnect();
  await pool.end();
  await rm(dir, { recursive: true, force: true });
});

describe('opsctl cache', () => {
  it('lists, inspects, re-times and invalidates entries an application filled', async () => {
    for (let id = 1; id <= 3; id += 1) await cache.query('select name from users where id = $1', [id], { namespace: 'users', tags: ['people'] });
    await cache.query('select count(*) from users');

    const keys = await cli('cache', 'keys', '--namespace', 'users', '--json');
    expect(keys.code).toBe(0);
    const rows = json<{ key: string; namespace: string }[]>(keys.stdout);
    expect(rows).toHaveLength(3);
    expect((await cli('cache', 'keys', '--tag', 'people', '--json')).stdout).toContain(rows[0]!.key);
    const table = await cli('cache', 'keys');
    expect(table.stdout).toContain('default');
    expect(table.stderr).toContain('4 entries');

    const inspected = await cli('cache', 'inspect', rows[0]!.key, '--json');
    expect(json<{ namespace: string; tags: string[]; rows: number; value?: unknown }>(inspected.stdout)).toMatchObject({ namespace: 'users', tags: ['people', 'table:public.users'], rows: 1 });
    expect(inspected.stdout).not.toContain('"value"');
    const revealed = await cli('cache', 'inspect', rows[0]!.key, '--reveal');
    expect(revealed.stdout).toMatch(/"name": "u\d"/);
    expect((await cli('cache', 'inspect', 'opsctl:cache:e:users:{00}')).code).toBe(1);
    expect((await cli('cache', 'inspect', 'not-a-key')).code).toBe(2);

    expect((await cli('cache', 'ttl', rows[0]!.key, '10s')).code).toBe(0);
    expect(await redis.pttl(rows[0]!.key)).toBeLessThanOrEqual(10_000);

    const dry = await cli('cache', 'invalidate', '--tag', 'people', '--dry-run', '--json');
    expect(json<{ entries: number; dryRun: boolean }>(dry.stdout)).toMatchObject({ entries: 3, dryRun: true });
    expect(await redis.exists(...rows.map((row) => row.key))).toBe(3);
    const done = await cli('cache', 'invalidate', '--table', 'users');
    expect(done.stdout).toContain('invalidated 4 entries');
    expect(await redis.exists(...rows.map((row) => row.key))).toBe(0);
    expect((await cli('cache', 'invalidate')).code).toBe(2);
  });

  it('shows statistics, warms from a file and from the statistics, reporting failures', async () => {
    await cache.query('select name from users where id = $1', [9], { namespace: 'users' });
    await cache.query('select name from users where id = $1', [9], { namespace: 'users' });
    await cache.flushStats();
    const stats = json<{ namespaces: { namespace: string; hits: number; misses: number }[]; top: { sql: string }[] }>((await cli('cache', 'stats', '--namespace', 'users', '--json')).stdout);
    expect(stats.namespaces[0]).toMatchObject({ namespace: 'users' });
    expect(stats.namespaces[0]!.hits).toBeGreaterThanOrEqual(1);
    expect(stats.top[0]!.sql).toContain('select name from users');
    expect((await cli('cache', 'stats')).stdout).toContain('HIT RATIO');

    await writeFile(join(dir, 'queries.yaml'), "- sql: select name from users where id = $1\n  params: [15]\n  namespace: users\n- sql: select * from missing_table\n- select count(*) from users where id > 10\n- sql: select name from U&\"users\" where id = $1\n  params: [16]\n  tables: [users]\n");
    const warmed = await cli('cache', 'warm', '--file', 'queries.yaml', '--json');
    expect(warmed.code).toBe(1);
    expect(json<{ ok: number; failed: unknown[] }>(warmed.stdout)).toMatchObject({ ok: 3, failed: [expect.objectContaining({ sql: 'select * from missing_table' })] });
    expect(warmed.stderr).toContain('missing_table');
    expect((await cache.query('select name from users where id = $1', [15], { namespace: 'users' })).source).toBe('redis');

    await cli('cache', 'flush', '--namespace', 'users', '--yes');
    const fromStats = await cli('cache', 'warm', '--from-stats', '--top', '5', '--json');
    // The statistics also recorded the failing statement of the file: it fails again, reported.
    expect(fromStats.code).toBe(1);
    const warmedFromStats = json<{ ok: number; failed: { sql: string }[] }>(fromStats.stdout);
    expect(warmedFromStats.ok).toBeGreaterThanOrEqual(1);
    expect(warmedFromStats.failed.map((failure) => failure.sql)).toEqual(['select * from missing_table']);
    expect((await cli('cache', 'warm', '--file', 'nope.yaml')).code).toBe(2);
  });

  it('warms from the most called statements in pg_stat_statements, and says when it is missing', async () => {
    expect((await cli('cache', 'warm', '--from-pg-stat-statements')).code).toBe(2);
    await pool.query('create extension pg_stat_statements');
    // The view replaces constants with $n too: only statements without any can be replayed.
    for (let round = 0; round < 5; round += 1) await pool.query('select max(name) from users');
    await pool.query("select name from users where name like 'u1%'");
    await pool.query('select name from users where id = $1', [3]);
    const warmed = await cli('cache', 'warm', '--from-pg-stat-statements', '--top', '3', '--json');
    expect(warmed.code).toBe(0);
    expect(json<{ ok: number; total: number }>(warmed.stdout).ok).toBeGreaterThanOrEqual(1);
    expect((await cache.query('select max(name) from users')).source).toBe('redis');
  });

  it('flushes only with confirmation and rejects unknown namespaces', async () => {
    const before = await cache.query('select name from users where id = 1', [], { namespace: 'users' });
    const refused = await cli('cache', 'flush', '--namespace', 'users');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect((await cli('cache', 'flush', '--dry-run')).stdout).toContain('would flush default, users');
    expect((await cli('cache', 'flush', '--namespace', 'nope', '--yes')).code).toBe(2);
    expect((await cli('cache', 'flush', '--namespace', 'users', '--yes')).code).toBe(0);
    expect(await redis.get('opsctl:cache:v:users')).toBe('2');
    expect((await cache.keyFor('select name from users where id = 1', [], { namespace: 'users' })) === before.key).toBe(false);
  });

  it('installs and removes table triggers idempotently, printing the SQL on --dry-run', async () => {
    const dry = await cli('cache', 'install-triggers', '--table', 'users', '--dry-run');
    expect(dry.stdout).toContain('create or replace function opsctl.cache_notify()');
    expect(dry.stdout).toContain('create or replace trigger opsctl_cache_notify after insert or update or delete or truncate on "public"."users"');
    expect((await pool.query("select count(*)::int as n from pg_trigger where tgname = 'opsctl_cache_notify'")).rows[0].n).toBe(0);
    for (let round = 0; round < 2; round += 1) {
      const installed = await cli('cache', 'install-triggers', '--table', 'users', '--json');
      expect(installed.code).toBe(0);
      expect(json<{ watched: string[] }>(installed.stdout).watched).toEqual(['public.users']);
    }
    expect((await cli('cache', 'install-triggers', '--table', 'users', '--dry-run')).stdout).not.toContain('cache_notify()\nlanguage');
    expect((await cli('cache', 'install-triggers', '--table', 'no_such')).code).toBe(1);
    expect((await cli('cache', 'install-triggers', '--table', 'bad;name')).code).toBe(2);
    for (let round = 0; round < 2; round += 1) expect(json<{ watched: string[] }>((await cli('cache', 'uninstall-triggers', '--table', 'users', '--json')).stdout).watched).toEqual([]);
  });
});
