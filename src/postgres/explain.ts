import { secretPlaceholder, type Invocation } from '../core/explain.js';
import type { PostgresConfig } from '../config/schema.js';
import { pgToolEnv } from './connection.js';

/** Variables pgToolEnv sets for the child's own sake, not to reach the server. */
const PROCESS_ONLY = new Set(['PATH', 'HOME', 'LC_ALL', 'PGAPPNAME']);

/**
 * A PostgreSQL client program (psql, pg_dump, pg_dumpall, pg_restore …) with the libpq
 * environment opsctl itself gives it: the same variables, the password as a placeholder naming
 * its config key.
 */
export function pgInvocation(tool: string, config: PostgresConfig, configKey: string, args: readonly string[], env: Record<string, string> = {}): Invocation {
  const full = pgToolEnv(config, configKey, {});
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(full)) {
    if (value === undefined || PROCESS_ONLY.has(name)) continue;
    if (name === 'PGSSLMODE' && value === 'disable') continue;
    shown[name] = name === 'PGPASSWORD' ? secretPlaceholder(config.password === undefined ? `${configKey}.url` : `${configKey}.password`) : value;
  }
  return { tool, args, env: { ...shown, ...env } };
}

/** `psql` running one statement, unaligned, tuples only (what a script would parse). */
export function psqlInvocation(config: PostgresConfig, configKey: string, sql: string, database?: string): Invocation {
  return pgInvocation('psql', config, configKey, ['-X', '-At', '-c', sql], database === undefined ? {} : { PGDATABASE: database });
}
