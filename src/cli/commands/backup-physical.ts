import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackupRunOptions } from '../../backup/backup-job.js';
import type { CompressionSpec } from '../../backup/compression.js';
import type { PhysicalBackupType } from '../../backup/pg-physical.js';
import type { Repository } from '../../backup/repository.js';
import type { Manifest } from '../../backup/types.js';
import type { SelectedProfile } from '../../config/loader.js';
import { OpsError } from '../../core/errors.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { CommandContext } from '../context.js';
import { withExamples, type ActionFactory } from '../command-kit.js';
import { positiveInt } from '../option-values.js';
import { DEFAULT_PARALLEL, DEFAULT_TIMEOUT_S, pushThroughSpool, walPushText } from '../wal-push-fast.js';

/** Options every backup verb takes to find the repository and its key. */
export interface RepoOptions {
  repo?: string;
  keyFile?: string;
}

/** What backup.ts resolves for every verb (the repository location, key file, compression). */
export interface PhysicalSettings {
  location: string;
  keyFile: string | undefined;
  compression: CompressionSpec;
  selected: SelectedProfile | undefined;
}

/** backup.ts's helpers, shared so both files resolve repositories and keys the same way. */
export interface BackupHelpers {
  repoOptions(command: Command): Command;
  settings(ctx: CommandContext, options: RepoOptions, needProfile?: boolean): Promise<PhysicalSettings>;
  openRepository(ctx: CommandContext, config: PhysicalSettings, unlock: boolean): Promise<Repository>;
}

/** The options every backup kind takes, as the command's context provides them. */
export function backupRunOptions(ctx: CommandContext, repository: Repository, compression: CompressionSpec, tags: { label?: string; set?: string } = {}): BackupRunOptions {
  return {
    repository,
    compression,
    ...(tags.label === undefined ? {} : { label: tags.label }),
    ...(tags.set === undefined ? {} : { set: tags.set }),
    env: ctx.env,
    signal: ctx.signal,
    progress: ctx.progress,
  };
}

export const PHYSICAL_TYPES = ['full', 'diff', 'incr'] as const;

