import { dirname, resolve } from 'node:path';
import { Argument, InvalidArgumentError, type Command } from 'commander';
import type { AgeIdentity } from '../../backup/age.js';
import type { CompressionSpec } from '../../backup/compression.js';
import type { Repository } from '../../backup/repository.js';
import type { Storage } from '../../backup/storage.js';
import type { Manifest, ObjectRecord, RunRecord } from '../../backup/types.js';
import type { ObjectCheck } from '../../backup/verify.js';
import type { SelectedProfile } from '../../config/loader.js';
import { OpsError, isOpsError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { formatBytes, formatDuration, parseDuration } from '../../core/parse.js';
import type { CommandContext } from '../context.js';
import { physicalLines, registerPhysical, runPhysicalCommand } from './backup-physical.js';
import { registerManage, runAllCommand, runRedisCommand, runVaultCommand, takeLogical } from './backup-manage.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import type { ExplainStep } from '../../core/explain.js';
import type { Column } from '../ui/output.js';
import { positiveInt } from '../option-values.js';

/** Options every backup verb takes to find the repository and its key. */
interface RepoOptions {
  repo?: string;
  keyFile?: string;
}

/** `opsctl backup …`: thin adapters over src/backup/. */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    `
The repository (profiles.<name>.backup.repository, or --repo) holds encrypted, compressed,
verifiable backups; its format is documented in docs/backup-repository.md. See docs/backup.md.
Exit codes: 0 ok, 1 failed, 2 usage/config error (also a wrong key), 3 verify found problems,
4 could not connect, 130 interrupted.`,
  );

  withExamples(
    repoOptions(
      command
        .command('init')
        .description('Create a backup repository (encrypted to an age key unless --no-encryption)')
        .option('--generate-key', 'create the key file (age X25519 identity) first; refuses to overwrite one')
        .option('--no-encryption', 'create an unencrypted repository (not recommended)'),
    ).action(action(async (ctx, options: RepoOptions & { generateKey?: boolean; encryption?: boolean }) => initCommand(ctx, options))),
    [
      'opsctl backup init --generate-key    # uses backup.repository and backup.keyFile of the profile',
      'opsctl backup init --repo /srv/backups --key-file /etc/opsctl/backup-key.txt --generate-key',
    ],
  );

  withExamples(
    withExplain(repoOptions(
      command
        .command('run')
        .description('Take a backup: `postgres` is pg_dump of every database plus pg_dumpall --globals-only; `postgres-physical` copies the data directory')
        .addArgument(new Argument('[kind]', 'what to back up').choices(['postgres', 'postgres-physical', 'redis', 'vault']))
        .option('--all', 'PostgreSQL (logical), Redis and the vault, as configured, as one backup set')
        .option('--type <type>', 'postgres-physical: full, diff (blocks changed since the last full) or incr (since the last backup)')
        .option('--via <how>', 'postgres-physical: auto (default), local (low-level API on this host) or basebackup (pg_basebackup)')
        .option('--db <name...>', 'only these databases (default: all but templates)')
        .option('--no-globals', 'skip pg_dumpall --globals-only (roles, tablespaces)')
        .option('--label <text>', 'a label to find the backup by (backup list --label)'),
    ).action(action(async (ctx, kind: string | undefined, options: RunFlags) => runKind(ctx, kind, options))),
    explainRun,
  ),
    [
      'opsctl backup run postgres',
      'opsctl backup run postgres --db app --label before-migration',
      'opsctl --profile prod backup run postgres --json    # in cron: exit 0 ok, 1 failed, 4 unreachable',
      'opsctl backup run postgres-physical --type incr    # on the database host',
      'opsctl backup run redis    # an RDB of every primary (standalone, Sentinel, Cluster)',
      'opsctl backup run vault    # backup.vault.sources, always encrypted',
      'opsctl backup run --all    # PostgreSQL + Redis + vault as one backup set',
    ],
  );

  withExamples(
    repoOptions(
      command
        .command('list')
        .description('List complete backups, oldest first, with filters')
        .option('--kind <kind>', 'only this kind (pg-logical, pg-physical, redis, vault)')
        .option('--since <when>', 'started at or after: ISO date/time, or a duration ago ("7d", "12h")', parseWhen)
        .option('--until <when>', 'started before: ISO date/time, or a duration ago', parseWhen)
        .option('--db <name>', 'holding a dump of this database')
        .option('--table <name>', 'holding this table ("users" or "public.users")')
        .option('--label <text>', 'with this label'),
    ).action(action(async (ctx, options: RepoOptions & ListOptions) => listCommand(ctx, options))),
    ['opsctl backup list', 'opsctl backup list --table users --since 7d', 'opsctl backup list --db app --json'],
  );

  withExamples(
    repoOptions(command.command('show').description('Show one backup: objects, sizes, compression ratio, duration').argument('<id>', 'backup id')).action(
      action(async (ctx, id: string, options: RepoOptions) => showCommand(ctx, id, options)),
    ),
    ['opsctl backup show 20261124T235300Z-pg-logical-3fa9c1', 'opsctl backup show 20261124T235300Z-pg-logical-3fa9c1 --json'],
  );

  withExamples(
    repoOptions(
      command
        .command('verify')
        .description('Check backups: stored bytes against the manifest; --deep also decrypts, decompresses and lists dumps')
        .argument('[id]', 'backup id (or --all)')
        .option('--all', 'verify every backup')
        .option('--deep', 'decrypt, decompress, hash the content and run pg_restore --list (needs the key)')
        .option('--full', 'read every object again, also those unchanged since they last passed'),
    ).action(action(async (ctx, id: string | undefined, options: RepoOptions & { all?: boolean; deep?: boolean; full?: boolean }) => verifyCommand(ctx, id, options))),
    [
      'opsctl backup verify --all    # exit 3 names every damaged object',
      'opsctl backup verify 20261124T235300Z-pg-logical-3fa9c1 --deep',
    ],
  );

  withExamples(
    repoOptions(
      command
        .command('runs')
        .description('List backup runs (running, ok, failed), newest first')
        .option('--limit <n>', 'at most this many', positiveInt)
        .option('--status <status>', 'only running, ok or failed'),
    ).action(action(async (ctx, options: RepoOptions & { limit?: number; status?: string }) => runsCommand(ctx, options))),
    ['opsctl backup runs', 'opsctl backup runs --status failed --json'],
  );

  registerPhysical(command, action, { repoOptions, settings, openRepository });
  registerManage(command, action, { repoOptions, settings, openRepository }, runCommand);
}

