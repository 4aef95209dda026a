import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const server = usePostgres();
const redis = useRedis();
const { dir } = useCaseDirs('dev-seed');
const pools: pg.Pool[] = [];
afterAll(async () => Promise.all(pools.map((pool) => pool.end())));

function project(isProtected = false): string {
  writeFileSync(
    path.join(dir(), 'opsctl.config.yaml'),
    `version: 2\nprofiles:\n  dev:\n    protected: ${isProtected}\n    postgres: { url: "${server().url}" }\n`,
  );
  return dir();
}

async function snapshot(): Promise<string> {
  const pool = new pg.Pool({ connectionString: server().url });
  pools.push(pool);
  const { rows } = await pool.query<{ digest: string }>(
    `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM (
       SELECT u::text AS t FROM app.users u UNION ALL SELECT o::text FROM app.orders o UNION ALL SELECT s::text FROM app.support_tickets s) x`,
  );
  return rows[0]!.digest;
}

describe('opsctl dev seed', () => {

  it('writes the requested number of users and reports the counts as JSON', async () => {
    const result = await runCli(['dev', 'seed', '--users', '250', '--seed', '42', '--json'], { cwd: project() });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { seed: number; rows: { users: number; orders: number; support_tickets: number } };
    expect(report.seed).toBe(42);
    expect(report.rows.users).toBe(250);
    expect(report.rows.orders).toBeGreaterThan(250);
    expect(report.rows.support_tickets).toBeGreaterThan(20);
  });

  it('gives identical rows for the same seed and different rows for another', async () => {
    const cwd = project();
    await runCli(['dev', 'seed', '--users', '50', '--seed', '7', '--yes'], { cwd });
    const first = await snapshot();
    await runCli(['dev', 'seed', '--users', '50', '--seed', '7', '--yes'], { cwd });
    expect(await snapshot()).toBe(first);
    await runCli(['dev', 'seed', '--users', '50', '--seed', '8', '--yes'], { cwd });
    expect(await snapshot()).not.toBe(first);
  });

  it('asks before replacing existing rows, and never without a terminal unless --yes', async () => {
    const result = await runCli(['dev', 'seed', '--users', '5'], { cwd: project() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/impact: replaces [\d,]+ rows in schema "app"/);
    expect(result.stderr).toContain('hint: pass --yes');
  });

  it('refuses a bare --yes on a protected profile', async () => {
    const result = await runCli(['dev', 'seed', '--users', '5', '--yes'], { cwd: project(true) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('hint: pass --yes=dev');
  });

  it('rejects a bad count before touching the database', async () => {
    const result = await runCli(['dev', 'seed', '--users', 'many'], { cwd: project() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/expected a whole number/);
  });

  it('with a redis section, also writes sessions, rate limit counters and cache entries the other groups show', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'opsctl.config.yaml'),
      `version: 2\nprofiles:\n  dev:\n    postgres: { url: "${server().url}" }\n    redis: { url: "${redis().url}" }\n    ratelimit: { policies: { api: { algorithm: gcra, rate: "100/1m", burst: 20 } } }\n`,
    );
    const args = ['dev', 'seed', '--users', '30', '--sessions', '12', '--rate-limit-keys', '5', '--cache-queries', '4', '--yes', '--json'];
    const result = await runCli(args, { cwd });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { redis: { sessions: number; sessionUsers: number; rateLimitCounters: number; cacheEntries: number } };
    expect(report.redis).toMatchObject({ sessions: 12, rateLimitCounters: 5, cacheEntries: 4 });

    const sessions = JSON.parse((await runCli(['session', 'list', '--json'], { cwd })).stdout) as unknown[];
    expect(sessions).toHaveLength(12);
    const status = JSON.parse((await runCli(['ratelimit', 'status', 'api', 'user:1', '--json'], { cwd })).stdout) as { remaining: number; limit: number };
    expect(status.remaining).toBeLessThan(status.limit);
    const stats = await runCli(['cache', 'keys', '--json'], { cwd });
    expect(JSON.parse(stats.stdout)).toHaveLength(4);

    // Seeding again replaces rather than adds.
    expect((await runCli(args, { cwd })).code).toBe(0);
    expect(JSON.parse((await runCli(['session', 'list', '--json'], { cwd })).stdout)).toHaveLength(12);
    const client = new Redis(redis().url);
    await client.flushall();
    client.disconnect();
  });
});
