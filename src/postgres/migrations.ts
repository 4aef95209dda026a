import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from 'pg';
import { OpsError } from '../core/errors.js';

/**
 * The one migration runner for opsctl's own PostgreSQL schema `opsctl` (DESIGN.md). Migrations
 * are numbered SQL files in src/postgres/migrations (`0001_cache_notify.sql`), applied in order,
 * each in its own transaction, under a session advisory lock so two opsctl processes never apply
 * the same file twice, and recorded in `opsctl.schema_migrations`. A file whose text changed
 * after it was applied is an error: schema changes go into a new file.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** sha256 of the file's text, hex. */
  checksum: string;
}

export interface MigrationRecord {
  version: number;
  name: string;
  appliedAt: Date;
  checksum: string;
}

export interface MigrationResult {
  /** Versions applied by this run, in order. */
  applied: number[];
  /** Versions that were already applied. */
  current: number[];
}

/** Arbitrary constant for pg_advisory_lock: "opsctl-migrations" as a 63-bit number. */
export const MIGRATION_LOCK_ID = 0x6f7073637463n;

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const DEFAULT_DIRECTORY = fileURLToPath(new URL('./migrations/', import.meta.url));

const BOOTSTRAP_SQL = `create schema if not exists opsctl;
create table if not exists opsctl.schema_migrations (
  version integer primary key,
  name text not null,
  applied_at timestamptz not null default now(),
  checksum text not null
)`;

/** Reads the numbered migration files of `directory` (default: the ones shipped with opsctl). */
export function readMigrations(directory: string = DEFAULT_DIRECTORY): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(directory).sort()) {
    const match = FILE_NAME.exec(file);
    if (match === null) continue;
    const sql = readFileSync(`${directory.replace(/\/?$/, '/')}${file}`, 'utf8');
    migrations.push({ version: Number(match[1]), name: match[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  for (let index = 1; index < migrations.length; index += 1) {
    if (migrations[index]!.version === migrations[index - 1]!.version) {
      throw new OpsError('PG_MIGRATION_FAILED', `two migration files share version ${migrations[index]!.version}`, {
        hint: 'give every file in src/postgres/migrations its own number',
      });
    }
  }
  return migrations;
}

/** What `opsctl.schema_migrations` records (empty when the schema does not exist yet). */
export async function appliedMigrations(pool: Pool): Promise<MigrationRecord[]> {
  const exists = await pool.query<{ present: boolean }>("select to_regclass('opsctl.schema_migrations') is not null as present");
  if (exists.rows[0]?.present !== true) return [];
  const result = await pool.query<{ version: number; name: string; applied_at: Date; checksum: string }>(
    'select version, name, applied_at, checksum from opsctl.schema_migrations order by version',
  );
  return result.rows.map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at, checksum: row.checksum }));
}

/** The migrations `runMigrations` would apply, after checking the applied ones are unchanged. */
export async function pendingMigrations(pool: Pool, migrations: readonly Migration[] = readMigrations()): Promise<Migration[]> {
  return planMigrations(await appliedMigrations(pool), migrations);
}

function planMigrations(applied: readonly MigrationRecord[], migrations: readonly Migration[]): Migration[] {
  const byVersion = new Map(applied.map((record) => [record.version, record]));
  for (const migration of migrations) {
    const record = byVersion.get(migration.version);
    if (record !== undefined && record.checksum !== migration.checksum) {
      throw new OpsError('PG_MIGRATION_CHANGED', `migration ${migration.version} (${migration.name}) changed after it was applied`, {
        hint: 'restore the original file and put the change into a new numbered migration',
        details: { version: migration.version, recorded: record.checksum, file: migration.checksum },
      });
    }
  }
  return migrations.filter((migration) => !byVersion.has(migration.version));
}

/**
 * Brings the `opsctl` schema up to date: creates it and its bookkeeping table when missing, then
 * applies every pending migration in version order, one transaction each. Concurrent callers
 * serialise on the advisory lock; the second finds nothing left to do.
 */
export async function runMigrations(pool: Pool, migrations: readonly Migration[] = readMigrations()): Promise<MigrationResult> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID.toString()]);
    try {
      await client.query(BOOTSTRAP_SQL);
      const applied = await appliedMigrations(pool);
      const pending = planMigrations(applied, migrations);
      for (const migration of pending) await applyOne(client, migration);
      return { applied: pending.map((migration) => migration.version), current: applied.map((record) => record.version) };
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID.toString()]);
    }
  } finally {
    client.release();
  }
}

async function applyOne(client: PoolClient, migration: Migration): Promise<void> {
  try {
    await client.query('begin');
    await client.query(migration.sql);
    await client.query('insert into opsctl.schema_migrations (version, name, checksum) values ($1, $2, $3)', [
      migration.version,
      migration.name,
      migration.checksum,
    ]);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw new OpsError('PG_MIGRATION_FAILED', `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, {
      hint: 'fix the cause named by PostgreSQL and run the command again; nothing of this migration was kept',
      cause: error,
    });
  }
}