function repoOptions(command: Command): Command {
  return command
    .option('--repo <dir>', 'repository directory (default: backup.repository of the profile)')
    .option('--key-file <path>', 'age identity file (default: backup.keyFile of the profile)');
}


/** An ISO date/time, or a duration meaning that long ago. */
function parseWhen(value: string): number {
  const ago = parseDuration(value);
  if (ago !== undefined && !/^\d+$/.test(value)) return Date.now() - ago;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new InvalidArgumentError('expected an ISO date/time ("2026-11-24", "2026-11-24T10:00Z") or a duration ago ("7d", "12h")');
  return at;
}

// ---- settings ------------------------------------------------------------------------------

interface BackupSettings {
  location: string;
  keyFile: string | undefined;
  compression: CompressionSpec;
  selected: SelectedProfile | undefined;
}

/**
 * The repository, key file and compression: flags first, then the profile's backup section.
 * With --repo a configuration file is optional (list, show and verify work on a bare
 * repository).
 */
async function settings(ctx: CommandContext, options: RepoOptions, needProfile = false): Promise<BackupSettings> {
  let selected: SelectedProfile | undefined;
  try {
    selected = await ctx.profile();
  } catch (error) {
    if (needProfile || options.repo === undefined || !(isOpsError(error) && error.code === 'CONFIG_NOT_FOUND')) throw error;
  }
  const backup = selected?.profile.backup;
  const base = selected === undefined ? ctx.cwd : dirname(selected.filepath);
  const location = options.repo !== undefined ? repoLocation(ctx.cwd, options.repo) : backup !== undefined ? repoLocation(base, backup.repository) : undefined;
  if (location === undefined) {
    throw new OpsError('BACKUP_NOT_CONFIGURED', `profile "${selected?.name ?? ''}" has no backup section`, {
      hint: `add profiles.${selected?.name ?? '<name>'}.backup.repository${selected === undefined ? '' : ` to ${selected.filepath}`}, or pass --repo <dir>`,
    });
  }
  const keyFile = options.keyFile !== undefined ? resolve(ctx.cwd, options.keyFile) : backup?.keyFile !== undefined ? resolve(base, backup.keyFile) : undefined;
  return {
    location,
    keyFile,
    compression: backup?.compression ?? { algorithm: 'zstd', level: 3, threads: 2 },
    selected,
  };
}

