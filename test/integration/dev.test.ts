import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { DevServiceStatus } from '../../src/dev/stack.js';
import { runCli, type CliOptions } from '../helpers/cli.js';

type ServiceRow = DevServiceStatus;

/** Session id (field 6 of /proc/PID/stat): a daemon has its own session. */
function sessionId(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

/** Exists and is not a zombie (daemons are reparented to init, which may reap them late). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

async function makeRoot(prefix: string, mode = 0o755): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await chmod(root, mode);
  return root;
}

function cliIn(root: string, extraEnv: NodeJS.ProcessEnv = {}) {
  // HOME bounds the configuration search at the temp dir.
  const env = { PATH: process.env.PATH, HOME: root, ...extraEnv };
  return async (argv: readonly string[], options: CliOptions = {}) => runCli(argv, { cwd: root, env, ...options });
}

async function status(cli: ReturnType<typeof cliIn>): Promise<ServiceRow[]> {
  const result = await cli(['dev', 'status', '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ServiceRow[];
}

function byName(rows: ServiceRow[], name: ServiceRow['name']): ServiceRow {
  return rows.find((row) => row.name === name)!;
}

describe('opsctl dev', () => {
  let root: string;
  let cli: ReturnType<typeof cliIn>;

  beforeAll(async () => {
    root = await makeRoot('opsctl-dev-test-');
    cli = cliIn(root);
  });

  afterAll(async () => {
    await cli(['dev', 'down']);
    await rm(root, { recursive: true, force: true });
  });

  it('up starts Redis and PostgreSQL and writes the dev profile', async () => {
    const result = await cli(['dev', 'up']);
    expect(result.stderr).toContain('dev stack running (started redis and postgres)');
    expect(result.code).toBe(0);
    // Not a terminal: no progress lines, just the outcome.
    expect(result.stderr).not.toContain('starting');
    expect(result.stdout).toMatch(/redis\s+RUNNING/);
    expect(result.stdout).toMatch(/postgres\s+RUNNING/);

    const rows = await status(cli);
    const redis = byName(rows, 'redis');
    const postgres = byName(rows, 'postgres');
    expect(redis).toMatchObject({ state: 'running', url: `redis://127.0.0.1:${redis.port}`, dataDir: join(root, '.opsctl/dev/redis') });
    expect(postgres).toMatchObject({
      state: 'running',
      url: `postgres://postgres@127.0.0.1:${postgres.port}/postgres`,
      dataDir: join(root, '.opsctl/dev/postgres/data'),
    });
    expect(redis.version).toMatch(/^\d+\.\d+/);
    expect(postgres.version).toMatch(/^\d+\.\d+$/);
    expect(redis.port).not.toBe(postgres.port);

    const config = parseYaml(await readFile(join(root, 'opsctl.config.yaml'), 'utf8'));
    expect(config.defaultProfile).toBe('dev');
    expect(config.profiles.dev).toMatchObject({ redis: { url: redis.url }, postgres: { url: postgres.url } });
  });

  it('the servers answer on the written URLs and outlive the CLI (own session, not our children)', async () => {
    const [redis, postgres] = [byName(await status(cli), 'redis'), byName(await status(cli), 'postgres')];
    const client = new Redis(redis.url!, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    await client.set('opsctl:dev-test', 'kept');
    client.disconnect();

    const pgClient = new pg.Client({ connectionString: postgres.url! });
    await pgClient.connect();
    expect((await pgClient.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await pgClient.query('create table dev_test (id int)');
    await pgClient.end();

    for (const pid of [redis.pid!, postgres.pid!]) expect(sessionId(pid)).not.toBe(sessionId(process.pid));
    if (process.getuid?.() === 0) {
      expect(readFileSync(`/proc/${postgres.pid}/status`, 'utf8')).not.toMatch(/^Uid:\s+0\s/m);
    }
  });

  it('up again is idempotent: "already running", same pids, exit 0', async () => {
    const before = await status(cli);
    const result = await cli(['dev', 'up']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('dev stack already running');
    expect(await status(cli)).toEqual(before);
  });

  it('down stops both, keeps the data; down again is a no-op', async () => {
    const before = await status(cli);
    const result = await cli(['dev', 'down']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`stopped redis (pid ${byName(before, 'redis').pid})`);
    expect(result.stderr).toContain(`stopped postgres (pid ${byName(before, 'postgres').pid})`);
    for (const row of before) expect(alive(row.pid!)).toBe(false);

    const after = await status(cli);
    expect(after.map((row) => [row.state, row.pid])).toEqual([['stopped', null], ['stopped', null]]);
    expect(after.map((row) => row.port)).toEqual(before.map((row) => row.port));

    const again = await cli(['dev', 'down']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('redis was not running');
  });

  it('down never signals a process that is not ours, even with its pid in our pid file', async () => {
    const stranger: ChildProcess = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(root, '.opsctl/dev/redis/redis.pid'), `${stranger.pid}\n`);
      expect(byName(await status(cli), 'redis').state).toBe('stopped');
      expect((await cli(['dev', 'down'])).code).toBe(0);
      expect(alive(stranger.pid!)).toBe(true);
    } finally {
      stranger.kill();
    }
  });

  it('a recorded port held by another process fails clearly and leaves that process alone', async () => {
    const redisPort = byName(await status(cli), 'redis').port!;
    const foreign: Server = createServer((socket) => socket.end('foreign\n'));
    await new Promise<void>((resolve) => foreign.listen(redisPort, '127.0.0.1', resolve));
    try {
      const result = await cli(['dev', 'up']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: port ${redisPort} (recorded for the dev redis) is in use by another process`);
      expect(result.stderr).toContain('hint: ');
      // Nothing was started, and the other listener still answers.
      expect((await status(cli)).map((row) => row.state)).toEqual(['stopped', 'stopped']);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(redisPort, '127.0.0.1');
        let text = '';
        socket.on('data', (chunk) => (text += String(chunk)));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(reply).toBe('foreign\n');
    } finally {
      await new Promise((resolve) => foreign.close(resolve));
    }
  });

  it('a cluster made by another PostgreSQL major version is not started (DEV_START_FAILED)', async () => {
    const pgVersion = join(root, '.opsctl/dev/postgres/data/PG_VERSION');
    const original = await readFile(pgVersion, 'utf8');
    await writeFile(pgVersion, '9\n');
    try {
      const result = await cli(['dev', 'up']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/error: the dev PostgreSQL data in .* was made by PostgreSQL 9; this machine has PostgreSQL \d+/);
      expect(result.stderr).toContain('opsctl dev reset --yes');
      expect(byName(await status(cli), 'postgres').state).toBe('stopped');
    } finally {
      await writeFile(pgVersion, original);
      await cli(['dev', 'down']);
    }
  });

  it('up after down reuses the ports, keeps the data, and shows progress on a terminal', async () => {
    const ports = (await status(cli)).map((row) => row.port);
    const result = await cli(['dev', 'up'], { tty: true });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('starting redis-server');
    expect(result.stderr).toContain('starting PostgreSQL');
    const rows = await status(cli);
    expect(rows.map((row) => row.port)).toEqual(ports);

    const client = new Redis(byName(rows, 'redis').url!, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await client.connect();
    expect(await client.get('opsctl:dev-test')).toBe('kept');
    client.disconnect();
    const pgClient = new pg.Client({ connectionString: byName(rows, 'postgres').url! });
    await pgClient.connect();
    expect((await pgClient.query('select count(*)::int as n from dev_test')).rows[0].n).toBe(0);
    await pgClient.end();
  });

  it('reset --dry-run lists what would go and changes nothing', async () => {
    const result = await cli(['dev', 'reset', '--dry-run', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { action: 'stop', target: 'redis' },
      { action: 'stop', target: 'postgres' },
      { action: 'delete', target: join(root, '.opsctl/dev') },
    ]);
    expect((await status(cli)).map((row) => row.state)).toEqual(['running', 'running']);
  });

  it('reset without a terminal and without --yes fails naming --yes (exit 2)', async () => {
    const result = await cli(['dev', 'reset']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--yes');
    expect((await status(cli)).map((row) => row.state)).toEqual(['running', 'running']);
  });

  it('reset --yes stops the stack and wipes its data and ports', async () => {
    const pids = (await status(cli)).map((row) => row.pid!);
    const result = await cli(['dev', 'reset', '--yes']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('opsctl dev up');
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(existsSync(join(root, '.opsctl/dev'))).toBe(false);
    expect((await status(cli)).map((row) => [row.state, row.port])).toEqual([['stopped', null], ['stopped', null]]);
    const again = await cli(['dev', 'reset', '--yes']);
    expect(again.code).toBe(0);
  });
});

describe('opsctl dev refuses', () => {
  let root: string;
  beforeAll(async () => {
    root = await makeRoot('opsctl-dev-refuse-');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a .opsctl/dev directory it did not create (DEV_DIR_FOREIGN), touching nothing', async () => {
    const foreign = join(root, 'foreign');
    await mkdir(join(foreign, '.opsctl/dev'), { recursive: true });
    await writeFile(join(foreign, '.opsctl/dev/notes.txt'), 'mine\n');
    const cli = cliIn(foreign);
    for (const argv of [['dev', 'up'], ['dev', 'down'], ['dev', 'reset', '--yes']]) {
      const result = await cli(argv);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${join(foreign, '.opsctl/dev')} exists but was not created by opsctl dev`);
    }
    expect(await readFile(join(foreign, '.opsctl/dev/notes.txt'), 'utf8')).toBe('mine\n');
    expect(existsSync(join(foreign, 'opsctl.config.yaml'))).toBe(false);
  });

  it('to start without redis-server: TOOL_NOT_FOUND (exit 4) naming it and the install command', async () => {
    const cli = cliIn(root, { PATH: join(root, 'empty-bin'), OPSCTL_PG_BIN_SEARCH: '' });
    const result = await cli(['dev', 'up']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('error: redis-server not found on PATH');
    expect(result.stderr).toContain('apt-get install redis-server');
    expect(result.stderr).toContain('brew install redis');
    expect(existsSync(join(root, '.opsctl'))).toBe(false);
  });

  it('to start without the PostgreSQL server programs: TOOL_NOT_FOUND (exit 4)', async () => {
    const bin = join(root, 'redis-only-bin');
    await mkdir(bin);
    const redisServer = (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'redis-server')).find((path) => existsSync(path))!;
    await symlink(redisServer, join(bin, 'redis-server'));
    const cli = cliIn(root, { PATH: bin, OPSCTL_PG_BIN_SEARCH: '' });
    const result = await cli(['dev', 'up']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('PostgreSQL server programs (initdb, pg_ctl, postgres) not found');
    expect(result.stderr).toContain('apt-get install postgresql');
    expect(existsSync(join(root, '.opsctl'))).toBe(false);
  });
});

describe.runIf(process.getuid?.() === 0)('opsctl dev as root in a directory the postgres user cannot enter', () => {
  let root: string;
  let cli: ReturnType<typeof cliIn>;
  beforeAll(async () => {
    root = await makeRoot('opsctl-dev-private-', 0o700);
    cli = cliIn(root);
  });
  afterAll(async () => {
    await cli(['dev', 'reset', '--yes']);
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the PostgreSQL files in a private temp dir owned by postgres, and reset removes it', async () => {
    const up = await cli(['dev', 'up']);
    expect(up.stderr).toContain('dev stack running');
    expect(up.code).toBe(0);
    const postgres = byName(await status(cli), 'postgres');
    expect(postgres.state).toBe('running');
    expect(postgres.dataDir!.startsWith(join(tmpdir(), 'opsctl-dev-'))).toBe(true);
    const plan = JSON.parse((await cli(['dev', 'reset', '--dry-run', '--json'])).stdout) as { action: string; target: string }[];
    expect(plan.filter((step) => step.action === 'delete').map((step) => step.target)).toEqual([
      join(root, '.opsctl/dev'),
      join(postgres.dataDir!, '..'),
    ]);
    expect((await cli(['dev', 'reset', '--yes'])).code).toBe(0);
    expect(existsSync(postgres.dataDir!)).toBe(false);
    expect(alive(postgres.pid!)).toBe(false);
  });
});
