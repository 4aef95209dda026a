import type { Pool } from 'pg';
import { OpsError } from '../core/errors.js';
import { runMigrations } from '../postgres/migrations.js';
import { qualifyTable } from './sql.js';

/**
 * The statement-level triggers that report table changes to the cache (trigger format v1): one
 * per table, named `opsctl_cache_notify`, calling opsctl.cache_notify() (migration 0001).
 */
export const TRIGGER_NAME = 'opsctl_cache_notify';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function quoted(table: string): string {
  const qualified = qualifyTable(table);
  const parts = qualified.split('.');
  if (parts.length !== 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new OpsError('CACHE_BAD_INPUT', `"${table}" is not a table name opsctl can put a trigger on`, {
      hint: 'give schema.table or table, letters, digits and _ only',
    });
  }
  return parts.map((part) => `"${part}"`).join('.');
}

export function installTriggerSql(tables: readonly string[]): string[] {
  return tables.map(
    (table) =>
      `create or replace trigger ${TRIGGER_NAME} after insert or update or delete or truncate on ${quoted(table)} for each statement execute function opsctl.cache_notify()`,
  );
}

export function uninstallTriggerSql(tables: readonly string[]): string[] {
  return tables.map((table) => `drop trigger if exists ${TRIGGER_NAME} on ${quoted(table)}`);
}

/** Tables that carry the cache trigger now. */
export async function tablesWithTriggers(pool: Pool): Promise<string[]> {
  const result = await pool.query<{ name: string }>(
    `select n.nspname || '.' || c.relname as name from pg_trigger t join pg_class c on c.oid = t.tgrelid
     join pg_namespace n on n.oid = c.relnamespace where t.tgname = $1 order by 1`,
    [TRIGGER_NAME],
  );
  return result.rows.map((row) => row.name);
}

/** Brings the opsctl schema up to date, then (re)creates the triggers in one transaction. */
export async function installTriggers(pool: Pool, tables: readonly string[]): Promise<void> {
  const statements = installTriggerSql(tables);
  await runMigrations(pool);
  await inTransaction(pool, statements);
}

export async function uninstallTriggers(pool: Pool, tables: readonly string[]): Promise<void> {
  await inTransaction(pool, uninstallTriggerSql(tables));
}

async function inTransaction(pool: Pool, statements: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    for (const statement of statements) await client.query(statement);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw new OpsError('PG_QUERY_FAILED', `installing cache triggers failed: ${(error as Error).message}`, {
      hint: 'check the table exists and the role owns it; nothing was changed',
      cause: error,
    });
  } finally {
    client.release();
  }
}