/** A directory (relative to `base`) or an `s3://bucket/prefix` URL, as given. */
function repoLocation(base: string, location: string): string {
  return location.startsWith('s3://') ? location : resolve(base, location);
}

/** The storage behind a repository location: S3 for s3:// URLs (backup.s3 settings), else a directory. */
async function storageAt(ctx: CommandContext, config: BackupSettings): Promise<Storage> {
  if (config.location.startsWith('s3://')) {
    const { S3Storage } = await import('../../backup/s3-storage.js');
    const storage = S3Storage.fromUrl(config.location, config.selected?.profile.backup?.s3 ?? {});
    ctx.onClose(() => storage.close());
    return storage;
  }
  const { LocalStorage } = await import('../../backup/storage.js');
  return new LocalStorage(config.location);
}

async function readIdentities(ctx: CommandContext, keyFile: string | undefined): Promise<AgeIdentity[] | undefined> {
  if (keyFile === undefined) return undefined;
  const { readKeyFile } = await import('../../backup/key-file.js');
  const key = await readKeyFile(keyFile);
  if (key.exposed) ctx.out.warning(`${keyFile} is readable by other users: chmod 600 it`);
  return key.identities;
}

/** Opens the repository; with `unlock`, proves the key opens it before anything else happens. */
async function openRepository(ctx: CommandContext, config: BackupSettings, unlock: boolean): Promise<Repository> {
  const { Repository } = await import('../../backup/repository.js');
  const repo = await Repository.open(await storageAt(ctx, config), { clock: ctx.clock });
  if (unlock) await repo.unlock(await readIdentities(ctx, config.keyFile), config.keyFile);
  return repo;
}

// ---- run -------------------------------------------------------------------------------------

type RunFlags = RepoOptions & { db?: string[]; globals?: boolean; label?: string; type?: string; via?: string; all?: boolean };

async function runKind(ctx: CommandContext, kind: string | undefined, options: RunFlags): Promise<void> {
  if ((kind === undefined) === (options.all !== true)) {
    throw new OpsError('USAGE', 'name one kind or pass --all', { hint: 'opsctl backup run postgres|postgres-physical|redis|vault, or --all' });
  }
  const helpers = { repoOptions, settings, openRepository };
  if (options.all === true) return runAllCommand(ctx, helpers, options);
  switch (kind) {
    case 'postgres-physical':
      return runPhysicalCommand(ctx, helpers, options);
    case 'redis':
      return runRedisCommand(ctx, helpers, options);
    case 'vault':
      return runVaultCommand(ctx, helpers, options);
    default:
      return runCommand(ctx, options);
  }
}

