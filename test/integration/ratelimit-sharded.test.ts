import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShardedRateLimiter } from '../../src/ratelimit/sharded.js';
import { runCli } from '../helpers/cli.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';


/** Fixed windows are aligned to Redis's clock, so a 1h counter lives until the end of the current hour (minus slack for the test's own run time). */
const hourWindowLeftMs = (): number => 3_600_000 - (Date.now() % 3_600_000) - 10_000;
describe('rate limiter over a consistent-hash ring of independent primaries', () => {
  const servers: RedisServer[] = [];
  const clients: Redis[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const server = await startRedis();
      servers.push(server);
      clients.push(new Redis(server.url));
    }
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('keys are decided on their owner; adding a node moves their counters with TTLs (no fresh allowance)', async () => {
    const policies = { api: { algorithm: 'fixed-window' as const, rate: '3/1h' }, tb: { algorithm: 'token-bucket' as const, rate: '3/1h' } };
    const limiter = createShardedRateLimiter({ shards: { a: clients[0]!, b: clients[1]! }, policies, keyPrefix: 'ring' });
    const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
    for (const key of keys) {
      await limiter.consume(['api', 'tb'], key, { cost: 2 });
      expect(await clients[limiter.shardFor(key) === 'a' ? 0 : 1]!.exists(`{ring:${key}}:api`)).toBe(1);
    }
    const owners = new Map(keys.map((key) => [key, limiter.shardFor(key)]));
    const result = await limiter.rebalance({ a: clients[0]!, b: clients[1]!, c: clients[2]! });
    const movedKeys = keys.filter((key) => limiter.shardFor(key) !== owners.get(key));
    expect(result).toEqual({ scanned: 120, moved: movedKeys.length * 2 });
    // about a third moves, all to the new node
    expect(movedKeys.length).toBeGreaterThan(8);
    expect(movedKeys.length).toBeLessThan(35);
    expect(movedKeys.every((key) => limiter.shardFor(key) === 'c')).toBe(true);
    for (const key of movedKeys) {
      const ttl = await clients[2]!.pttl(`{ring:${key}}:api`);
      expect(ttl).toBeGreaterThan(0);
      expect(await clients[owners.get(key) === 'a' ? 0 : 1]!.exists(`{ring:${key}}:api`)).toBe(0);
    }
    // across the cut-over every key got exactly its limit: 2 before, 1 after, then refused
    for (const key of keys) {
      expect((await limiter.consume(['api', 'tb'], key)).allowed).toBe(true);
      expect((await limiter.consume(['api', 'tb'], key)).allowed).toBe(false);
    }
  });
});

