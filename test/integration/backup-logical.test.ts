import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityFile, generateIdentity } from '../../src/backup/age.js';
import { runLogicalBackup } from '../../src/backup/pg-logical.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { postgresSchema } from '../../src/config/schema.js';
import { createPgPool } from '../../src/postgres/connection.js';
import { BIN, runCli } from '../helpers/cli.js';
import { freePort, startPostgres, usePostgres, type PostgresServer } from '../helpers/postgres.js';
import { hasProgram } from '../helpers/programs.js';

const hasAge = hasProgram('age');

const server = usePostgres();
/** A value stored in a table: it must never appear in the repository's files. */
const MARKER = 'PLAINTEXT-MARKER-7c1f9e';
const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-'));
const repoDir = join(root, 'repo');
const keyFile = join(root, 'key.txt');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };

async function sql(database: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: server().url.replace(/\/postgres$/, `/${database}`) });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** Writes opsctl.config.yaml in `dir` with a profile for the test server and a backup section. */
function writeConfig(dir: string, backup: string, url = server().url): void {
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    postgres:\n      url: ${url}\n      connectTimeout: 2s\n${backup}`,
  );
}

const cli = (argv: string[], options: { cwd?: string; signal?: AbortSignal; tty?: boolean } = {}) =>
  runCli(argv, { cwd: options.cwd ?? root, env, tty: options.tty ?? false, ...(options.signal === undefined ? {} : { signal: options.signal }) });

function manifestOf(id: string, dir = repoDir): { objects: { path: string; database?: string; sha256Content: string; toc?: unknown[] }[] } {
  return JSON.parse(readFileSync(join(dir, 'backups', id, 'manifest.json'), 'utf8'));
}

function runsOf(dir = repoDir): { id: string; status: string; error?: { code: string } }[] {
  const runsDir = join(dir, 'runs');
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir).filter((name) => name.endsWith('.json')).map((name) => JSON.parse(readFileSync(join(runsDir, name), 'utf8')));
}

async function backup(args: string[] = []): Promise<string> {
  const result = await cli(['backup', 'run', 'postgres', '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

beforeAll(async () => {
  await sql('postgres', 'create database app');
  await sql('postgres', 'create database shop');
  await sql('app', `create table users (id int primary key, name text, bio text);
    insert into users select g, 'user ' || g, md5(g::text) from generate_series(1, 5000) g;
    insert into users values (0, 'marker', '${MARKER}');
    create table orders (id serial primary key, user_id int references users, total numeric);
    insert into orders (user_id, total) select 1 + g % 5000, g * 1.5 from generate_series(1, 20000) g;`);
  await sql('shop', `create schema sales; create table sales.items (id int, label text);
    insert into sales.items select g, 'item ' || g from generate_series(1, 100) g;`);
  writeConfig(root, `    backup:\n      repository: ./repo\n      keyFile: ./key.txt\n`);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('backup init', () => {
  it('creates an encrypted repository and a private key file', async () => {
    const result = await cli(['backup', 'init', '--generate-key', '--json']);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { keyId: string; recipient: string };
    expect(out.keyId).toMatch(/^k-[0-9a-f]{16}$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const repo = JSON.parse(readFileSync(join(repoDir, 'repo.json'), 'utf8'));
    expect(repo).toMatchObject({ format: 'opsctl-backup-repository', version: 1, encryption: { scheme: 'age', activeKey: out.keyId } });
    expect(result.stdout).not.toContain('AGE-SECRET-KEY');
  });

  it('refuses an existing repository and a foreign directory', async () => {
    expect((await cli(['backup', 'init'])).code).toBe(2);
    const foreign = join(root, 'foreign');
    rmSync(foreign, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', foreign]);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    const result = await cli(['backup', 'init', '--repo', foreign, '--no-encryption']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not empty');
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
  });
});

describe('backup run postgres → list → show → verify', () => {
  let id: string;

  beforeAll(async () => {
    id = await backup(['--label', 'first']);
  });

  it('stores one object per database plus globals, and records the run', () => {
    const manifest = manifestOf(id);
    expect(manifest.objects.map((object) => object.path).sort()).toEqual(['db-app.dump.zst.age', 'db-postgres.dump.zst.age', 'db-shop.dump.zst.age', 'globals.sql.zst.age']);
    expect(runsOf().find((run) => run.id === id)?.status).toBe('ok');
    expect(readdirSync(join(repoDir, 'locks'))).toEqual([]);
  });

  it('writes no plaintext: the data is in the dump, never in a repository file', () => {
    const files: string[] = [];
    const walk = (path: string): void => {
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(path, entry.name));
        else files.push(join(path, entry.name));
      }
    };
    walk(repoDir);
    expect(files.length).toBeGreaterThan(4);
    for (const file of files) expect(readFileSync(file).includes(MARKER), file).toBe(false);
  });

  it('finds backups by table, database and label', async () => {
    const byTable = JSON.parse((await cli(['backup', 'list', '--table', 'users', '--json'])).stdout) as { id: string }[];
    expect(byTable.map((row) => row.id)).toContain(id);
    const qualified = JSON.parse((await cli(['backup', 'list', '--table', 'sales.items', '--json'])).stdout) as { id: string }[];
    expect(qualified.map((row) => row.id)).toContain(id);
    expect(JSON.parse((await cli(['backup', 'list', '--table', 'nope', '--json'])).stdout)).toEqual([]);
    expect(JSON.parse((await cli(['backup', 'list', '--db', 'app', '--label', 'first', '--json'])).stdout)).toHaveLength(1);
    expect(JSON.parse((await cli(['backup', 'list', '--since', '1h', '--json'])).stdout).length).toBeGreaterThan(0);
    expect(JSON.parse((await cli(['backup', 'list', '--until', '2000-01-01', '--json'])).stdout)).toEqual([]);
  });

  it('shows objects, sizes and ratio; lists runs', async () => {
    const shown = JSON.parse((await cli(['backup', 'show', id, '--json'])).stdout) as { objects: { path: string; ratio: string }[]; tables: number };
    expect(shown.objects).toHaveLength(4);
    expect(shown.tables).toBe(3);
    const table = await cli(['backup', 'show', id]);
    expect(table.stdout).toContain('db-app.dump.zst.age');
    const runs = JSON.parse((await cli(['backup', 'runs', '--json'])).stdout) as { id: string; status: string }[];
    expect(runs[0]).toMatchObject({ id, status: 'ok' });
    expect((await cli(['backup', 'show', 'nonexistent-id'])).code).toBe(1);
  });

  it('verifies fast and deep', async () => {
    const fast = await cli(['backup', 'verify', id, '--json']);
    expect(fast.code).toBe(0);
    expect((JSON.parse(fast.stdout) as { status: string }[]).every((row) => row.status === 'ok')).toBe(true);
    const deep = await cli(['backup', 'verify', '--all', '--deep', '--json']);
    expect(deep.code).toBe(0);
    const rows = JSON.parse(deep.stdout) as { object: string; detail: string }[];
    expect(rows.find((row) => row.object === 'db-app.dump.zst.age')?.detail).toContain('pg_restore lists');
  });

  it.skipIf(!hasAge)('opens by hand: age -d | zstd -d gives pg_dump bytes that pg_restore lists and restores', async () => {
    const manifest = manifestOf(id);
    const object = manifest.objects.find((entry) => entry.database === 'app')!;
    const dump = execFileSync('sh', ['-c', `age -d -i "${keyFile}" "${join(repoDir, 'backups', id, object.path)}" | zstd -d`], { maxBuffer: 1 << 28 });
    expect(createHash('sha256').update(dump).digest('hex')).toBe(object.sha256Content);
    const pgBin = server().binDir;
    const dumpFile = join(root, 'app.dump');
    writeFileSync(dumpFile, dump);
    const listed = execFileSync(join(pgBin, 'pg_restore'), ['--list', dumpFile], { maxBuffer: 1 << 28 }).toString();
    expect(listed).toContain('TABLE public users');
    expect(listed.split('\n').filter((line) => /^\d+;/.test(line))).toHaveLength(object.toc!.length);
    await sql('postgres', 'create database app_restored');
    execFileSync(join(pgBin, 'pg_restore'), ['--no-owner', '-d', server().url.replace(/\/postgres$/, '/app_restored'), dumpFile]);
    for (const table of ['users', 'orders']) {
      const original = await sql('app', `select count(*)::int as n from ${table}`);
      const restored = await sql('app_restored', `select count(*)::int as n from ${table}`);
      expect(restored.rows[0].n).toBe(original.rows[0].n);
    }
    const globals = manifest.objects.find((entry) => entry.path.startsWith('globals'))!;
    const sqlText = execFileSync('sh', ['-c', `age -d -i "${keyFile}" "${join(repoDir, 'backups', id, globals.path)}" | zstd -d`]).toString();
    expect(sqlText).toContain('CREATE ROLE postgres');
  });
});

describe('an unencrypted repository with gzip', () => {
  it('stores gzip objects that gzip -d opens, and verifies deep without a key', async () => {
    const dir = join(root, 'plain');
    execFileSync('mkdir', ['-p', dir]);
    writeConfig(dir, `    backup:\n      repository: ./repo\n      compression:\n        algorithm: gzip\n        level: 6\n`);
    const init = await cli(['backup', 'init', '--no-encryption'], { cwd: dir });
    expect(init.code).toBe(0);
    expect(init.stderr).toContain('not encrypted');
    const result = await cli(['backup', 'run', 'postgres', '--db', 'shop', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const id = (JSON.parse(result.stdout) as { id: string }).id;
    const manifest = manifestOf(id, join(dir, 'repo'));
    expect(manifest.objects.map((object) => object.path)).toEqual(['db-shop.dump.gz', 'globals.sql.gz']);
    const content = execFileSync('gzip', ['-dc', join(dir, 'repo', 'backups', id, 'db-shop.dump.gz')]);
    expect(createHash('sha256').update(content).digest('hex')).toBe(manifest.objects[0]!.sha256Content);
    expect((await cli(['backup', 'verify', id, '--deep'], { cwd: dir })).code).toBe(0);
  });

  it('on a terminal, progress and the summary go to stderr and stdout stays data', async () => {
    const result = await cli(['backup', 'run', 'postgres', '--db', 'shop', '--json'], { cwd: join(root, 'plain'), tty: true });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ kind: 'pg-logical', databases: 'shop' });
    expect(result.stderr).toMatch(/backup \S+-pg-logical-\S+: .* stored in/);
  });
});

describe('damage is found and named (exit 3)', () => {
  it.each([
    ['a flipped byte', 'hash-mismatch', (path: string) => {
      const bytes = readFileSync(path);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      writeFileSync(path, bytes);
    }],
    ['a truncated object', 'size-mismatch', (path: string) => truncateSync(path, statSync(path).size - 10)],
    ['a missing object', 'missing', (path: string) => unlinkSync(path)],
  ])('%s', async (_name, status, damage) => {
    const id = await backup(['--db', 'shop', '--no-globals']);
    const object = join(repoDir, 'backups', id, 'db-shop.dump.zst.age');
    damage(object);
    const fast = await cli(['backup', 'verify', id, '--json']);
    expect(fast.code).toBe(3);
    expect(JSON.parse(fast.stdout)).toEqual([expect.objectContaining({ object: 'db-shop.dump.zst.age', status })]);
    expect(fast.stderr).toContain(`${id}/db-shop.dump.zst.age`);
    const deep = await cli(['backup', 'verify', id, '--deep', '--json']);
    expect(deep.code).toBe(3);
    rmSync(join(repoDir, 'backups', id), { recursive: true });
  });

  it('deep verification catches altered content whose stored hash was updated too', async () => {
    const id = await backup(['--db', 'shop', '--no-globals']);
    const manifestPath = join(repoDir, 'backups', id, 'manifest.json');
    const objectPath = join(repoDir, 'backups', id, 'db-shop.dump.zst.age');
    const bytes = readFileSync(objectPath);
    bytes[bytes.length - 40]! ^= 0x01;
    writeFileSync(objectPath, bytes);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.objects[0].sha256Stored = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(manifestPath, JSON.stringify(manifest));
    expect((await cli(['backup', 'verify', id])).code).toBe(0);
    const deep = await cli(['backup', 'verify', id, '--deep', '--json']);
    expect(deep.code).toBe(3);
    expect(JSON.parse(deep.stdout)[0]).toMatchObject({ object: 'db-shop.dump.zst.age', status: 'decrypt-failed' });
    rmSync(join(repoDir, 'backups', id), { recursive: true });
  });
});

describe('bad input', () => {
  it('a wrong key is refused before anything is written (exit 2)', async () => {
    const other = join(root, 'other-key.txt');
    writeFileSync(other, formatIdentityFile(generateIdentity(), new Date()), { mode: 0o600 });
    const before = { backups: readdirSync(join(repoDir, 'backups')).sort(), runs: runsOf().length };
    const result = await cli(['backup', 'run', 'postgres', '--key-file', other]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/does not open the repository/);
    expect(readdirSync(join(repoDir, 'backups')).sort()).toEqual(before.backups);
    expect(runsOf()).toHaveLength(before.runs);
    expect((await cli(['backup', 'verify', '--all', '--deep', '--key-file', other])).code).toBe(2);
  });

  it('a repository of a newer format version is refused', async () => {
    const newer = join(root, 'newer');
    execFileSync('cp', ['-r', repoDir, newer]);
    const file = JSON.parse(readFileSync(join(newer, 'repo.json'), 'utf8'));
    writeFileSync(join(newer, 'repo.json'), JSON.stringify({ ...file, version: 2 }));
    const result = await cli(['backup', 'list', '--repo', newer]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('format version 2');
  });

  it('a second backup of the same kind refuses while one runs; a stale lock is taken over', async () => {
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(repoDir, 'locks', 'pg-logical.lock'), JSON.stringify({ pid: holder.pid, host: (await import('node:os')).hostname(), backupId: 'x', startedAt: new Date().toISOString() }));
      const refused = await cli(['backup', 'run', 'postgres', '--db', 'shop']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('another pg-logical backup is running');
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    // The holder is gone: its lock is stale and the next run takes it over.
    await backup(['--db', 'shop', '--no-globals']);
  });

  it('a pg_dump older than the server is refused, naming it (exit 4)', async () => {
    // PATH holds only an old pg_dump (a script reporting 9.6), the real pg_restore/pg_dumpall and zstd.
    const bin = join(root, 'old-bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n', { mode: 0o755 });
    for (const tool of ['pg_restore', 'pg_dumpall']) execFileSync('ln', ['-sf', join(server().binDir, tool), join(bin, tool)]);
    execFileSync('ln', ['-sf', execFileSync('sh', ['-c', 'command -v zstd']).toString().trim(), join(bin, 'zstd')]);
    const runsBefore = new Set(runsOf().map((run) => run.id));
    const result = await runCli(['backup', 'run', 'postgres', '--db', 'shop'], { cwd: root, env: { PATH: bin, HOME: process.env.HOME, OPSCTL_PG_BIN_SEARCH: '' } });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/pg_dump \d+ or newer not found \(found 9\.6 at .*old-bin\/pg_dump\)/);
    expect(runsOf().filter((run) => !runsBefore.has(run.id))).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ code: 'TOOL_NOT_FOUND' }) })]);
  });

  it('PostgreSQL down: exit 4, the failed run is in the catalog, no backup', async () => {
    const dir = join(root, 'down');
    execFileSync('mkdir', ['-p', dir]);
    writeConfig(dir, `    backup:\n      repository: ${repoDir}\n      keyFile: ${keyFile}\n`, `postgres://postgres@127.0.0.1:${await freePort()}/postgres`);
    const before = readdirSync(join(repoDir, 'backups')).length;
    const runsBefore = new Set(runsOf().map((run) => run.id));
    const result = await cli(['backup', 'run', 'postgres'], { cwd: dir });
    expect(result.code).toBe(4);
    const latest = runsOf().filter((run) => !runsBefore.has(run.id));
    expect(latest).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ code: 'PG_UNREACHABLE' }) })]);
    expect(readdirSync(join(repoDir, 'backups'))).toHaveLength(before);
    const runs = await cli(['backup', 'runs', '--status', 'failed', '--json']);
    expect((JSON.parse(runs.stdout) as { id: string }[]).map((run) => run.id)).toContain(latest[0]!.id);
  });
});

