import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createQueryCache } from '../../src/cache/query-cache.js';
import { installTriggers } from '../../src/cache/triggers.js';
import { pgServerUser } from '../../src/postgres/tools.js';
import { launchPostgres } from '../../src/testing/postgres.js';
import { startPostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

const redisServer = useRedis();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('query cache table listener across a PostgreSQL restart', () => {
  it('reconnects after the server restarts and invalidates every table changed in the gap', async () => {
    const server = await startPostgres();
    cleanups.push(() => server.stop());
    const pool = new pg.Pool({ connectionString: server.url });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const redis = new Redis(redisServer().url);
    await redis.ping();
    cleanups.push(async () => redis.disconnect());
    await pool.query("create table stock (id int primary key, qty int); insert into stock values (1, 10)");
    await installTriggers(pool, ['stock']);
    const warnings: string[] = [];
    const cache = createQueryCache({ redis, pg: pool, listen: true, logger: { warn: (line) => warnings.push(line) } });
    cleanups.push(() => cache.close());
    await cache.ready();
    const before = await cache.query<{ qty: number }>('select qty from stock where id = 1');

    // A real restart: fast shutdown of the postmaster, then a new one on the same data directory.
    server.kill('SIGINT');
    while (running(server.pid)) await sleep(20);
    const restarted = await launchPostgres({ binDir: server.binDir, dir: dirname(server.dataDir), dataDir: server.dataDir, user: await pgServerUser(), env: process.env });
    cleanups.push(() => restarted.managed.stop());
    const url = server.url.replace(`:${server.port}/`, `:${restarted.port}/`);
    (pool.options as { connectionString?: string }).connectionString = url;
    // Written before the listener is back: its notification is lost, the gap rule covers it.
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    await writer.query('update stock set qty = 9 where id = 1');
    await writer.end();

    const deadline = Date.now() + 10_000;
    while ((await redis.exists(before.key!)) === 1 && Date.now() < deadline) await sleep(20);
    expect(await redis.exists(before.key!)).toBe(0);
    expect((await cache.query<{ qty: number }>('select qty from stock where id = 1')).rows).toEqual([{ qty: 9 }]);
    expect(warnings.some((line) => line.includes('reconnecting'))).toBe(true);

    // And it listens again: the next write is invalidated through its notification.
    const again = await cache.query('select qty from stock where id = 1');
    await pool.query('update stock set qty = 8 where id = 1');
    const changed = Date.now();
    while ((await redis.exists(again.key!)) === 1 && Date.now() - changed < 1000) await sleep(5);
    expect(await redis.exists(again.key!)).toBe(0);
  }, 60_000);
});
