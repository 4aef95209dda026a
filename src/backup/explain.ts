import type { ExplainStep, Invocation } from '../core/explain.js';
import type { PostgresConfig } from '../config/schema.js';
import { pgInvocation, psqlInvocation } from '../postgres/explain.js';
import type { CompressionSpec } from './compression.js';
import { safeName } from './pg-logical.js';

export interface LogicalBackupExplainOptions {
  postgres: PostgresConfig;
  configKey: string;
  /** `--db`; otherwise the databases are listed first. */
  databases?: readonly string[];
  globals: boolean;
  compression: CompressionSpec;
  repositoryPath: string;
  /** The active key's age recipient; undefined for an unencrypted repository. */
  recipient: string | undefined;
}

/** The compression stage as its command-line tool (opsctl runs zstd; gzip runs in-process, same format). */
function compressInvocation(spec: CompressionSpec): { invocation?: Invocation; extension: string } {
  switch (spec.algorithm) {
    case 'zstd':
      return { invocation: { tool: 'zstd', args: ['-q', '-c', `-${spec.level}`, `-T${spec.threads}`] }, extension: '.zst' };
    case 'gzip':
      return { invocation: { tool: 'gzip', args: ['-c', `-${Math.min(spec.level, 9)}`] }, extension: '.gz' };
    default:
      return { extension: '' };
  }
}

/**
 * `backup run postgres` as shell pipelines: pg_dump (custom format, uncompressed: the
 * compression stage does it faster) into zstd into age, per database, and pg_dumpall for the
 * globals. What the pipelines do not show is said in the first note.
 */
export function logicalBackupSteps(options: LogicalBackupExplainOptions): ExplainStep[] {
  const { postgres, configKey } = options;
  const compress = compressInvocation(options.compression);
  const encrypt: Invocation[] = options.recipient === undefined ? [] : [{ tool: 'age', args: ['-r', options.recipient] }];
  const suffix = `${compress.extension}${options.recipient === undefined ? '' : '.age'}`;
  const dir = `${options.repositoryPath}/backups/<backup-id>`;
  const steps: ExplainStep[] = [];
  const databases = options.databases ?? ['<database>'];
  if (options.databases === undefined) {
    steps.push({
      note: 'the databases to dump: every one that is not a template and allows connections',
      pipeline: [psqlInvocation(postgres, configKey, 'select datname from pg_database where not datistemplate and datallowconn order by datname')],
    });
  }
  databases.forEach((database, index) => {
    const notes = [
      options.databases === undefined ? 'for each database listed above' : undefined,
      index === 0 ? 'opsctl also hashes each stream (sha256), reads its table of contents with pg_restore --list, records the run and writes manifest.json last' : undefined,
    ].filter((note) => note !== undefined);
    steps.push({
      ...(notes.length === 0 ? {} : { note: notes.join('; ') }),
      pipeline: [pgInvocation('pg_dump', postgres, configKey, ['-Fc', '-Z0', '--no-password'], { PGDATABASE: database }), ...(compress.invocation === undefined ? [] : [compress.invocation]), ...encrypt],
      output: `${dir}/db-${options.databases === undefined ? database : safeName(database)}.dump${suffix}`,
    });
  });
  if (options.globals) {
    steps.push({
      note: 'roles and tablespaces',
      pipeline: [pgInvocation('pg_dumpall', postgres, configKey, ['--globals-only', '--no-password']), ...(compress.invocation === undefined ? [] : [compress.invocation]), ...encrypt],
      output: `${dir}/globals.sql${suffix}`,
    });
  }
  return steps;
}
