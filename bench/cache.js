// Query cache benchmark (docs/benchmarks.md, "Query cache"): on a real PostgreSQL and Redis
// started for the run, in interleaved rounds, medians reported:
//   1. a join + filter over a 100k-row table, direct vs a cache hit;
//   2. the cache's hit path vs a raw ioredis GET + JSON.parse of the same bytes, and vs
//      cache-manager 7 + Keyv (@keyv/redis) and BentoCache (Redis tier; memory + Redis tiers)
//      on the same Redis; opsctl's in-process tier vs BentoCache's.
// Run after `npm run build`: `npm run bench:cache` (ROUNDS=5 OPS=2000 CONCURRENCY=16).
import { Redis } from 'ioredis';
import pg from 'pg';
import { createCache } from 'cache-manager';
import Keyv from 'keyv';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { memoryDriver } from 'bentocache/drivers/memory';
import { createQueryCache } from '../dist/index.js';
import { startPostgres, startRedis } from '../dist/testing/index.js';
import { median } from './lib.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const OPS = Number(process.env.OPS ?? 2000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const DIRECT_RUNS = 30;
const THROUGHPUT_FACTOR = 5;

const SQL = `select c.id, c.name, c.region, c.note, count(o.id)::int as open_orders, sum(o.amount)::text as total, max(o.created_at) as last_order
  from customers c join orders o on o.customer_id = c.id
  where c.region = $1 and o.status = 'open'
  group by c.id order by sum(o.amount) desc limit 8`;
const PARAMS = ['south'];

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Sequential latencies (µs) of `ops` calls, then throughput with `CONCURRENCY` callers. */
async function measure(fn, ops) {
  const latencies = new Float64Array(ops);
  for (let i = 0; i < ops; i += 1) {
    const start = process.hrtime.bigint();
    await fn();
    latencies[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  latencies.sort();
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ops * THROUGHPUT_FACTOR) {
        next += 1;
        await fn();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), opsPerSec: (ops * THROUGHPUT_FACTOR) / seconds };
}

