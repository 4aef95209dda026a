import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityFile, generateIdentity } from '../../src/backup/age.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { segmentsBetween } from '../../src/backup/wal-archive.js';
import { pgServerUser } from '../../src/postgres/tools.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { BIN, runCli, spawnCli } from '../helpers/cli.js';
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

  it('wal-push --repo does not read the configuration (the fast path); -o yaml takes the ordinary path, which does', async () => {
    const name = (await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')).rows[0]!.last;
    const dir = join(root, 'broken-config');
    mkdirSync(dir);
    writeFileSync(join(dir, 'opsctl.config.yaml'), 'version: 2\nprofiles: [not, a, map]\n');
    execFileSync(process.execPath, [BIN, 'backup', 'wal-fetch', '--repo', repoDir, '--key-file', keyFile, name, join(dir, name)]);
    const fast = await runCli(['backup', 'wal-push', '--repo', repoDir, name, '--json'], { cwd: dir, env });
    expect(fast.code, fast.stderr).toBe(0);
    expect(JSON.parse(fast.stdout)).toMatchObject({ name, status: 'already-archived' });
    const ordinary = await runCli(['backup', 'wal-push', '--repo', repoDir, name, '-o', 'yaml'], { cwd: dir, env });
    expect(ordinary.code).toBe(2);
    expect(ordinary.stderr).toMatch(/profiles/);
  });

  it('wal-fetch of a segment never archived exits 1 (PostgreSQL ends recovery)', async () => {
    const result = await cli(['backup', 'wal-fetch', '0000000100000000000000FF', join(root, 'nothing')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not in the WAL archive/);
    expect(existsSync(join(root, 'nothing'))).toBe(false);
  });

  it('--async: under a steady write load the .ready backlog stays bounded; the pusher archives ahead and wal-status shows the spool', async () => {
    const spool = join(root, 'spool');
    const asyncCommand = `${process.execPath} ${BIN} backup wal-push --async --spool ${spool} --repo ${repoDir} %p`;
    const planned = await cli(['backup', 'setup-archiving', '--async', '--dry-run', '--json']);
    expect((JSON.parse(planned.stdout) as { statements: string[] }).statements[0]).toMatch(/ backup wal-push --async --repo \S+ %p'$/);
    expect((await cli(['backup', 'setup-archiving', '--yes', '--command', asyncCommand])).code).toBe(0);
    await waitFor(async () => (await pool.query<{ c: string }>("select current_setting('archive_command') as c")).rows[0]!.c === asyncCommand);
    const before = await archivedCount();
    await pool.query('create table load (id int, v text)');
    // About 16 MiB of WAL every 600 ms for 9 s, sampling the backlog meanwhile.
    let maxReady = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await pool.query<{ n: string }>("select count(*)::text as n from pg_ls_archive_statusdir() where name like '%.ready'");
        maxReady = Math.max(maxReady, Number(rows[0]!.n));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const end = Date.now() + 9_000;
    while (Date.now() < end) {
      const started = Date.now();
      await pool.query('insert into load select g, repeat(md5(g::text), 3) from generate_series(1, 100000) g');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 600 - (Date.now() - started))));
    }
    const { rows } = await pool.query<{ name: string }>('select pg_walfile_name(pg_current_wal_lsn()) as name');
    await pool.query('select pg_switch_wal()');
    sampling = false;
    await sampler;
    await waitFor(async () => (await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')).rows[0]!.last >= rows[0]!.name, 60_000);
    const archived = (await archivedCount()) - before;
    expect(archived).toBeGreaterThanOrEqual(8);
    expect(maxReady, `backlog peaked at ${maxReady} for ${archived} segments`).toBeLessThanOrEqual(6);
    const name = (await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')).rows[0]!.last;
    expect(readdirSync(join(repoDir, 'wal', name.slice(0, 16))).some((file) => file.startsWith(`${name}-`))).toBe(true);

    const status = await cli(['backup', 'wal-status', '--spool', spool, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as { failedCount: number; lastFailed?: string; spool: { dir: string; failed: unknown[]; pusher?: number } };
    expect(parsed.spool).toMatchObject({ dir: spool, failed: [] });
    // PostgreSQL retries a failed archive_command, and every segment was archived (above); one
    // failed attempt was seen once under full-suite load on 2 cores (not reproduced alone), so a
    // single retried attempt is tolerated here and reported, more is a failure.
    expect(parsed.failedCount, `archive_command failed for ${parsed.lastFailed ?? '?'}`).toBeLessThanOrEqual(1);
    const human = await cli(['backup', 'wal-status', '--spool', spool]);
    expect(human.stdout).toMatch(/async spool +.*spool: pusher (pid \d+|not running)/);
    // The pusher ends by itself after 10 s idle; stopped here so nothing outlives the test file.
    if (parsed.spool.pusher !== undefined) process.kill(parsed.spool.pusher, 'SIGTERM');
  }, 120_000);

  it('--async: errors raised by the pusher (a conflict, a newer repository) are the archive_command\'s; a silent pusher times out (exit 1)', async () => {
    const name = (await pool.query<{ last: string }>('select last_archived_wal as last from pg_stat_archiver')).rows[0]!.last;
    const walDir = join(root, 'other-pg_wal');
    mkdirSync(join(walDir, 'archive_status'), { recursive: true });
    execFileSync(process.execPath, [BIN, 'backup', 'wal-fetch', '--repo', repoDir, '--key-file', keyFile, name, join(walDir, name)]);
    const bytes = readFileSync(join(walDir, name));
    bytes[200] = bytes[200]! ^ 0xff;
    writeFileSync(join(walDir, name), bytes);
    const spool = join(root, 'spool-conflict');
    const conflict = await cli(['backup', 'wal-push', '--async', '--spool', spool, '--repo', repoDir, join(walDir, name)]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/already archived with other content/);
    expect(readdirSync(join(spool, 'ack'))).toEqual([]);

    // A repository of a newer format: refused by the synchronous fast path, and by a pusher that
    // then answers the waiting archive_command with that error at once (no timeout).
    const newer = join(root, 'newer-repo');
    execFileSync('cp', ['-r', repoDir, newer]);
    const file = JSON.parse(readFileSync(join(newer, 'repo.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(newer, 'repo.json'), JSON.stringify({ ...file, version: 99 }));
    const sync = await cli(['backup', 'wal-push', '--repo', newer, join(walDir, name)]);
    expect(sync.code).toBe(2);
    expect(sync.stderr).toContain('format version 99');
    const started = Date.now();
    const refused = await cli(['backup', 'wal-push', '--async', '--spool', join(root, 'spool-newer'), '--repo', newer, join(walDir, name)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('format version 99');
    expect(Date.now() - started).toBeLessThan(30_000);

    // A live pusher that never answers (this process holds the lock): exit 1 after --timeout.
    const silent = join(root, 'spool-silent');
    mkdirSync(join(silent, 'queue'), { recursive: true, mode: 0o700 });
    mkdirSync(join(silent, 'ack'), { mode: 0o700 });
    writeFileSync(join(silent, 'pusher.pid'), `${process.pid}\n`);
    const stuck = await cli(['backup', 'wal-push', '--async', '--timeout', '1', '--spool', silent, '--repo', repoDir, join(walDir, name)]);
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(/did not archive .* within 1 s/);
    expect(stuck.stderr).toContain('pusher.log');
  }, 60_000);

  it('wal-pusher: a second one on a spool whose pusher runs does nothing and says so', async () => {
    const spool = join(root, 'spool-two');
    const walDir = join(root, 'empty-pg_wal');
    mkdirSync(join(walDir, 'archive_status'), { recursive: true });
    const run = (idle: string) => spawnCli(['backup', 'wal-pusher', '--idle', idle, '--spool', spool, '--repo', repoDir, walDir, '--json'], { cwd: root, env });
    const first = run('4');
    await waitFor(async () => existsSync(join(spool, 'pusher.pid')));
    const second = await run('1');
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ ran: false });
    expect(JSON.parse((await first).stdout)).toMatchObject({ ran: true, pushed: 0 });
    expect(existsSync(join(spool, 'pusher.pid'))).toBe(false);
  }, 30_000);

  it('segment names of a range follow PostgreSQL (log id rolls over after FF with 16 MiB segments)', () => {
    expect(segmentsBetween('0000000100000000000000FE', '000000010000000100000001', 16 * 1024 * 1024)).toEqual([
      '0000000100000000000000FE',
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
  });
});
