import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPostgres, startRedis, type PostgresServer, type RedisServer } from '../../src/testing/index.js';

const DIST_TESTING = fileURLToPath(new URL('../../dist/testing/index.js', import.meta.url));

/** Gone, or a zombie waiting for init to reap it. */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter((pid) => !processGone(pid));
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter((pid) => !processGone(pid));
  }
  return alive;
}

/** The postmaster's children (checkpointer, walwriter, …): they must go too. */
function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function ownerUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** No ready check (it would hang on a paused server), no reconnects after the test. */
const ONE_SHOT = { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null } as const;

describe('startRedis', () => {
  let redis: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--maxmemory', '12mb'] });
    client = new Redis(redis.url, ONE_SHOT);
    await client.connect();
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('answers on a loopback port from its temp dir, with extra args applied', async () => {
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.dir.startsWith(join(tmpdir(), 'opsctl-test-'))).toBe(true);
    expect(await client.ping()).toBe('PONG');
    expect(await client.config('GET', 'maxmemory')).toEqual(['maxmemory', String(12 * 1024 * 1024)]);
    expect(await client.config('GET', 'dir')).toEqual(['dir', redis.dir]);
  });

  it('stays in our process group so a terminal Ctrl-C reaches it', () => {
    expect(processGroup(redis.pid)).toBe(processGroup(process.pid));
  });

  it('can be paused and resumed with kill()', async () => {
    redis.kill('SIGSTOP');
    // The kernel still accepts the connection; the paused server never answers.
    const probe = new Redis(redis.url, { ...ONE_SHOT, commandTimeout: 300 });
    try {
      await probe.connect();
      await expect(probe.ping()).rejects.toThrow(/timed out/i);
    } finally {
      redis.kill('SIGCONT');
      probe.disconnect();
    }
    expect(await client.ping()).toBe('PONG');
  });

  it('requires the password when one is set', async () => {
    const secured = await startRedis({ password: 'p@ss word' });
    try {
      expect(secured.url).toBe(`redis://:p%40ss%20word@127.0.0.1:${secured.port}`);
      const anonymous = new Redis(secured.port, '127.0.0.1', ONE_SHOT);
      await anonymous.connect();
      await expect(anonymous.get('k')).rejects.toThrow(/NOAUTH/);
      anonymous.disconnect();
      const authed = new Redis(secured.url, ONE_SHOT);
      await authed.connect();
      expect(await authed.ping()).toBe('PONG');
      authed.disconnect();
    } finally {
      await secured.stop();
    }
  });

  it('stop() ends the process, removes the dir, and is idempotent', async () => {
    const server = await startRedis();
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(processGone(server.pid)).toBe(true);
    expect(existsSync(server.dir)).toBe(false);
  });

  it('fails with the server log quoted when it cannot start', async () => {
    const before = new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('opsctl-test-')));
    await expect(startRedis({ args: ['--no-such-directive', 'x'] })).rejects.toThrow(
      /redis-server exited during start-up[\s\S]*redis-server log:[\s\S]*no-such-directive/i,
    );
    const after = readdirSync(tmpdir()).filter((name) => name.startsWith('opsctl-test-') && !before.has(name));
    // Other test files may create dirs meanwhile; ours is gone, so none of the new ones is a redis dir.
    expect(after.filter((name) => existsSync(join(tmpdir(), name, 'redis.log')))).toEqual([]);
  });
});

describe('startPostgres', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres({ settings: { wal_level: 'replica', application_name: "it's" } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('accepts connections on the advertised URL with the settings applied', async () => {
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    expect(existsSync(join(server.binDir, 'initdb'))).toBe(true);
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect((await client.query('show wal_level')).rows[0].wal_level).toBe('replica');
      expect((await client.query('show data_directory')).rows[0].data_directory).toBe(server.dataDir);
      expect((await client.query('show fsync')).rows[0].fsync).toBe('off');
    } finally {
      await client.end();
    }
  });

  it('runs as the postgres OS user when we are root, in our process group', () => {
    if (process.getuid?.() === 0) expect(ownerUid(server.pid)).not.toBe(0);
    else expect(ownerUid(server.pid)).toBe(process.getuid?.());
    expect(processGroup(server.pid)).toBe(processGroup(process.pid));
  });

  it('uses scram authentication over TCP when a password is set', async () => {
    const secured = await startPostgres({ password: "s3cret'" });
    try {
      expect(secured.url).toBe(`postgres://postgres:s3cret'@127.0.0.1:${secured.port}/postgres`);
      const wrong = new pg.Client({ host: '127.0.0.1', port: secured.port, user: 'postgres', password: 'wrong', database: 'postgres' });
      await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
      const right = new pg.Client({ connectionString: secured.url });
      await right.connect();
      expect((await right.query('select 1 as one')).rows[0].one).toBe(1);
      await right.end();
    } finally {
      await secured.stop();
    }
    expect(existsSync(secured.dataDir)).toBe(false);
  });

  it('stop() shuts the cluster down, deletes it, and is idempotent', async () => {
    const other = await startPostgres();
    const children = childPids(other.pid);
    expect(children.length).toBeGreaterThan(0);
    await Promise.all([other.stop(), other.stop()]);
    expect(await waitGone([other.pid, ...children], 5_000)).toEqual([]);
    expect(existsSync(other.dataDir)).toBe(false);
    await other.stop();
  });
});

describe('freePort', () => {
  it('returns a bindable loopback port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    expect(port).toBeLessThan(65536);
  });
});

describe('teardown when the test process dies', () => {
  let scriptDir: string;
  beforeAll(async () => {
    if (!existsSync(DIST_TESTING)) throw new Error('dist/testing/index.js is missing: run `npm run build`');
    scriptDir = await mkdtemp(join(tmpdir(), 'opsctl-harness-child-'));
    await writeFile(
      join(scriptDir, 'child.mjs'),
      `const { startRedis, startPostgres } = await import(${JSON.stringify(pathToFileURL(DIST_TESTING).href)});
const [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
process.stdout.write(JSON.stringify({ redis: redis.pid, postgres: pg.pid, dirs: [redis.dir, pg.dataDir] }) + '\\n');
setInterval(() => {}, 1000);
`,
    );
  });
  afterAll(async () => {
    await rm(scriptDir, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s to the test process leaves no server behind', async (signal) => {
    const child = spawn(process.execPath, [join(scriptDir, 'child.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? code)));
    const started = await new Promise<{ redis: number; postgres: number; dirs: string[] }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += String(chunk);
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
      });
      void exited.then((status) => reject(new Error(`child exited early (${status}): ${stderr}`)));
    });
    const pgChildren = childPids(started.postgres);
    child.kill(signal);
    // Our handler re-raises the signal once the servers are down, so the default action happens.
    expect(await exited).toBe(signal);
    expect(await waitGone([started.redis, started.postgres, ...pgChildren], 5_000)).toEqual([]);
    for (const dir of started.dirs) expect(existsSync(dir)).toBe(false);
  });
});