/** `backup run postgres --explain`: the pg_dump | zstd | age pipelines, from the profile and repo.json. */
async function explainRun(ctx: CommandContext, kind: string | undefined, options: RunFlags): Promise<ExplainStep[]> {
  if (kind !== 'postgres' || options.all === true) {
    throw new OpsError('EXPLAIN_UNSUPPORTED', `\`opsctl backup run ${options.all === true ? '--all' : (kind ?? '')}\` has no --explain`, {
      hint: '--explain covers `backup run postgres`; use --debug to trace a real run of the others',
    });
  }
  const config = await settings(ctx, options, true);
  const selected = config.selected!;
  if (selected.profile.postgres === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no postgres section`, { hint: `add profiles.${selected.name}.postgres to ${selected.filepath}` });
  }
  const [repo, { logicalBackupSteps }] = await Promise.all([openRepository(ctx, config, false), import('../../backup/explain.js')]);
  return logicalBackupSteps({
    postgres: selected.profile.postgres,
    configKey: `profiles.${selected.name}.postgres`,
    ...(options.db === undefined ? {} : { databases: options.db }),
    globals: options.globals !== false,
    compression: config.compression,
    repositoryPath: config.location,
    recipient: repo.activeKey?.recipient,
  });
}

// ---- init ------------------------------------------------------------------------------------

async function initCommand(ctx: CommandContext, options: RepoOptions & { generateKey?: boolean; encryption?: boolean }): Promise<void> {
  const config = await settings(ctx, options);
  const { Repository } = await import('../../backup/repository.js');
  const storage = await storageAt(ctx, config);
  if (options.encryption === false) {
    const repo = await Repository.init(storage, { scheme: 'none' }, { clock: ctx.clock });
    ctx.out.object({ repository: config.location, id: repo.id, encryption: 'none' });
    ctx.out.warning('this repository is not encrypted: anyone who can read it can read the backups');
    return;
  }
  if (config.keyFile === undefined) {
    throw new OpsError('BACKUP_KEY_MISSING', 'an encrypted repository needs a key file', {
      hint: 'set backup.keyFile in the profile or pass --key-file <path> (add --generate-key to create it), or --no-encryption',
    });
  }
  let key: AgeIdentity;
  if (options.generateKey === true) {
    const { createKeyFile } = await import('../../backup/key-file.js');
    key = await createKeyFile(config.keyFile, new Date(ctx.clock.now()));
  } else {
    key = (await readIdentities(ctx, config.keyFile))![0]!;
  }
  const repo = await Repository.init(storage, { scheme: 'age', key }, { clock: ctx.clock });
  ctx.out.object({ repository: config.location, id: repo.id, encryption: 'age', keyId: repo.activeKey!.id, recipient: key.recipient, keyFile: config.keyFile });
  ctx.out.message(`keep a copy of ${config.keyFile} somewhere else: without it no backup in this repository can be read`);
}

async function runCommand(ctx: CommandContext, options: RepoOptions & { db?: string[]; globals?: boolean; label?: string }): Promise<void> {
  const config = await settings(ctx, options, true);
  const selected = config.selected!;
  if (selected.profile.postgres === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no postgres section`, {
      hint: `add profiles.${selected.name}.postgres to ${selected.filepath}`,
    });
  }
  const repo = await openRepository(ctx, config, true);
  const { manifest, cleaned } = await takeLogical(ctx, repo, config.compression, options);
  if (cleaned.removedBackups.length > 0 || cleaned.failedRuns.length > 0) {
    ctx.verbose(`removed ${cleaned.removedBackups.length} incomplete backup(s) left by interrupted runs`);
  }
  ctx.out.object(summary(manifest));
}

interface BackupSummary {
  id: string;
  kind: string;
  startedAt: string;
  databases: string;
  objects: number;
  sizeLogical: number;
  sizeStored: number;
  ratio: string;
  durationMs: number;
  label: string;
  set: string;
}

function summary(manifest: Manifest): BackupSummary {
  return {
    id: manifest.id,
    kind: manifest.kind,
    startedAt: manifest.startedAt,
    databases: manifest.objects.flatMap((object) => (object.database === undefined ? [] : [object.database])).join(','),
    objects: manifest.totals.objects,
    sizeLogical: manifest.totals.sizeLogical,
    sizeStored: manifest.totals.sizeStored,
    ratio: ratio(manifest.totals.sizeLogical, manifest.totals.sizeStored),
    durationMs: manifest.durationMs,
    label: manifest.label ?? '',
    set: manifest.set ?? '',
  };
}

function ratio(logical: number, stored: number): string {
  return stored === 0 ? '' : `${(logical / stored).toFixed(2)}:1`;
}

const bytes = (value: unknown) => formatBytes(Number(value));
const duration = (value: unknown) => formatDuration(Number(value));

