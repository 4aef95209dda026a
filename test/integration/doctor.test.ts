import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthDocument } from '../../src/doctor/health.js';
import { freePort, startPostgres, startRedis, type PostgresServer, type RedisServer } from '../../src/testing/index.js';
import { runCli } from '../helpers/cli.js';

const REDIS_PASSWORD = 'doctor-redis-pw-31x';
const PG_PASSWORD = 'doctor-pg-pw-58q';
const CHECKS = [
  'config:valid',
  'redis:connection',
  'redis:latency',
  'redis:version',
  'redis:role',
  'redis:memory',
  'redis:persistence',
  'redis:eviction',
  'redis:fragmentation',
  'redis:evictions',
  'redis:rejected-connections',
  'redis:blocked-clients',
  'redis:replication',
  'postgres:connection',
  'postgres:version',
  'pg_dump:version',
  'pg_restore:version',
];

let redis: RedisServer;
let pg: PostgresServer;
const dirs: string[] = [];

/** A temp dir holding opsctl.config.yaml with one profile "t"; HOME points there too. */
async function project(profileYaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'opsctl-doctor-'));
  dirs.push(dir);
  await writeFile(join(dir, 'opsctl.config.yaml'), `version: 2\nprofiles:\n  t:\n${profileYaml.replace(/^/gm, '    ')}\n`);
  return dir;
}

function env(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: dir, REDIS_PASSWORD, PGPASSWORD: PG_PASSWORD, ...extra };
}

const redisYaml = (port: number) => `redis:\n  url: redis://127.0.0.1:${port}\n  password: \${env:REDIS_PASSWORD}\n  connectTimeout: 2s`;
const pgYaml = (port: number) => `postgres:\n  url: postgres://postgres@127.0.0.1:${port}/postgres\n  password: \${env:PGPASSWORD}\n  connectTimeout: 2s`;

function parse(stdout: string): HealthDocument {
  return JSON.parse(stdout) as HealthDocument;
}

beforeAll(async () => {
  [redis, pg] = await Promise.all([
    // Configured as production should be: durable, bounded, evicting only keys with a TTL.
    startRedis({ password: REDIS_PASSWORD, args: ['--appendonly', 'yes', '--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru'] }),
    startPostgres({ password: PG_PASSWORD }),
  ]);
});

