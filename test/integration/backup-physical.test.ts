import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityFile, generateIdentity } from '../../src/backup/age.js';
import { packContentHash } from '../../src/backup/block-index.js';
import { materializePhysicalBackup, readIndex, runPhysicalBackup, verifyPhysicalBlocks, type PhysicalBackupType } from '../../src/backup/pg-physical.js';
import { readObjectBuffer } from '../../src/backup/pg-physical-pack.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { postgresSchema } from '../../src/config/schema.js';
import { createPgPool, pgToolEnv } from '../../src/postgres/connection.js';
import { findPgServerBinDir, pgServerUser } from '../../src/postgres/tools.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { usePostgres } from '../helpers/postgres.js';
import { rejection } from '../helpers/assertions.js';
import { runCli } from '../helpers/cli.js';
import { withRestoredServer } from '../helpers/physical-restore.js';

const server = usePostgres();
const root = mkdtempSync(join(tmpdir(), 'opsctl-physical-'));
const key = generateIdentity();
let repo: Repository;
let pool: pg.Pool;
const compression = { algorithm: 'zstd', level: 3, threads: 2 } as const;

const backup = (type: PhysicalBackupType, target = repo) =>
  runPhysicalBackup({ repository: target, connect: () => Promise.resolve(pool), server: 'test', type, compression });

/** Bytes of relation files (not WAL, not backup_label) this backup stored itself. */
async function ownDataBytes(id: string): Promise<number> {
  const index = await readIndex(repo, await repo.readManifest(id));
  let bytes = 0;
  for (const file of index.files) {
    if (!file.path.startsWith('base/')) continue;
    for (const [source, , length] of file.extents) if (source === 0) bytes += length;
  }
  return bytes;
}

beforeAll(async () => {
  repo = await Repository.init(new LocalStorage(join(root, 'repo')), { scheme: 'age', key });
  pool = await createPgPool(postgresSchema.parse({ url: server().url }), { configKey: 'test' });
  // ~14 MB of table: 100k rows, one contiguous 1% (ids 1..1000) changed later.
  await pool.query(`create table items (id int primary key, payload text);
    insert into items select g, repeat(md5(g::text), 3) from generate_series(1, 100000) g;
    checkpoint;`);
});

afterAll(async () => {
  await pool?.end();
  rmSync(root, { recursive: true, force: true });
});