describe('interrupted backups leave no manifest and are cleaned up', () => {
  beforeAll(async () => {
    // About 60 MB of poorly compressible data, so a dump takes long enough to interrupt.
    await sql('postgres', 'create database big');
    await sql('big', `create table blobs (id int, payload text);
      insert into blobs select g, (select string_agg(md5(random()::text), '') from generate_series(1, 30)) from generate_series(1, 60000) g;`);
  });

  function backupDirs(): string[] {
    return readdirSync(join(repoDir, 'backups'));
  }

  async function waitForTempObject(): Promise<string> {
    for (let i = 0; i < 400; i += 1) {
      for (const id of backupDirs()) {
        if (readdirSync(join(repoDir, 'backups', id)).some((name) => name.includes('.tmp-') && statSync(join(repoDir, 'backups', id, name)).size > 0)) return id;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('no backup started writing');
  }

  it('Ctrl-C (abort signal) mid-stream: exit 130, no manifest, run failed', async () => {
    const before = new Set(backupDirs());
    const controller = new AbortController();
    const running = cli(['backup', 'run', 'postgres', '--db', 'big'], { signal: controller.signal });
    const id = await waitForTempObject();
    expect(before.has(id)).toBe(false);
    controller.abort(new (await import('../../src/core/errors.js')).OpsError('INTERRUPTED', 'interrupted by SIGINT'));
    const result = await running;
    expect(result.code).toBe(130);
    // The command cleans up after main has returned: wait for the lock to go.
    for (let i = 0; i < 200 && existsSync(join(repoDir, 'locks', 'pg-logical.lock')); i += 1) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(existsSync(join(repoDir, 'backups', id, 'manifest.json'))).toBe(false);
    expect(existsSync(join(repoDir, 'backups', id))).toBe(false);
    expect(runsOf().find((run) => run.id === id)).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
  });

  it('a second backup started while one runs is refused; the first completes', async () => {
    const first = cli(['backup', 'run', 'postgres', '--db', 'big', '--json']);
    await waitForTempObject();
    const second = await cli(['backup', 'run', 'postgres', '--db', 'shop']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('another pg-logical backup is running');
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(existsSync(join(repoDir, 'backups', (JSON.parse(done.stdout) as { id: string }).id, 'manifest.json'))).toBe(true);
  });

  it('SIGKILL of the CLI process: no manifest; the next run removes the leftovers and marks the run failed', async () => {
    const child = spawn(process.execPath, [BIN, 'backup', 'run', 'postgres', '--db', 'big'], { cwd: root, env, stdio: 'ignore' });
    const id = await waitForTempObject();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(join(repoDir, 'backups', id, 'manifest.json'))).toBe(false);
    expect(existsSync(join(repoDir, 'locks', 'pg-logical.lock'))).toBe(true);
    expect(runsOf().find((run) => run.id === id)?.status).toBe('running');
    const listed = JSON.parse((await cli(['backup', 'list', '--json'])).stdout) as { id: string }[];
    expect(listed.map((row) => row.id)).not.toContain(id);

    const next = await backup(['--db', 'shop', '--no-globals']);
    expect(existsSync(join(repoDir, 'backups', id))).toBe(false);
    expect(runsOf().find((run) => run.id === id)).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    expect(existsSync(join(repoDir, 'backups', next, 'manifest.json'))).toBe(true);
  });
});

describe('PostgreSQL going down mid-backup', () => {
  let doomed: PostgresServer;
  const dir = join(root, 'doomed');
  const doomedRepo = join(dir, 'repo');

  beforeAll(async () => {
    doomed = await startPostgres();
    const client = new pg.Client({ connectionString: doomed.url });
    await client.connect();
    await client.query(`create table blobs (id int, payload text);
      insert into blobs select g, (select string_agg(md5(random()::text), '') from generate_series(1, 30)) from generate_series(1, 60000) g;`);
    await client.end();
    execFileSync('mkdir', ['-p', dir]);
    writeConfig(dir, `    backup:\n      repository: ./repo\n      keyFile: ${keyFile}\n`, doomed.url);
    expect((await cli(['backup', 'init'], { cwd: dir })).code).toBe(0);
  });

  afterAll(async () => {
    await doomed.stop();
  });

  it('exit 4, no manifest, the run is recorded failed', async () => {
    const running = cli(['backup', 'run', 'postgres', '--db', 'postgres'], { cwd: dir });
    let started = false;
    for (let i = 0; i < 400 && !started; i += 1) {
      const backups = existsSync(join(doomedRepo, 'backups')) ? readdirSync(join(doomedRepo, 'backups')) : [];
      started = backups.some((id) => readdirSync(join(doomedRepo, 'backups', id)).some((name) => name.includes('.tmp-')));
      if (!started) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(started).toBe(true);
    await doomed.stop();
    const result = await running;
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/pg_dump failed/);
    expect(readdirSync(join(doomedRepo, 'backups'))).toEqual([]);
    expect(runsOf(doomedRepo)).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ code: 'PG_UNREACHABLE' }) })]);
  });
});