afterAll(async () => {
  await Promise.all([redis?.stop(), pg?.stop()]);
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('opsctl doctor', () => {
  it('passes every check on a healthy profile: exit 0 and a health+json document', async () => {
    const dir = await project(`${redisYaml(redis.port)}\n${pgYaml(pg.port)}`);
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir) });
    expect(result.stderr).toBe('');
    const document = parse(result.stdout);
    expect(Object.keys(document.checks)).toEqual(CHECKS);
    const failures = Object.entries(document.checks).flatMap(([name, entries]) =>
      entries.filter((entry) => entry.status !== 'pass').map((entry) => `${name}: ${entry.output}`),
    );
    expect(failures).toEqual([]);
    expect(result.code).toBe(0);
    expect(document).toMatchObject({ status: 'pass', description: 'opsctl doctor: profile "t"' });
    expect(document.checks['redis:latency']![0]).toMatchObject({ componentType: 'datastore', componentId: `127.0.0.1:${redis.port}`, observedUnit: 'ms' });
    expect(document.checks['redis:memory']![0]).toMatchObject({ observedUnit: 'ratio' });
    expect(document.checks['postgres:version']![0]!.output).toMatch(/^PostgreSQL \d+/);
    expect(document.checks['pg_dump:version']![0]!.output).toMatch(/^pg_dump \d+\.\d+ \(.*\), server \d+$/);
    for (const entries of Object.values(document.checks)) {
      for (const entry of entries) {
        expect(entry.time).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect(typeof entry.durationMs).toBe('number');
      }
    }
  });

  it('prints a table with PASS/WARN words and remedies, coloured only on a colour terminal', async () => {
    // A default redis-server: no persistence, no maxmemory.
    const plain = await startRedis();
    try {
      const dir = await project(`redis:\n  url: redis://127.0.0.1:${plain.port}`);
      const result = await runCli(['doctor'], { cwd: dir, env: env(dir) });
      expect(result.code).toBe(3);
      expect(result.stderr).toBe('');
      expect(result.stdout).not.toContain('\u001b[');
      expect(result.stdout).toMatch(/^CHECK\s+STATUS\s+DETAIL$/m);
      expect(result.stdout).toMatch(/^redis:memory\s+WARN\s+no maxmemory set/m);
      expect(result.stdout).toMatch(/^redis:persistence\s+WARN\s+no RDB snapshots and no AOF: all data is lost on restart\n\s+→ enable appendonly yes/m);
      expect(result.stdout).toMatch(/^postgres:connection\s+SKIP\s+profile "t" has no postgres section$/m);
      expect(result.stdout).toMatch(/^WARN: \d+ passed, 2 warnings, 0 failed, 4 skipped$/m);

      const tty = await runCli(['doctor'], { cwd: dir, env: env(dir), tty: true, color: true });
      expect(tty.stdout).toContain('\u001b[');
      expect(tty.stderr).toContain('checking');
    } finally {
      await plain.stop();
    }
  });

  it('names host:port and the config key when Redis is down: exit 3 while PostgreSQL answers', async () => {
    const port = await freePort();
    const dir = await project(`${redisYaml(port)}\n${pgYaml(pg.port)}`);
    const started = performance.now();
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir) });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(result.code).toBe(3);
    const document = parse(result.stdout);
    const connection = document.checks['redis:connection']![0]!;
    expect(connection).toMatchObject({ status: 'fail', code: 'REDIS_UNREACHABLE' });
    expect(connection.output).toBe(`cannot connect to Redis at 127.0.0.1:${port}: connection refused`);
    expect(connection.remedy).toBe('is the server running? the address comes from profiles.t.redis.url');
    expect(document.checks['redis:latency']![0]).toMatchObject({ skipped: true, output: 'Redis is not reachable' });
    expect(document.checks['postgres:connection']![0]!.status).toBe('pass');
  });

  it('exits 4 when neither Redis nor PostgreSQL can be reached, still printing the report', async () => {
    const [redisPort, pgPort] = [await freePort(), await freePort()];
    const dir = await project(`${redisYaml(redisPort)}\n${pgYaml(pgPort)}`);
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir) });
    expect(result.code).toBe(4);
    const document = parse(result.stdout);
    expect(document.status).toBe('fail');
    expect(document.checks['postgres:connection']![0]).toMatchObject({ code: 'PG_UNREACHABLE', output: `cannot connect to PostgreSQL at 127.0.0.1:${pgPort}: connection refused` });
  });

  it('reports a wrong Redis password as an authentication failure without printing any password', async () => {
    const dir = await project(redisYaml(redis.port));
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir, { REDIS_PASSWORD: 'wrong-redis-pw-77' }) });
    expect(result.code).toBe(4);
    const connection = parse(result.stdout).checks['redis:connection']![0]!;
    expect(connection).toMatchObject({ status: 'fail', code: 'REDIS_AUTH_FAILED' });
    expect(connection.output).toBe(`authentication failed for user "default" at 127.0.0.1:${redis.port}`);
    expect(result.stdout + result.stderr).not.toMatch(/wrong-redis-pw-77|doctor-redis-pw/);
  });

  it('reports a wrong PostgreSQL password as PG_AUTH_FAILED (exit 4) without printing it', async () => {
    const dir = await project(pgYaml(pg.port));
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir, { PGPASSWORD: 'wrong-pg-pw-12' }) });
    expect(result.code).toBe(4);
    const connection = parse(result.stdout).checks['postgres:connection']![0]!;
    expect(connection).toMatchObject({ status: 'fail', code: 'PG_AUTH_FAILED' });
    expect(connection.output).toBe(`authentication failed for role "postgres" at 127.0.0.1:${pg.port}`);
    expect(connection.remedy).toContain('profiles.t.postgres.password');
    expect(result.stdout + result.stderr).not.toMatch(/wrong-pg-pw-12|doctor-pg-pw/);
  });

  it('traces Redis commands and SQL with --debug, passwords redacted', async () => {
    const dir = await project(`${redisYaml(redis.port)}\n${pgYaml(pg.port)}`);
    const result = await runCli(['--debug', 'doctor', '--json'], { cwd: dir, env: env(dir) });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^debug redis\s+[\d.]+ms\s+AUTH \*\*\*\*$/m);
    expect(result.stderr).toMatch(/^debug redis\s+[\d.]+ms\s+PING$/m);
    expect(result.stderr).toMatch(/^debug redis\s+[\d.]+ms\s+INFO$/m);
    expect(result.stderr).toMatch(/^debug sql\s+[\d.]+ms\s+connect postgres@127\.0\.0\.1:\d+\/postgres$/m);
    expect(result.stderr).toMatch(/^debug sql\s+[\d.]+ms\s+select current_setting\('server_version_num'\)/m);
    expect(result.stdout + result.stderr).not.toMatch(/doctor-redis-pw|doctor-pg-pw/);
    // stdout stays clean JSON.
    expect(parse(result.stdout).status).toBe('pass');
  });

  it('fails the config check with a remedy when there is no configuration at all', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opsctl-doctor-empty-'));
    dirs.push(dir);
    const result = await runCli(['doctor', '--json'], { cwd: dir, env: env(dir) });
    expect(result.code).toBe(3);
    const document = parse(result.stdout);
    expect(document.checks['config:valid']![0]).toMatchObject({ status: 'fail', code: 'CONFIG_NOT_FOUND' });
    expect(document.checks['config:valid']![0]!.remedy).toMatch(/opsctl config init.*opsctl dev up/);
    expect(document.checks['redis:connection']![0]!.skipped).toBe(true);
  });
});
