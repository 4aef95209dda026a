import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/backup/age.js';
import { readIndex, runPhysicalBackup } from '../../src/backup/pg-physical.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { postgresSchema } from '../../src/config/schema.js';
import { createPgPool } from '../../src/postgres/connection.js';
import { findPgServerBinDir, pgServerUser } from '../../src/postgres/tools.js';
import type { ManagedProcess } from '../../src/testing/managed-process.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { launchPostgres } from '../../src/testing/postgres.js';
import { withRestoredServer } from '../helpers/physical-restore.js';
import { usePostgres } from '../helpers/postgres.js';

// A backup from a standby needs full-page writes on the primary (the harness turns them off).
const primary = usePostgres({ settings: { full_page_writes: 'on' } });
const root = mkdtempSync(join(tmpdir(), 'opsctl-standby-'));
const compression = { algorithm: 'zstd', level: 3, threads: 2 } as const;
let repo: Repository;
let primaryPool: pg.Pool;
let standbyPool: pg.Pool;
let standby: { managed: ManagedProcess; port: number } | undefined;
const checksum = "select count(*)::text as n, md5(string_agg(payload, ',' order by id)) as sum from items";

/** Waits until the standby has replayed everything the primary has written so far. */
async function caughtUp(): Promise<void> {
  const target = (await primaryPool.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const row = await standbyPool.query<{ done: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as done', [target]);
    if (row.rows[0]!.done) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the standby did not catch up');
}

beforeAll(async () => {
  repo = await Repository.init(new LocalStorage(join(root, 'repo')), { scheme: 'age', key: generateIdentity() });
  primaryPool = await createPgPool(postgresSchema.parse({ url: primary().url }), { configKey: 'test' });
  await primaryPool.query(`create table items (id int primary key, payload text);
    insert into items select g, repeat(md5(g::text), 3) from generate_series(1, 20000) g;`);
  // The standby: pg_basebackup -R of the primary, started on a free port.
  const user = await pgServerUser();
  const dir = await makeTempDir(user);
  const dataDir = join(dir, 'data');
  const { binDir } = await findPgServerBinDir({});
  const port = new URL(primary().url).port;
  execFileSync(join(binDir, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '--checkpoint=fast'], {
    env: { PATH: process.env.PATH },
  });
  if (user !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dataDir]);
  standby = await launchPostgres({ binDir, dir, dataDir, user, env: { PATH: process.env.PATH } });
  standbyPool = await createPgPool(postgresSchema.parse({ url: `postgres://postgres@127.0.0.1:${standby.port}/postgres` }), { configKey: 'standby' });
});

afterAll(async () => {
  await standbyPool?.end();
  await standby?.managed.stop();
  await primaryPool?.end();
  rmSync(root, { recursive: true, force: true });
});

describe('physical backups taken from a standby', () => {
  it('full and incr from the standby with the low-level API; the incr materializes and starts with the data', async () => {
    await caughtUp();
    expect((await standbyPool.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery')).rows[0]!.recovery).toBe(true);
    const take = (type: 'full' | 'incr') =>
      runPhysicalBackup({ repository: repo, connect: () => Promise.resolve(standbyPool), server: 'standby', type, compression, via: 'local' });
    const full = (await take('full')).manifest;
    expect(full.physical!.walStart <= full.physical!.walStop).toBe(true);

    await primaryPool.query("update items set payload = 'changed on the primary ' || id where id <= 200; checkpoint;");
    await caughtUp();
    const expected = (await primaryPool.query<{ n: string; sum: string }>(checksum)).rows[0];
    const incr = (await take('incr')).manifest;
    expect(incr.physical!.reference).toBe(full.id);
    const index = await readIndex(repo, incr);
    const label = index.files.find((file) => file.path === 'backup_label');
    expect(label).toBeDefined();
    // pg_control is copied last (its minRecoveryPoint ends the backup's recovery).
    expect(index.files.filter((file) => !file.path.startsWith('pg_wal/') && !['backup_label', 'backup_manifest'].includes(file.path)).at(-1)!.path).toBe('global/pg_control');

    // A copy of a standby carries its standby.signal: start it as a primary instead.
    const prepare = (dataDir: string) => rmSync(join(dataDir, 'standby.signal'), { force: true });
    await withRestoredServer(
      repo,
      incr.id,
      async ({ client }) => {
        expect((await client.query<{ n: string; sum: string }>(checksum)).rows[0]).toEqual(expected);
      },
      { prepare },
    );
  });
});