describe('disk full mid-backup', () => {
  /** The repository's disk fills up after 64 KiB of a data object. */
  class FullDisk extends LocalStorage {
    override put(key: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Readable, options?: { signal?: AbortSignal }): Promise<number> {
      if (!key.includes('/db-')) return super.put(key, source, options);
      const limited = async function* () {
        let written = 0;
        for await (const chunk of source as AsyncIterable<Uint8Array>) {
          written += chunk.length;
          if (written > 64 * 1024) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          yield chunk;
        }
      };
      return super.put(key, limited(), options);
    }
  }

  it('fails with BACKUP_STORAGE_FAILED, leaves no backup and records the failed run', async () => {
    const dir = join(root, 'full');
    await Repository.init(new LocalStorage(dir), { scheme: 'none' });
    const repo = await Repository.open(new FullDisk(dir));
    const postgres = postgresSchema.parse({ url: server().url });
    const pool = await createPgPool(postgres, { configKey: 'test' });
    try {
      await expect(
        runLogicalBackup({ repository: repo, connect: async () => pool, postgres, configKey: 'test', databases: ['app'], compression: { algorithm: 'gzip', level: 1, threads: 1 } }),
      ).rejects.toMatchObject({ code: 'BACKUP_STORAGE_FAILED', message: expect.stringContaining('no space left') });
    } finally {
      await pool.end();
    }
    expect(readdirSync(join(dir, 'backups'))).toEqual([]);
    expect(runsOf(dir)).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ code: 'BACKUP_STORAGE_FAILED' }) })]);
    expect(readdirSync(join(dir, 'locks'))).toEqual([]);
  });
});