// ---- list / show -----------------------------------------------------------------------------

interface ListOptions {
  kind?: string;
  since?: number;
  until?: number;
  db?: string;
  table?: string;
  label?: string;
}

async function listCommand(ctx: CommandContext, options: RepoOptions & ListOptions): Promise<void> {
  const repo = await openRepository(ctx, await settings(ctx, options), false);
  const { filterBackups } = await import('../../backup/query.js');
  const manifests = filterBackups(await repo.listBackups(), {
    ...(options.kind === undefined ? {} : { kind: options.kind }),
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.until === undefined ? {} : { until: options.until }),
    ...(options.db === undefined ? {} : { database: options.db }),
    ...(options.table === undefined ? {} : { table: options.table }),
    ...(options.label === undefined ? {} : { label: options.label }),
  });
  const columns: Column<BackupSummary>[] = [
    { key: 'id' },
    { key: 'kind' },
    { key: 'startedAt', header: 'STARTED' },
    { key: 'databases' },
    { key: 'sizeStored', header: 'STORED', format: bytes },
    { key: 'sizeLogical', header: 'LOGICAL', format: bytes },
    { key: 'ratio' },
    { key: 'durationMs', header: 'DURATION', format: duration },
    { key: 'label' },
    { key: 'set' },
  ];
  ctx.out.list(manifests.map(summary), columns);
  if (manifests.length === 0 && !ctx.out.machineReadable) ctx.out.message('no backups match');
}

async function showCommand(ctx: CommandContext, id: string, options: RepoOptions): Promise<void> {
  const repo = await openRepository(ctx, await settings(ctx, options), false);
  const manifest = await repo.readManifest(id);
  const { backupTables } = await import('../../backup/query.js');
  const details = {
    ...summary(manifest),
    finishedAt: manifest.finishedAt,
    host: manifest.host,
    source: manifest.source,
    tables: backupTables(manifest).length,
    keys: [...new Set(manifest.objects.flatMap((object) => (object.keyId === undefined ? [] : [object.keyId])))],
    objects: manifest.objects.map((object) => ({
      path: object.path,
      role: object.role,
      database: object.database ?? '',
      compression: object.compression,
      encryption: object.encryption,
      keyId: object.keyId ?? '',
      sizeStored: object.sizeStored,
      sizeLogical: object.sizeLogical,
      ratio: ratio(object.sizeLogical, object.sizeStored),
      sha256Stored: object.sha256Stored,
      tocEntries: object.toc?.length ?? 0,
    })),
  };
  ctx.out.object(details, () => renderShow(manifest, ctx));
}

function renderShow(manifest: Manifest, ctx: CommandContext): string {
  const head = summary(manifest);
  const lines = [
    `${ctx.theme.heading('backup')} ${manifest.id}`,
    `kind        ${manifest.kind} (${manifest.type})${manifest.label === undefined ? '' : `, label ${manifest.label}`}`,
    `started     ${manifest.startedAt} on ${manifest.host}, took ${formatDuration(manifest.durationMs)}`,
    `source      ${manifest.source.server}${manifest.kind === 'vault' ? '' : ` (${manifest.kind === 'redis' ? 'Redis' : 'PostgreSQL'} ${manifest.source.serverVersion}${manifest.source.pgDump === undefined ? '' : `; ${manifest.source.pgDump}`})`}`,
    `size        ${formatBytes(manifest.totals.sizeLogical)} logical, ${formatBytes(manifest.totals.sizeStored)} stored (${head.ratio})`,
    `keys        ${[...new Set(manifest.objects.flatMap((object) => (object.keyId === undefined ? [] : [object.keyId])))].join(', ') || 'none (not encrypted)'}`,
    ...(manifest.physical === undefined ? [] : physicalLines(manifest.physical)),
    '',
  ];
  const rows = manifest.objects.map((object: ObjectRecord) => ({
    object: object.path,
    database: object.database ?? object.redis?.node ?? (object.role === 'globals' ? '(globals)' : `(${object.role})`),
    stored: formatBytes(object.sizeStored),
    logical: formatBytes(object.sizeLogical),
    ratio: ratio(object.sizeLogical, object.sizeStored),
    codec: `${object.compression}${object.compressionLevel === undefined ? '' : `-${object.compressionLevel}`}+${object.encryption}`,
    tables: object.toc === undefined ? '' : String(object.toc.filter((entry) => entry.type === 'TABLE').length),
  }));
  return `${lines.join('\n')}\n${ctx.out.table(rows, [
    { key: 'object' },
    { key: 'database' },
    { key: 'stored' },
    { key: 'logical' },
    { key: 'ratio' },
    { key: 'codec' },
    { key: 'tables' },
  ])}`;
}