/** `opsctl backup run postgres-physical --type …`: the body behind backup.ts's `run`. */
export async function runPhysicalCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & { type?: string; label?: string; via?: string }): Promise<void> {
  const type = (options.type ?? 'full') as PhysicalBackupType;
  if (!PHYSICAL_TYPES.includes(type)) throw new OpsError('USAGE', `--type must be full, diff or incr (got "${options.type ?? ''}")`);
  const via = (options.via ?? 'auto') as 'auto' | 'local' | 'basebackup';
  if (!['auto', 'local', 'basebackup'].includes(via)) throw new OpsError('USAGE', `--via must be auto, local or basebackup (got "${options.via ?? ''}")`);
  const config = await helpers.settings(ctx, options, true);
  const selected = config.selected!;
  const postgres = selected.profile.postgres;
  if (postgres === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no postgres section`, { hint: `add profiles.${selected.name}.postgres to ${selected.filepath}` });
  }
  const repo = await helpers.openRepository(ctx, config, true);
  const [{ runPhysicalBackup }, { resolvePgTarget, pgToolEnv }] = await Promise.all([import('../../backup/pg-physical.js'), import('../../postgres/connection.js')]);
  const configKey = `profiles.${selected.name}.postgres`;
  const target = resolvePgTarget(postgres, configKey);
  const { manifest, read, written } = await runPhysicalBackup({
    ...backupRunOptions(ctx, repo, config.compression, options),
    connect: () => ctx.pg(),
    server: `${target.user}@${target.host}:${target.port}`,
    type,
    via,
    toolEnv: pgToolEnv(postgres, configKey, ctx.env),
  });
  const physical = manifest.physical!;
  ctx.out.object({
    id: manifest.id,
    kind: manifest.kind,
    type: manifest.type,
    reference: physical.reference ?? '',
    startLsn: physical.startLsn,
    stopLsn: physical.stopLsn,
    timeline: physical.timeline,
    wal: `${physical.walStart}…${physical.walStop}`,
    files: physical.files,
    sizeRead: read,
    sizeNew: written,
    sizeStored: manifest.totals.sizeStored,
    duration: formatDuration(manifest.durationMs),
  });
}

/** `backup show` lines of a physical backup: WAL range and LSNs, reference, what restoring needs. */
export function physicalLines(physical: NonNullable<Manifest['physical']>): string[] {
  return [
    `wal         ${physical.walStart}…${physical.walStop} (timeline ${physical.timeline}, LSN ${physical.startLsn} → ${physical.stopLsn})`,
    `window      restorable to ${physical.stopLsn} or later with the WAL archive from ${physical.walStart} on`,
    ...(physical.reference === undefined ? [] : [`reference   ${physical.reference}`]),
    `needs       ${physical.dependsOn.join(', ')}`,
    `files       ${physical.files} (blocks of ${physical.blockSize} bytes)`,
  ];
}

/** Registers wal-push, wal-fetch, wal-status and setup-archiving under `opsctl backup`. */
export function registerPhysical(command: Command, action: ActionFactory, helpers: BackupHelpers): void {
  withExamples(
    helpers.repoOptions(
      command
        .command('wal-push')
        .description('Archive one WAL file into <repo>/wal (archive_command); the same file twice is fine, other content under its name is refused')
        .argument('<path>', 'the WAL file (%p)')
        .option('--async', 'hand the file to a long-running pusher that archives ready segments ahead, in parallel (see docs/backup.md)')
        .option('--spool <dir>', 'with --async: the spool directory (default: one per pg_wal directory in the temp directory)')
        .option('--parallel <n>', 'with --async: segments the pusher archives at once', positiveInt, DEFAULT_PARALLEL)
        .option('--timeout <seconds>', 'with --async: how long to wait for the acknowledgement', positiveInt, DEFAULT_TIMEOUT_S),
    ).action(
      action(async (ctx, path: string, options: RepoOptions & { async?: boolean; spool?: string; parallel: number; timeout: number }) => {
        const file = resolve(ctx.cwd, path);
        if (options.async === true) {
          const result = await pushThroughSpool({
            path: file,
            repo: options.repo === undefined ? undefined : (await helpers.settings(ctx, options)).location,
            spool: options.spool,
            parallel: options.parallel,
            timeoutMs: options.timeout * 1000,
            config: ctx.globals.config,
            profile: ctx.globals.profile,
            cwd: ctx.cwd,
            env: ctx.env,
          });
          ctx.out.object(result, walPushText);
          return;
        }
        const config = await helpers.settings(ctx, options);
        const repo = await helpers.openRepository(ctx, config, false);
        const [{ pushWal }, { resolveCodec }] = await Promise.all([import('../../backup/wal-archive.js'), import('../../backup/compression.js')]);
        ctx.out.object(await pushWal(repo, file, await resolveCodec(config.compression, ctx.env)), walPushText);
      }),
    ),
    [
      "archive_command = 'opsctl backup wal-push --repo /srv/backups %p'    # postgresql.conf (see backup setup-archiving)",
      "archive_command = 'opsctl backup wal-push --async --repo /srv/backups %p'    # a pusher archives ahead, in parallel",
      'opsctl backup wal-push pg_wal/000000010000000000000003',
    ],
  );

  withExamples(
    helpers.repoOptions(
      command
        .command('wal-pusher')
        .description('Archive every ready segment of a pg_wal directory through a spool (started by wal-push --async; ends when idle)')
        .argument('<pg_wal>', 'the pg_wal directory')
        .option('--spool <dir>', 'the spool directory (default: the one wal-push --async uses for that pg_wal)')
        .option('--parallel <n>', 'segments archived at once', positiveInt, DEFAULT_PARALLEL)
        .option('--idle <seconds>', 'stop after this long with nothing to do', positiveInt, 10),
    ).action(
      action(async (ctx, walDir: string, options: RepoOptions & { spool?: string; parallel: number; idle: number }) => {
        const [{ pushWal }, { resolveCodec }, { runPusher, defaultSpoolDir, failQueued }] = await Promise.all([
          import('../../backup/wal-archive.js'),
          import('../../backup/compression.js'),
          import('../../backup/wal-spool.js'),
        ]);
        const dir = resolve(ctx.cwd, walDir);
        const spool = options.spool === undefined ? defaultSpoolDir(dir) : resolve(ctx.cwd, options.spool);
        const { repo, codec } = await (async () => {
          const config = await helpers.settings(ctx, options);
          return { repo: await helpers.openRepository(ctx, config, false), codec: await resolveCodec(config.compression, ctx.env) };
        })().catch(async (error: unknown) => {
          await failQueued(spool, error);
          throw error;
        });
        const summary = await runPusher({
          spool,
          walDir: dir,
          push: (path) => pushWal(repo, path, codec),
          parallel: options.parallel,
          idleMs: options.idle * 1000,
          signal: ctx.signal,
        });
        ctx.out.object(summary, (value) => (value.ran ? `pushed ${value.pushed}, failed ${value.failed}` : 'another pusher is running for this spool'));
      }),
    ),
    ['opsctl backup wal-pusher --repo /srv/backups /var/lib/postgresql/15/main/pg_wal'],
  );

  withExamples(
    helpers.repoOptions(
      command
        .command('wal-fetch')
        .description('Restore one archived WAL file (restore_command); exit 1 when it is not archived')
        .argument('<name>', 'WAL file name (%f)')
        .argument('<dest>', 'where to write it (%p)'),
    ).action(
      action(async (ctx, name: string, dest: string, options: RepoOptions) => {
        const config = await helpers.settings(ctx, options);
        const repo = await helpers.openRepository(ctx, config, true);
        const { fetchWal } = await import('../../backup/wal-archive.js');
        ctx.out.object(await fetchWal(repo, name, resolve(ctx.cwd, dest), { env: ctx.env }));
      }),
    ),
    ["restore_command = 'opsctl backup wal-fetch --repo /srv/backups --key-file /etc/opsctl/backup-key.txt %f %p'"],
  );

  withExamples(
    helpers.repoOptions(
      command
        .command('wal-status')
        .description('WAL archiving: pg_stat_archiver, backlog, lag, newest segment in the repository, the async spool')
        .option('--spool <dir>', 'the spool of wal-push --async (default: the one of the server\'s pg_wal)'),
    ).action(
      action(async (ctx, options: RepoOptions & { spool?: string }) => {
        const config = await helpers.settings(ctx, options, true);
        const repo = await helpers.openRepository(ctx, config, false);
        const { walStatus } = await import('../../backup/wal-archive.js');
        const status = await walStatus(await ctx.pg(), repo, options.spool === undefined ? {} : { spool: resolve(ctx.cwd, options.spool) });
        ctx.out.object(status, (value) =>
          [
            `archive_mode     ${value.archiveMode}`,
            `archive_command  ${value.archiveCommand}`,
            `current segment  ${value.currentSegment ?? '(in recovery)'}`,
            `last archived    ${value.lastArchived ?? '(none)'}${value.lastArchivedAt === undefined ? '' : ` at ${value.lastArchivedAt}`}`,
            `archived/failed  ${value.archivedCount}/${value.failedCount}${value.lastFailed === undefined ? '' : ` (last failed ${value.lastFailed} at ${value.lastFailedAt ?? '?'})`}`,
            `backlog          ${value.pendingSegments} segment(s) waiting, lag ${value.lagBytes === undefined ? '?' : formatBytes(value.lagBytes)}`,
            `in repository    ${value.newestInRepository ?? '(none)'}`,
            ...(value.spool === undefined
              ? []
              : [
                  `async spool      ${value.spool.dir}: pusher ${value.spool.pusher === undefined ? 'not running' : `pid ${value.spool.pusher}`}, ${value.spool.queued} asked, ${value.spool.acknowledged} archived ahead, ${value.spool.failed.length} failed`,
                  ...value.spool.failed.map((failure) => `  failed ${failure.name}: ${failure.message}`),
                ]),
          ].join('\n'),
        );
        if (status.failedCount > 0 && status.lastFailed !== undefined && status.lastFailed >= (status.lastArchived ?? '')) {
          ctx.out.warning(`archiving is failing (last failed ${status.lastFailed}): check archive_command and the server log`);
        }
      }),
    ),
    ['opsctl backup wal-status', 'opsctl backup wal-status --json'],
  );

  withExamples(
    helpers.repoOptions(
      command
        .command('setup-archiving')
        .description('Configure continuous archiving (ALTER SYSTEM wal_level, archive_mode, archive_command); says whether a restart is needed')
        .option('--command <text>', 'archive_command to set (default: this opsctl with wal-push --repo <repo> %p)')
        .option('--async', 'the default archive_command uses wal-push --async (a pusher archives ahead, in parallel)')
        .option('--dry-run', 'print the SQL, change nothing'),
    ).action(
      action(async (ctx, options: RepoOptions & { command?: string; async?: boolean; dryRun?: boolean }) => {
        const config = await helpers.settings(ctx, options, true);
        const repo = await helpers.openRepository(ctx, config, false);
        const archiveCommand = options.command ?? (await defaultArchiveCommand(repo.storage.location, options.async === true));
        const { setupArchiving } = await import('../../backup/wal-archive.js');
        const pool = await ctx.pg();
        const plan = await setupArchiving(pool, archiveCommand, { dryRun: true });
        if (options.dryRun !== true && plan.statements.length > 0) {
          await ctx.confirm('Change the server configuration with ALTER SYSTEM?', { impact: plan.statements.join('; '), onProfile: true });
        }
        const result = options.dryRun === true ? plan : await setupArchiving(pool, archiveCommand);
        ctx.out.object({ ...result, archiveCommand }, (value) =>
          [
            ...(value.statements.length === 0 ? ['archiving is already configured as asked'] : value.statements.map((statement) => `${statement};`)),
            value.applied ? 'applied.' : options.dryRun === true ? '(dry run: nothing changed)' : '',
            value.restartNeeded ? 'a restart of PostgreSQL is needed for wal_level/archive_mode to take effect' : 'no restart needed',
          ].filter((line) => line !== '').join('\n'),
        );
      }),
    ),
    ['opsctl backup setup-archiving --dry-run', 'opsctl backup setup-archiving --yes', 'opsctl backup setup-archiving --async --yes'],
  );
}

/** The archive_command for this installation: absolute paths, so the server's PATH does not matter. */
async function defaultArchiveCommand(location: string, async: boolean): Promise<string> {
  const script = await realpath(process.argv[1] ?? 'opsctl').catch(() => 'opsctl');
  const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`);
  return `${quote(process.execPath)} ${quote(script)} backup wal-push${async ? ' --async' : ''} --repo ${quote(location)} %p`;
}