describe('opsctl ratelimit ring (real CLI, three standalone servers)', () => {
  const servers: RedisServer[] = [];
  const clients: Redis[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'opsctl-ratelimit-ring-'));
  const run = (...argv: string[]) => runCli(argv, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });
  const json = async (...argv: string[]) => {
    const result = await run(...argv, '--json');
    return { ...result, data: result.stdout === '' ? undefined : JSON.parse(result.stdout) };
  };
  const writeProfile = (nodes: Record<string, string>) =>
    writeFileSync(
      join(dir, 'opsctl.config.json'),
      JSON.stringify({ version: 2, profiles: { t: { ratelimit: { keyPrefix: 'cr', policies: { api: { algorithm: 'fixed-window', rate: '3/1h' } }, ring: { nodes } } } } }),
    );
  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const server = await startRedis();
      servers.push(server);
      clients.push(new Redis(server.url));
    }
    writeProfile({ a: servers[0]!.url, b: servers[1]!.url });
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('consume goes to the key\'s owner; status, plan and rebalance --add move counters with their TTLs, limits hold', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `u${i}`);
    for (const key of keys) expect((await run('ratelimit', 'consume', 'api', key, '--cost', '2')).code).toBe(0);

    const status = await json('ratelimit', 'ring', 'status');
    expect(status.code).toBe(0);
    expect(status.data.map((row: { node: string }) => row.node)).toEqual(['a', 'b']);
    expect(status.data.reduce((sum: number, row: { counters: number }) => sum + row.counters, 0)).toBe(30);
    expect(status.data.reduce((sum: number, row: { share: number }) => sum + row.share, 0)).toBeCloseTo(1, 3);
    expect((await run('ratelimit', 'ring', 'status')).stdout).toMatch(/NODE\s+URL\s+REACHABLE\s+SHARE/);

    const add = `c=${servers[2]!.url}`;
    const plan = await json('ratelimit', 'ring', 'plan', '--add', add);
    expect(plan.code).toBe(0);
    expect(plan.data.movedShare).toBeGreaterThan(0.2);
    expect(plan.data.movedShare).toBeLessThan(0.45);
    expect(plan.data.moves.every((move: { to: string }) => move.to === 'c')).toBe(true);
    const wouldMove = plan.data.counters.moved;
    expect(wouldMove).toBeGreaterThan(0);
    expect(await clients[2]!.dbsize()).toBe(0); // plan changes nothing

    expect((await run('ratelimit', 'ring', 'rebalance', '--add', add)).code).toBe(2); // needs --yes without a terminal
    const moved = await json('ratelimit', 'ring', 'rebalance', '--add', add, '--yes');
    expect(moved.code).toBe(0);
    expect(moved.data.counters).toEqual({ moved: wouldMove, scanned: 30 });
    const [onC] = await clients[2]!.scan('0', 'MATCH', '{cr:*', 'COUNT', 1000).then(([, found]) => [found]);
    expect(onC).toHaveLength(wouldMove);
    for (const redisKey of onC!) expect(await clients[2]!.pttl(redisKey)).toBeGreaterThan(hourWindowLeftMs());

    // the profile now names the three nodes: every key has exactly 1 unit left, wherever it lives
    writeProfile({ a: servers[0]!.url, b: servers[1]!.url, c: servers[2]!.url });
    for (const key of keys) {
      expect((await run('ratelimit', 'consume', 'api', key)).code).toBe(0);
      expect((await run('ratelimit', 'consume', 'api', key)).code).toBe(1);
    }
    // running it again is a no-op (resumable)
    expect((await json('ratelimit', 'ring', 'rebalance', '--remove', 'c', '--dry-run')).data.counters.moved).toBe(wouldMove);
  });

  it('migrate: standalone -> ring and ring -> standalone keep counters and TTLs (no fresh allowance)', async () => {
    const single = await startRedis();
    const singleClient = new Redis(single.url);
    try {
      for (const client of clients) await client.flushall();
      const ratelimit = { keyPrefix: 'cr', policies: { api: { algorithm: 'fixed-window', rate: '3/1h' } } };
      const nodes = { a: servers[0]!.url, b: servers[1]!.url, c: servers[2]!.url };
      writeFileSync(
        join(dir, 'opsctl.config.json'),
        JSON.stringify({ version: 2, profiles: { t: { ratelimit: { ...ratelimit, ring: { nodes } } }, s: { redis: { url: single.url }, ratelimit } } }),
      );
      const keys = Array.from({ length: 20 }, (_, i) => `m${i}`);
      for (const key of keys) expect((await run('--profile', 's', 'ratelimit', 'consume', 'api', key, '--cost', '2')).code).toBe(0);

      const into = await json('--profile', 't', 'ratelimit', 'migrate', '--from', 's', '--yes');
      expect(into.code).toBe(0);
      expect(into.data).toMatchObject({ copied: 20, scanned: 20 });
      const perNode = await Promise.all(clients.map((client) => client.dbsize()));
      expect(perNode.reduce((sum, n) => sum + n, 0)).toBe(20);
      expect(perNode.filter((n) => n > 0).length).toBeGreaterThan(1); // spread by owner
      for (const client of clients) {
        for (const redisKey of (await client.scan('0', 'MATCH', '{cr:*', 'COUNT', 1000))[1]) expect(await client.pttl(redisKey)).toBeGreaterThan(hourWindowLeftMs());
      }

      await singleClient.flushall();
      const back = await json('--profile', 't', 'ratelimit', 'migrate', '--from', 't', '--to', 's', '--yes');
      expect(back.code).toBe(0);
      expect(back.data).toMatchObject({ copied: 20, scanned: 20 });
      expect(await singleClient.pttl('{cr:m0}:api')).toBeGreaterThan(hourWindowLeftMs());
      for (const profile of ['t', 's']) {
        for (const key of keys.slice(0, 5)) {
          expect((await run('--profile', profile, 'ratelimit', 'consume', 'api', key)).code).toBe(0);
          expect((await run('--profile', profile, 'ratelimit', 'consume', 'api', key)).code).toBe(1);
        }
      }
    } finally {
      singleClient.disconnect();
      await single.stop();
    }
  });

  it('usage errors exit 2; an unreachable node shows in status with exit 4', async () => {
    writeProfile({ a: servers[0]!.url, b: servers[1]!.url });
    expect((await run('ratelimit', 'ring', 'plan')).code).toBe(2);
    const help = await run('ratelimit', 'ring', 'rebalance', '--help');
    expect(help.stdout).toContain('opsctl ratelimit ring rebalance --add c=redis://10.0.0.3:6379 --yes');
    const missing = await run('ratelimit', 'ring', 'plan', '--remove', 'zz');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no node "zz"/);
    writeProfile({ a: servers[0]!.url, gone: `redis://127.0.0.1:${await freePort()}` });
    const status = await json('ratelimit', 'ring', 'status');
    expect(status.code).toBe(4);
    expect(status.data.find((row: { node: string }) => row.node === 'gone')).toMatchObject({ reachable: false, counters: null });
  });
});
