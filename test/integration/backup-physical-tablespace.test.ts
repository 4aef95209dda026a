import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/backup/age.js';
import { materializePhysicalBackup, readIndex, runPhysicalBackup, type PhysicalBackupType } from '../../src/backup/pg-physical.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { postgresSchema } from '../../src/config/schema.js';
import { createPgPool, pgToolEnv } from '../../src/postgres/connection.js';
import { pgServerUser } from '../../src/postgres/tools.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { rejection } from '../helpers/assertions.js';
import { withRestoredServer } from '../helpers/physical-restore.js';
import { usePostgres } from '../helpers/postgres.js';

const server = usePostgres();
const root = mkdtempSync(join(tmpdir(), 'opsctl-tablespace-'));
const compression = { algorithm: 'zstd', level: 3, threads: 2 } as const;
let repo: Repository;
let pool: pg.Pool;
let location: string;
const checksum = "select count(*)::text as n, md5(string_agg(payload, ',' order by id)) as sum from spaced";

const backup = (type: PhysicalBackupType, via: 'local' | 'basebackup' = 'local') =>
  runPhysicalBackup({
    repository: repo,
    connect: () => Promise.resolve(pool),
    server: 'test',
    type,
    compression,
    via,
    toolEnv: pgToolEnv(postgresSchema.parse({ url: server().url }), 'test', { PATH: process.env.PATH, HOME: process.env.HOME }),
  });

beforeAll(async () => {
  repo = await Repository.init(new LocalStorage(join(root, 'repo')), { scheme: 'age', key: generateIdentity() });
  pool = await createPgPool(postgresSchema.parse({ url: server().url }), { configKey: 'test' });
  location = await makeTempDir(await pgServerUser());
  await pool.query(`create tablespace outside location '${location}'`);
  await pool.query(`create table spaced (id int primary key, payload text) tablespace outside;
    insert into spaced select g, repeat(md5(g::text), 4) from generate_series(1, 30000) g;
    checkpoint;`);
});

afterAll(async () => {
  await pool?.query('drop table if exists spaced; drop tablespace if exists outside').catch(() => undefined);
  await pool?.end();
  rmSync(root, { recursive: true, force: true });
  if (location !== undefined) rmSync(location, { recursive: true, force: true });
});

describe('physical backups of a cluster with a tablespace', () => {
  let incr: string;
  let oid: string;

  it('copies the tablespace (index version 2 records its location) and an incr stores only its changed blocks', async () => {
    const full = (await backup('full')).manifest;
    const index = await readIndex(repo, full);
    oid = (await pool.query<{ oid: string }>("select oid::text from pg_tablespace where spcname = 'outside'")).rows[0]!.oid;
    expect(index.version).toBe(2);
    expect(index.tablespaces).toEqual([{ oid, location }]);
    const spaced = index.files.filter((file) => file.path.startsWith(`pg_tblspc/${oid}/PG_`));
    const bytes = spaced.reduce((sum, file) => sum + file.size, 0);
    expect(bytes).toBeGreaterThan(3_000_000);

    await pool.query("update spaced set payload = 'changed ' || id where id <= 300; checkpoint;");
    const result = await backup('incr');
    incr = result.manifest.id;
    const incrIndex = await readIndex(repo, result.manifest);
    let own = 0;
    for (const file of incrIndex.files.filter((entry) => entry.path.startsWith(`pg_tblspc/${oid}/`))) {
      for (const [source, , length] of file.extents) if (source === 0) own += length;
    }
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThan(bytes / 10);
  });

  it('materializes into a new data directory with the tablespace moved; PostgreSQL starts on it with the data', async () => {
    const expected = (await pool.query<{ n: string; sum: string }>(checksum)).rows[0];
    await withRestoredServer(
      repo,
      incr,
      async ({ client, dir, dataDir }) => {
        const moved = join(dir, 'moved-space');
        expect(readlinkSync(join(dataDir, 'pg_tblspc', oid))).toBe(moved);
        expect((await client.query<{ n: string; sum: string }>(checksum)).rows[0]).toEqual(expected);
        const where = await client.query<{ path: string }>(`select pg_tablespace_location(${oid}) as path`);
        expect(where.rows[0]!.path).toBe(moved);
      },
      { tablespaces: { [location]: 'moved-space' } },
    );
  });

  it('refuses a tablespace location that is not empty, and pg_basebackup of a cluster with tablespaces', async () => {
    const busy = mkdtempSync(join(root, 'busy-'));
    writeFileSync(join(busy, 'something'), 'x');
    const error = await rejection(materializePhysicalBackup(repo, incr, join(root, 'restore'), { tablespaces: { [location]: busy } }));
    expect(error).toMatchObject({ code: 'USAGE', message: `${busy} is not empty` });
    // Without a mapping the original location (the live server's) is the target: refused too.
    expect(await rejection(materializePhysicalBackup(repo, incr, join(root, 'restore')))).toMatchObject({ code: 'USAGE' });

    const basebackup = await rejection(backup('full', 'basebackup'));
    expect(basebackup).toMatchObject({ code: 'BACKUP_PG_TABLESPACES' });
  });
});