// ---- verify ----------------------------------------------------------------------------------

async function verifyCommand(ctx: CommandContext, id: string | undefined, options: RepoOptions & { all?: boolean; deep?: boolean; full?: boolean }): Promise<void> {
  if ((id === undefined) === (options.all !== true)) {
    throw new OpsError('USAGE', 'name one backup id or pass --all', { hint: 'opsctl backup verify <id> | --all [--deep]' });
  }
  const repo = await openRepository(ctx, await settings(ctx, options), options.deep === true);
  const manifests = id === undefined ? await repo.listBackups() : [await repo.readManifest(id)];
  const { verifyBackupIncrementally } = await import('../../backup/verify.js');
  const checks: ObjectCheck[] = [];
  for (const manifest of manifests) {
    checks.push(...(await verifyBackupIncrementally(repo, manifest, { deep: options.deep === true, full: options.full === true, env: ctx.env, signal: ctx.signal })));
  }
  ctx.out.list(checks, [
    { key: 'backup' },
    { key: 'object' },
    { key: 'status', format: (value) => (value === 'ok' ? ctx.theme.status('ok') : ctx.theme.fail(String(value).toUpperCase())) },
    { key: 'detail' },
  ]);
  const bad = checks.filter((check) => check.status !== 'ok');
  for (const check of bad) ctx.out.warning(`${check.backup}/${check.object}: ${check.status}: ${check.detail}`);
  const unchanged = checks.filter((check) => check.status === 'ok' && check.detail.startsWith('unchanged since')).length;
  const skipped = unchanged === 0 ? '' : ` (${unchanged} unchanged since they passed, not read again)`;
  ctx.out.message(`${manifests.length} backup(s), ${checks.length} object(s) checked${options.deep === true ? ' (deep)' : ''}${skipped}: ${bad.length === 0 ? 'all ok' : `${bad.length} problem(s)`}`);
  if (bad.length > 0) ctx.exitCode = ExitCode.CheckFailed;
}

// ---- runs ------------------------------------------------------------------------------------

async function runsCommand(ctx: CommandContext, options: RepoOptions & { limit?: number; status?: string }): Promise<void> {
  if (options.status !== undefined && !['running', 'ok', 'failed'].includes(options.status)) {
    throw new OpsError('USAGE', `unknown status "${options.status}"`, { hint: 'use running, ok or failed' });
  }
  const repo = await openRepository(ctx, await settings(ctx, options), false);
  let runs = await repo.listRuns();
  if (options.status !== undefined) runs = runs.filter((run) => run.status === options.status);
  if (options.limit !== undefined) runs = runs.slice(0, options.limit);
  const rows = runs.map((run: RunRecord) => ({
    id: run.id,
    kind: run.kind,
    status: run.status,
    startedAt: run.startedAt,
    durationMs: run.durationMs ?? null,
    sizeStored: run.sizeStored ?? null,
    host: run.host,
    error: run.error === undefined ? '' : `${run.error.code}: ${run.error.message}`,
  }));
  ctx.out.list(rows, [
    { key: 'id' },
    { key: 'kind' },
    { key: 'status' },
    { key: 'startedAt', header: 'STARTED' },
    { key: 'durationMs', header: 'DURATION', format: (value) => (value === null ? '' : duration(value)) },
    { key: 'sizeStored', header: 'STORED', format: (value) => (value === null ? '' : bytes(value)) },
    { key: 'host' },
    { key: 'error' },
  ]);
}
