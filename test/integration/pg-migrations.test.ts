import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedMigrations, pendingMigrations, readMigrations, runMigrations } from '../../src/postgres/migrations.js';
import { rejection } from '../helpers/assertions.js';
import { usePostgres } from '../helpers/postgres.js';

const server = usePostgres();
let pool: pg.Pool;
const dir = mkdtempSync(join(tmpdir(), 'opsctl-migrations-'));

beforeAll(() => {
  pool = new pg.Pool({ connectionString: server().url, max: 6 });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool.end();
  rmSync(dir, { recursive: true, force: true });
});

describe('migration runner', () => {
  it('applies the shipped migrations once, even when started concurrently', async () => {
    const results = await Promise.all([runMigrations(pool), runMigrations(pool), runMigrations(pool)]);
    const shipped = readMigrations().map((migration) => migration.version);
    expect(results.flatMap((result) => result.applied).sort()).toEqual(shipped);
    const records = await appliedMigrations(pool);
    expect(records.map((record) => record.version)).toEqual(shipped);
    expect(records[0]!.name).toBe('cache_notify');
    expect((await pool.query("select to_regproc('opsctl.cache_notify') is not null as ok")).rows[0].ok).toBe(true);
    expect(await pendingMigrations(pool)).toEqual([]);
  });

  it('applies new files in order and refuses a changed applied file', async () => {
    writeFileSync(join(dir, '0001_cache_notify.sql'), readMigrations()[0]!.sql);
    writeFileSync(join(dir, '0003_second.sql'), 'create table opsctl.second (id int);');
    writeFileSync(join(dir, '0002_first.sql'), 'create table opsctl.first (id int);');
    writeFileSync(join(dir, 'README.txt'), 'not a migration');
    expect((await pendingMigrations(pool, readMigrations(dir))).map((migration) => migration.version)).toEqual([2, 3]);
    expect((await runMigrations(pool, readMigrations(dir))).applied).toEqual([2, 3]);

    writeFileSync(join(dir, '0002_first.sql'), 'create table opsctl.first (id bigint);');
    const error = await rejection(runMigrations(pool, readMigrations(dir)));
    expect(error.code).toBe('PG_MIGRATION_CHANGED');
    expect(error.message).toContain('migration 2 (first)');
  });

  it('rolls back a failing migration and records nothing of it', async () => {
    writeFileSync(join(dir, '0002_first.sql'), 'create table opsctl.first (id int);');
    writeFileSync(join(dir, '0004_broken.sql'), 'create table opsctl.half (id int); select * from no_such_table;');
    const error = await rejection(runMigrations(pool, readMigrations(dir)));
    expect(error.code).toBe('PG_MIGRATION_FAILED');
    expect(error.message).toContain('no_such_table');
    expect((await pool.query("select to_regclass('opsctl.half') is null as gone")).rows[0].gone).toBe(true);
    expect((await appliedMigrations(pool)).map((record) => record.version)).toEqual([1, 2, 3]);
  });
});