describe('physical backups', () => {
  let full: string;
  let incr: string;

  it('takes a full backup with the low-level API: LSNs, timeline, WAL range, encrypted pack', async () => {
    const result = await backup('full');
    const manifest = result.manifest;
    full = manifest.id;
    expect(manifest.kind).toBe('pg-physical');
    expect(manifest.type).toBe('full');
    expect(manifest.physical).toMatchObject({ timeline: 1, blockSize: 8192, dependsOn: [full] });
    expect(manifest.physical!.walStart <= manifest.physical!.walStop).toBe(true);
    expect(manifest.physical!.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(manifest.objects.map((object) => object.role)).toEqual(['pg-data', 'pg-index']);
    expect(manifest.objects.every((object) => object.encryption === 'age' && object.path.endsWith('.zst.age'))).toBe(true);
    // No running backup is left on the server.
    const state = await pool.query<{ n: string }>("select count(*)::text as n from pg_stat_activity where query like 'select pg_backup_start%' and state <> 'idle'");
    expect(state.rows[0]!.n).toBe('0');
    const index = await readIndex(repo, manifest);
    const paths = index.files.map((file) => file.path);
    expect(paths).toContain('backup_label');
    expect(paths).toContain('global/pg_control');
    expect(paths).toContain(`pg_wal/${manifest.physical!.walStart}`);
    expect(paths).not.toContain('postmaster.pid');
    expect(index.dirs.map((dir) => dir.path)).toContain('pg_wal/archive_status');
    // No tablespaces: still block index version 1, which older opsctl reads.
    expect(index.version).toBe(1);
    const label = readFileSync(join(root, 'repo', 'backups', full, manifest.objects[0]!.path));
    expect(label.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
  });

  it('stores only changed blocks after a contiguous 1% change (incr), and diff refers to the full', async () => {
    await pool.query("update items set payload = 'changed ' || id where id <= 1000; checkpoint;");
    const result = await backup('incr');
    incr = result.manifest.id;
    expect(result.manifest.physical).toMatchObject({ reference: full, dependsOn: [incr, full] });
    const fullData = await ownDataBytes(full);
    const incrData = await ownDataBytes(incr);
    expect(fullData).toBeGreaterThan(10_000_000);
    expect(incrData / fullData).toBeLessThan(0.1);

    await pool.query("update items set payload = 'again ' || id where id between 50001 and 50100; checkpoint;");
    const diff = await backup('diff');
    expect(diff.manifest.physical).toMatchObject({ reference: full });
    expect(diff.manifest.physical!.dependsOn).not.toContain(incr);
    const second = await backup('incr');
    expect(second.manifest.physical!.reference).toBe(diff.manifest.id);
  });

  it('materializes an incremental backup into a data directory PostgreSQL starts on, with the data of the backup', async () => {
    const sql = "select count(*)::text as n, md5(string_agg(payload, ',' order by id)) as sum from items where id <= 1000";
    const expected = await pool.query<{ n: string; sum: string }>(sql);
    await withRestoredServer(repo, incr, async ({ client, files }) => {
      expect(files).toBeGreaterThan(500);
      // The incr was taken after the first update: ids 1..1000 read 'changed …'.
      expect((await client.query<{ n: string; sum: string }>(sql)).rows[0]).toEqual(expected.rows[0]);
      const total = await client.query<{ n: string }>('select count(*)::text as n from items');
      expect(total.rows[0]!.n).toBe('100000');
    });
  });

  it('runs from the CLI: backup run postgres-physical --type incr, list, show, verify --deep', async () => {
    const keyFile = join(root, 'key.txt');
    writeFileSync(keyFile, formatIdentityFile(key, new Date()), { mode: 0o600 });
    writeFileSync(
      join(root, 'opsctl.config.yaml'),
      `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    postgres:\n      url: ${server().url}\n    backup:\n      repository: ${join(root, 'repo')}\n      keyFile: ${keyFile}\n`,
    );
    const cli = (argv: string[]) => runCli(argv, { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    const run = await cli(['backup', 'run', 'postgres-physical', '--type', 'incr', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { id: string; type: string; reference: string; sizeNew: number; sizeRead: number };
    expect(result).toMatchObject({ type: 'incr' });
    expect(result.sizeNew).toBeLessThan(result.sizeRead);
    const list = await cli(['backup', 'list', '--kind', 'pg-physical', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((row) => row.id)).toContain(result.id);
    const show = await cli(['backup', 'show', result.id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('(pg-data)');
    expect(show.stdout).toMatch(/wal {9}[0-9A-F]{24}…[0-9A-F]{24} \(timeline 1, LSN /);
    expect(show.stdout).toContain(`reference   ${result.reference}`);
    const verify = await cli(['backup', 'verify', result.id, '--deep']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    const bad = await cli(['backup', 'run', 'postgres-physical', '--type', 'weekly']);
    expect(bad.code).toBe(2);
  });

  it('verifies deeply: every block hash, the WAL range; a flipped byte in the referenced full is named', async () => {
    await repo.unlock([key]);
    const manifest = await repo.readManifest(incr);
    const deep = await verifyBackup(repo, manifest, { deep: true });
    expect(deep.map((check) => check.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(deep.map((check) => check.object).slice(2)).toEqual(['wal', 'blocks']);
    const physical = await verifyPhysicalBlocks(repo, manifest);
    expect(physical.map((check) => check.status)).toEqual(['ok', 'ok']);
    expect(physical[1]!.detail).toMatch(/blocks of \d+ files from 2 pack/);

    // The pack (v2) records the SHA-256 of its block hashes, not a second hash of its bytes.
    const pack = manifest.objects.find((object) => object.role === 'pg-data')!;
    expect(pack).toMatchObject({ format: 'opsctl-pack-v2', sha256Content: packContentHash(await readIndex(repo, manifest)) });
    const withPack = (changes: Partial<typeof pack>) => ({ ...manifest, objects: manifest.objects.map((object) => (object === pack ? { ...object, ...changes } : object)) });
    const tampered = await verifyPhysicalBlocks(repo, withPack({ sha256Content: '0'.repeat(64) }));
    expect(tampered[1]).toMatchObject({ status: 'block-mismatch', detail: expect.stringContaining(pack.path) as string });
    // A v1 pack (older opsctl) records the SHA-256 of its bytes: deep verify still checks that.
    const bytes = await readObjectBuffer(repo, `backups/${incr}/${pack.path}`, pack);
    const v1 = withPack({ format: 'opsctl-pack-v1', sha256Content: createHash('sha256').update(bytes).digest('hex') });
    expect((await verifyBackup(repo, v1, { deep: true })).map((check) => check.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    const v1Wrong = await verifyBackup(repo, withPack({ format: 'opsctl-pack-v1' }), { deep: true });
    expect(v1Wrong[0]).toMatchObject({ status: 'content-mismatch', object: pack.path });

    const fullManifest = await repo.readManifest(full);
    const packPath = join(root, 'repo', 'backups', full, fullManifest.objects[0]!.path);
    const fd = openSync(packPath, 'r+');
    const size = statSync(packPath).size;
    writeSync(fd, Buffer.from([0x55]), 0, 1, Math.floor(size / 2));
    closeSync(fd);
    const fast = await verifyBackup(repo, fullManifest);
    expect(fast[0]).toMatchObject({ status: 'hash-mismatch', object: fullManifest.objects[0]!.path });
    const broken = await verifyPhysicalBlocks(repo, manifest);
    expect(broken[1]!.status).toBe('block-mismatch');
  });

  it('Ctrl-C mid-copy: no manifest, the run failed, the server left backup mode (the next full works)', async () => {
    const controller = new AbortController();
    const before = (await repo.listBackups()).length;
    const progress = {
      start: () => ({
        update: () => controller.abort(new Error('interrupted')),
        advance: () => undefined,
        setTotal: () => undefined,
        finish: () => undefined,
      }),
    };
    const aborted = runPhysicalBackup({ repository: repo, connect: () => Promise.resolve(pool), server: 'test', type: 'full', compression, signal: controller.signal, progress });
    await expect(aborted).rejects.toThrow('interrupted');
    expect((await repo.listBackups()).length).toBe(before);
    const runs = await repo.listRuns();
    expect(runs[0]).toMatchObject({ status: 'failed' });
    expect(readdirSync(join(root, 'repo', 'backups')).filter((name) => name === runs[0]!.id)).toEqual([]);
    const next = await backup('full');
    expect(next.manifest.type).toBe('full');
  });

  it('pg_basebackup path (--via basebackup): same blocks, incr stores only changes, pg_verifybackup passes on the restored directory', async () => {
    const toolEnv = pgToolEnv(postgresSchema.parse({ url: server().url }), 'test', { PATH: process.env.PATH, HOME: process.env.HOME });
    const viaBasebackup = (type: PhysicalBackupType) =>
      runPhysicalBackup({ repository: repo, connect: () => Promise.resolve(pool), server: 'test', type, compression, via: 'basebackup', toolEnv });
    const first = await viaBasebackup('full');
    const index = await readIndex(repo, first.manifest);
    const paths = index.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['backup_label', 'backup_manifest', 'global/pg_control', `pg_wal/${first.manifest.physical!.walStart}`]));
    expect(first.manifest.physical!.walStart <= first.manifest.physical!.walStop).toBe(true);
    await pool.query("update items set payload = 'via basebackup ' || id where id <= 500; checkpoint;");
    const second = await viaBasebackup('incr');
    expect(second.manifest.physical!.reference).toBe(first.manifest.id);
    expect(await ownDataBytes(second.manifest.id)).toBeLessThan((await ownDataBytes(first.manifest.id)) / 10);

    const user = await pgServerUser();
    const dir = await makeTempDir(user);
    try {
      const dataDir = join(dir, 'data');
      await materializePhysicalBackup(repo, second.manifest.id, dataDir);
      const { binDir } = await findPgServerBinDir({});
      execFileSync(join(binDir, 'pg_verifybackup'), ['-q', dataDir]);
      const bytes = readFileSync(join(dataDir, 'global', 'pg_control'));
      bytes[100] = bytes[100]! ^ 0xff;
      writeFileSync(join(dataDir, 'global', 'pg_control'), bytes);
      expect(() => execFileSync(join(binDir, 'pg_verifybackup'), ['-q', '-n', dataDir], { stdio: 'pipe' })).toThrow(/checksum mismatch/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses diff/incr without a full of the same cluster, and records the failed run', async () => {
    const empty = await Repository.init(new LocalStorage(join(root, 'empty')), { scheme: 'none' });
    const error = await rejection(backup('diff', empty));
    expect(error).toMatchObject({ code: 'BACKUP_NO_REFERENCE' });
    const runs = await empty.listRuns();
    expect(runs[0]).toMatchObject({ status: 'failed', error: { code: 'BACKUP_NO_REFERENCE' } });
    expect(readdirSync(join(root, 'empty', 'backups'))).toEqual([]);
  });
});
