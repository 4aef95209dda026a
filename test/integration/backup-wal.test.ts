import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityFile, generateIdentity } from '../../src/backup/age.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { segmentsBetween } from '../../src/backup/wal-archive.js';
import { pgServerUser } from '../../src/postgres/tools.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { BIN, runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';

let root = '';
let repoDir = '';
let keyFile = '';
const env = { PATH: process.env.PATH, HOME: process.env.HOME };

// The repository exists (owned by the server's user) before the archiving server starts.
beforeAll(async () => {
  const user = await pgServerUser();
  root = await makeTempDir(user);
  repoDir = join(root, 'repo');
  keyFile = join(root, 'key.txt');
  const key = generateIdentity();
  writeFileSync(keyFile, formatIdentityFile(key, new Date()), { mode: 0o600 });
  await Repository.init(new LocalStorage(repoDir), { scheme: 'age', key });
  if (user !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, repoDir]);
});

const archiveCommand = () => `${process.execPath} ${BIN} backup wal-push --repo ${repoDir} %p`;
const server = usePostgres({ settings: { archive_mode: 'on', archive_command: '/bin/false' } });
let pool: pg.Pool;

const cli = (argv: string[]) => runCli(argv, { cwd: root, env });

async function archivedCount(): Promise<number> {
  const row = await pool.query<{ n: string }>('select archived_count::text as n from pg_stat_archiver');
  return Number(row.rows[0]!.n);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting for the archiver');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: server().url, max: 2 });
  writeFileSync(join(root, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    postgres:\n      url: ${server().url}\n    backup:\n      repository: ${repoDir}\n      keyFile: ${keyFile}\n`);
  // Archiving starts failing (/bin/false) and is switched to wal-push by setup-archiving.
});

afterAll(async () => {
  await pool?.end();
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

describe('WAL archive', () => {
  it('setup-archiving --dry-run prints the SQL; applied, the server archives through wal-push without a restart', async () => {
    const dry = await cli(['backup', 'setup-archiving', '--dry-run', '--command', archiveCommand(), '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { statements: string[]; restartNeeded: boolean; applied: boolean };
    expect(plan).toMatchObject({ restartNeeded: false, applied: false });
    expect(plan.statements[0]).toBe(`ALTER SYSTEM SET archive_command = '${archiveCommand()}'`);
    expect((await pool.query<{ c: string }>("select current_setting('archive_command') as c")).rows[0]!.c).toBe('/bin/false');

    const applied = await cli(['backup', 'setup-archiving', '--yes', '--command', archiveCommand()]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('no restart needed');
    await waitFor(async () => (await pool.query<{ c: string }>("select current_setting('archive_command') as c")).rows[0]!.c === archiveCommand());
    const again = await cli(['backup', 'setup-archiving', '--dry-run', '--command', archiveCommand()]);
    expect(again.stdout).toContain('already configured');
  });

  it('archives switched segments into <repo>/wal (encrypted); wal-fetch returns the same bytes', async () => {
    const before = await archivedCount();
    await pool.query('create table t (id int, v text); insert into t select g, md5(g::text) from generate_series(1, 20000) g');
    const { rows } = await pool.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    await waitFor(async () => (await archivedCount()) > before);
    const status = await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver');
    const name = status.rows[0]!.last;
    expect(name >= rows[0]!.name).toBe(true);
    const dir = join(repoDir, 'wal', name.slice(0, 16));
    const object = readdirSync(dir).find((file) => file.startsWith(`${name}-`))!;
    expect(object).toMatch(/^[0-9A-F]{24}-[0-9a-f]{64}\.zst\.age$/);
    expect(readFileSync(join(dir, object)).subarray(0, 21).toString()).toBe('age-encryption.org/v1');

    const dest = join(root, 'fetched');
    const fetched = await cli(['backup', 'wal-fetch', name, dest]);
    expect(fetched.code, fetched.stderr).toBe(0);
    const original = join(server().dataDir, 'pg_wal', name);
    const bytes = readFileSync(dest);
    expect(bytes.length).toBe(16 * 1024 * 1024);
    if (existsSync(original)) expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(readFileSync(original)).digest('hex'));
    expect(object).toContain(createHash('sha256').update(bytes).digest('hex'));

    const status2 = await cli(['backup', 'wal-status', '--json']);
    expect(status2.code, status2.stderr).toBe(0);
    expect(JSON.parse(status2.stdout)).toMatchObject({ archiveMode: 'on', lastArchived: name, newestInRepository: name });
  });

  it('pushing the same segment twice is fine; other content under an archived name is refused (exit 1)', async () => {
    const name = (await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')).rows[0]!.last;
    const copy = join(root, name);
    execFileSync(process.execPath, [BIN, 'backup', 'wal-fetch', '--repo', repoDir, '--key-file', keyFile, name, copy]);
    const same = await cli(['backup', 'wal-push', copy, '--json']);
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ name, status: 'already-archived' });

    const bytes = readFileSync(copy);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(copy, bytes);
    const other = await cli(['backup', 'wal-push', copy]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/already archived with other content/);
    expect(readdirSync(join(repoDir, 'wal', name.slice(0, 16))).filter((file) => file.startsWith(`${name}-`))).toHaveLength(1);

    const notWal = join(root, 'notes.txt');
    copyFileSync(keyFile, notWal);
    expect((await cli(['backup', 'wal-push', notWal])).code).toBe(2);
  });

  it('wal-fetch of a segment never archived exits 1 (PostgreSQL ends recovery)', async () => {
    const result = await cli(['backup', 'wal-fetch', '0000000100000000000000FF', join(root, 'nothing')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not in the WAL archive/);
    expect(existsSync(join(root, 'nothing'))).toBe(false);
  });

  it('segment names of a range follow PostgreSQL (log id rolls over after FF with 16 MiB segments)', () => {
    expect(segmentsBetween('0000000100000000000000FE', '000000010000000100000001', 16 * 1024 * 1024)).toEqual([
      '0000000100000000000000FE',
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
  });
});