async function main() {
  const [redisServer, pgServer] = await Promise.all([startRedis(), startPostgres({ settings: { shared_buffers: '64MB' } })]);
  const clients = [];
  try {
    const pool = new pg.Pool({ connectionString: pgServer.url, max: 4 });
    pool.on('error', () => undefined);
    await pool.query(`
      create table customers (id int primary key, name text, region text, note text);
      insert into customers select i, 'customer ' || i, (array['north','south','east','west'])[1 + i % 4], repeat('n', 40) from generate_series(1, 1000) i;
      create table orders (id int primary key, customer_id int references customers, amount numeric(10,2), status text, created_at timestamptz);
      insert into orders select i, 1 + (i * 7919) % 1000, (i % 500) + 0.99, (array['open','paid','shipped','cancelled'])[1 + i % 4], timestamptz '2026-01-01' + i * interval '1 minute' from generate_series(1, 100000) i;
      analyze;
    `);
    const connect = async () => {
      const client = new Redis(redisServer.url);
      clients.push(client);
      await client.ping();
      return client;
    };
    const [cacheRedis, memoryRedis, rawRedis] = await Promise.all([connect(), connect(), connect()]);
    const cache = createQueryCache({ redis: cacheRedis, pg: pool, defaults: { ttl: 600_000 }, keyPrefix: 'bench:', subscriber: false });
    const memoryCache = createQueryCache({ redis: memoryRedis, pg: pool, defaults: { ttl: 600_000 }, keyPrefix: 'bench:', memory: { ttl: 600_000 } });
    await memoryCache.ready();

    const filled = await cache.query(SQL, PARAMS);
    const stored = await cacheRedis.getBuffer(filled.key);
    const body = stored.subarray(14);
    await rawRedis.set('raw:rows', body);
    const rows = filled.rows;

    const keyv = new Keyv({ store: new KeyvRedis(redisServer.url), namespace: 'cm' });
    const cacheManager = createCache({ stores: [keyv] });
    await cacheManager.set('rows', rows, 600_000);
    const { host, port } = redisServer;
    const bentoRedis = new BentoCache({ default: 'c', stores: { c: bentostore().useL2Layer(redisDriver({ connection: { host, port } })) } });
    const bentoBoth = new BentoCache({
      default: 'c',
      stores: { c: bentostore().useL1Layer(memoryDriver({ maxItems: 1000 })).useL2Layer(redisDriver({ connection: { host, port } })) },
    });
    await bentoRedis.set({ key: 'rows', value: rows, ttl: '10m' });
    await bentoBoth.set({ key: 'rows2', value: rows, ttl: '10m' });

    const contenders = {
      'raw ioredis GET + JSON.parse': async () => JSON.parse(await rawRedis.get('raw:rows')),
      'opsctl cache hit (Redis)': () => cache.query(SQL, PARAMS),
      'cache-manager 7 + Keyv redis': () => cacheManager.get('rows'),
      'BentoCache (Redis tier)': () => bentoRedis.get({ key: 'rows' }),
      'opsctl cache hit (in-process tier)': () => memoryCache.query(SQL, PARAMS),
      'BentoCache (memory + Redis)': () => bentoBoth.get({ key: 'rows2' }),
    };
    // Sanity: every contender returns the same rows.
    for (const [name, fn] of Object.entries(contenders)) {
      const value = await fn();
      const got = Array.isArray(value) ? value : (value.rows ?? value.r);
      if (got?.length !== rows.length) throw new Error(`${name} returned ${JSON.stringify(value)?.slice(0, 80)}`);
    }

    const results = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
    const direct = [];
    const cachedForDirect = [];
    const names = Object.keys(contenders);
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) results[name].push(await measure(contenders[name], OPS));
      const directLatencies = [];
      for (let i = 0; i < DIRECT_RUNS; i += 1) {
        const start = process.hrtime.bigint();
        await pool.query(SQL, PARAMS);
        directLatencies.push(Number(process.hrtime.bigint() - start) / 1000);
      }
      direct.push(median(directLatencies));
      cachedForDirect.push(results['opsctl cache hit (Redis)'].at(-1).p50);
    }

    const summary = {};
    for (const name of names) {
      summary[name] = {
        p50: median(results[name].map((r) => r.p50)),
        p99: median(results[name].map((r) => r.p99)),
        opsPerSec: median(results[name].map((r) => r.opsPerSec)),
      };
    }
    const raw = summary['raw ioredis GET + JSON.parse'];
    console.log(`query cache benchmark: Node ${process.version}, ${ROUNDS} interleaved rounds, ${OPS} sequential + ${OPS * THROUGHPUT_FACTOR} concurrent (${CONCURRENCY}) ops each, medians`);
    console.log(`payload: ${rows.length} rows, ${body.length} bytes of JSON (entry ${stored.length} bytes)`);
    console.log('');
    console.log(`${'contender'.padEnd(38)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'ops/s'.padStart(9)}  ratio vs raw (throughput)`);
    for (const name of names) {
      const s = summary[name];
      console.log(`${name.padEnd(38)} ${s.p50.toFixed(1).padStart(8)} ${s.p99.toFixed(1).padStart(8)} ${Math.round(s.opsPerSec).toString().padStart(9)}  ${(s.opsPerSec / raw.opsPerSec).toFixed(2)}x`);
    }
    const directP50 = median(direct);
    const hitP50 = median(cachedForDirect);
    console.log('');
    console.log(`join + filter on 100k rows: direct p50 ${(directP50 / 1000).toFixed(2)} ms, cached hit p50 ${(hitP50 / 1000).toFixed(3)} ms: ${(directP50 / hitP50).toFixed(1)}x faster (target ≥ 10x)`);
    const ours = summary['opsctl cache hit (Redis)'].opsPerSec;
    console.log(`hit path p50 latency vs raw GET + parse: ${(raw.p50 / summary['opsctl cache hit (Redis)'].p50).toFixed(2)}x`);
    console.log(`hit path throughput vs raw GET + parse: ${(ours / raw.opsPerSec).toFixed(2)}x (target ≥ 0.85x); vs cache-manager+Keyv ${(ours / summary['cache-manager 7 + Keyv redis'].opsPerSec).toFixed(2)}x; vs BentoCache Redis tier ${(ours / summary['BentoCache (Redis tier)'].opsPerSec).toFixed(2)}x`);
    console.log(`in-process tier vs BentoCache memory + Redis: ${(summary['opsctl cache hit (in-process tier)'].opsPerSec / summary['BentoCache (memory + Redis)'].opsPerSec).toFixed(2)}x (target ≥ 1x)`);

    await Promise.all([cache.close(), memoryCache.close(), bentoRedis.disconnect(), bentoBoth.disconnect(), keyv.disconnect()]);
    await pool.end();
  } finally {
    for (const client of clients) client.disconnect();
    await Promise.all([redisServer.stop(), pgServer.stop()]);
  }
}

await main();
