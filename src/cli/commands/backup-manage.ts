import { isAbsolute, resolve, dirname } from 'node:path';
import type { Command } from 'commander';
import type { BackupJobResult } from '../../backup/backup-job.js';
import type { SetMember } from '../../backup/backup-set.js';
import type { Repository } from '../../backup/repository.js';
import type { Manifest } from '../../backup/types.js';
import type { VaultSource } from '../../backup/vault.js';
import type { SelectedProfile } from '../../config/loader.js';
import { OpsError } from '../../core/errors.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { CommandContext } from '../context.js';
import { withExamples, type ActionFactory } from '../command-kit.js';
import { backupRunOptions, type BackupHelpers, type RepoOptions } from './backup-physical.js';

/** `opsctl backup run redis`: an RDB of every primary of the profile's deployment. */
export async function runRedisCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & { label?: string }): Promise<void> {
  const config = await helpers.settings(ctx, options, true);
  const selected = config.selected!;
  if (selected.profile.redis === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no redis section`, { hint: `add profiles.${selected.name}.redis to ${selected.filepath}` });
  }
  const repo = await helpers.openRepository(ctx, config, true);
  ctx.out.object(redisSummary(await takeRedis(ctx, repo, config.compression, options.label)));
}

async function takeRedis(ctx: CommandContext, repo: Repository, compression: Settings['compression'], label: string | undefined, set?: string): Promise<BackupJobResult> {
  const { runRedisBackup } = await import('../../backup/redis-rdb.js');
  return runRedisBackup({ ...backupRunOptions(ctx, repo, compression, { label, set }), nodes: await ctx.redisNodes(), tracer: ctx.tracer });
}

type Settings = Awaited<ReturnType<BackupHelpers['settings']>>;

/** A logical backup of the profile's PostgreSQL (`backup run postgres`, and a set's member). */
export async function takeLogical(
  ctx: CommandContext,
  repo: Repository,
  compression: Settings['compression'],
  options: { db?: string[]; globals?: boolean; label?: string; set?: string },
): Promise<BackupJobResult> {
  const [{ config, configKey }, { runLogicalBackup }] = await Promise.all([ctx.postgresSection(), import('../../backup/pg-logical.js')]);
  return runLogicalBackup({
    ...backupRunOptions(ctx, repo, compression, options),
    connect: () => ctx.pg(),
    postgres: config,
    configKey,
    ...(options.db === undefined ? {} : { databases: options.db }),
    globals: options.globals !== false,
    tracer: ctx.tracer,
  });
}

/** The profile's vault sources, paths resolved against the configuration file's directory. */
function vaultSources(selected: SelectedProfile): VaultSource[] | undefined {
  const sources = selected.profile.backup?.vault?.sources;
  if (sources === undefined) return undefined;
  const base = dirname(selected.filepath);
  return sources.map((source) => ('path' in source ? { path: isAbsolute(source.path) ? source.path : resolve(base, source.path) } : { command: source.command }));
}

async function takeVault(ctx: CommandContext, repo: Repository, sources: VaultSource[], compression: Settings['compression'], label: string | undefined, set?: string): Promise<BackupJobResult> {
  const { runVaultBackup } = await import('../../backup/vault.js');
  return runVaultBackup({ ...backupRunOptions(ctx, repo, compression, { label, set }), sources });
}

/** `opsctl backup run vault`: the configured secrets sources, always encrypted. */
export async function runVaultCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & { label?: string }): Promise<void> {
  const config = await helpers.settings(ctx, options, true);
  const selected = config.selected!;
  const sources = vaultSources(selected);
  if (sources === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no backup.vault section`, { hint: `add profiles.${selected.name}.backup.vault.sources to ${selected.filepath}` });
  }
  const repo = await helpers.openRepository(ctx, config, true);
  const { manifest } = await takeVault(ctx, repo, sources, config.compression, options.label);
  ctx.out.object({
    id: manifest.id,
    kind: manifest.kind,
    objects: manifest.objects.map((object) => ({ path: object.path, source: object.vault?.path ?? object.vault?.command?.join(' ') ?? '', sizeLogical: object.sizeLogical, sizeStored: object.sizeStored })),
    sizeStored: manifest.totals.sizeStored,
    duration: formatDuration(manifest.durationMs),
  });
}

/**
 * `opsctl backup run --all`: PostgreSQL (logical), Redis and the vault, whichever the profile
 * configures, as one backup set.
 */
export async function runAllCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & { label?: string; globals?: boolean }): Promise<void> {
  const config = await helpers.settings(ctx, options, true);
  const selected = config.selected!;
  const repo = await helpers.openRepository(ctx, config, true);
  const members: SetMember[] = [];
  const postgres = selected.profile.postgres;
  if (postgres !== undefined) {
    members.push({
      kind: 'pg-logical',
      run: async (set) => (await takeLogical(ctx, repo, config.compression, { ...options, set })).manifest,
    });
  }
  if (selected.profile.redis !== undefined) {
    members.push({ kind: 'redis', run: async (set) => (await takeRedis(ctx, repo, config.compression, options.label, set)).manifest });
  }
  const sources = vaultSources(selected);
  if (sources !== undefined) {
    members.push({ kind: 'vault', run: async (set) => (await takeVault(ctx, repo, sources, config.compression, options.label, set)).manifest });
  }
  const { runBackupSet } = await import('../../backup/backup-set.js');
  const { set, manifests } = await runBackupSet(repo, members);
  ctx.out.object({
    set: set.id,
    backups: manifests.map((manifest: Manifest) => ({ kind: manifest.kind, id: manifest.id, sizeStored: manifest.totals.sizeStored, duration: formatDuration(manifest.durationMs) })),
    sizeStored: manifests.reduce((sum, manifest) => sum + manifest.totals.sizeStored, 0),
  });
}

function redisSummary({ manifest }: BackupJobResult): Record<string, unknown> {
  return {
    id: manifest.id,
    kind: manifest.kind,
    source: manifest.source.server,
    nodes: manifest.objects.map((object) => ({
      node: object.redis?.node ?? '',
      replOffset: object.redis?.replOffset ?? 0,
      slots: (object.redis?.slots ?? []).map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(','),
      sizeLogical: object.sizeLogical,
      sizeStored: object.sizeStored,
    })),
    sizeLogical: manifest.totals.sizeLogical,
    sizeStored: manifest.totals.sizeStored,
    duration: formatDuration(manifest.durationMs),
  };
}

/** How a scheduled job runs: the same bodies as `backup run <kind>` (logical comes from backup.ts). */
type LogicalRunner = (ctx: CommandContext, options: RepoOptions & { label?: string }) => Promise<void>;

/** Registers prune, rekey, schedule and daemon under `opsctl backup`. */
export function registerManage(command: Command, action: ActionFactory, helpers: BackupHelpers, runLogical: LogicalRunner): void {
  withExamples(
    helpers.repoOptions(
      command
        .command('prune')
        .description('Delete backups no retention rule keeps (backup.retention); the newest of each kind is always kept')
        .option('--dry-run', 'show what would be deleted and why, delete nothing'),
    ).action(action(async (ctx, options: RepoOptions & { dryRun?: boolean }) => pruneCommand(ctx, helpers, options))),
    ['opsctl backup prune --dry-run', 'opsctl backup prune --yes    # in cron'],
  );

  withExamples(
    helpers.repoOptions(
      command
        .command('rekey')
        .description('Add a key and make it the active one (new backups use it); --rewrap moves old backups to it')
        .requiredOption('--new-key-file <path>', 'age identity file of the new key')
        .option('--generate-key', 'create the new key file first; refuses to overwrite one')
        .option('--rewrap', "re-encrypt old objects' file keys to the new key (the payload is not decrypted)")
        .option('--dry-run', 'show the key and the objects that would change, change nothing'),
    ).action(action(async (ctx, options: RepoOptions & RekeyOptions) => rekeyCommand(ctx, helpers, options))),
    [
      'opsctl backup rekey --new-key-file /etc/opsctl/backup-key-2027.txt --generate-key',
      'opsctl backup rekey --new-key-file /etc/opsctl/backup-key-2027.txt --rewrap --yes    # then retire the old key',
    ],
  );

  withExamples(
    helpers.repoOptions(command.command('stats').description('Logical size, stored size and savings per kind')),
    ['opsctl backup stats', 'opsctl backup stats --json'],
  ).action(action(async (ctx, options: RepoOptions) => statsCommand(ctx, helpers, options)));

  const schedule = command.command('schedule').description('Backup schedules of the profile (backup.schedules)');
  withExamples(
    schedule
      .command('list')
      .description('List the schedules with their next run times (UTC)')
      .option('--count <n>', 'next run times to show per schedule', '3'),
    ['opsctl backup schedule list', 'opsctl backup schedule list --count 5 --json'],
  ).action(action(async (ctx, options: { count: string }) => scheduleListCommand(ctx, Number(options.count))));
  withExamples(
    schedule
      .command('install')
      .description('Print crontab lines or systemd units that run the schedules (nothing is installed)')
      .option('--crontab', 'crontab(5) lines (5-field schedules only)')
      .option('--systemd', 'a .service and .timer per schedule'),
    ['opsctl backup schedule install --crontab | crontab -', 'opsctl backup schedule install --systemd'],
  ).action(action(async (ctx, options: { crontab?: boolean; systemd?: boolean }) => scheduleInstallCommand(ctx, options)));

  withExamples(
    command
      .command('daemon')
      .description('Run the schedules until SIGTERM/Ctrl-C: one run of a job at a time across hosts (PostgreSQL advisory lock)'),
    ['opsctl backup daemon', 'opsctl --profile prod backup daemon --json    # one JSON line per event and per run'],
  ).action(action(async (ctx) => daemonCommand(ctx, helpers, runLogical)));
}

async function profileSchedules(ctx: CommandContext): Promise<{ selected: SelectedProfile; schedules: BackupScheduleConfig[] }> {
  const selected = await ctx.profile();
  const schedules = selected.profile.backup?.schedules;
  if (schedules === undefined || schedules.length === 0) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no backup.schedules`, { hint: `add profiles.${selected.name}.backup.schedules to ${selected.filepath}` });
  }
  const { validateSchedules } = await import('../../backup/schedule.js');
  validateSchedules(schedules);
  return { selected, schedules };
}

type BackupScheduleConfig = NonNullable<NonNullable<SelectedProfile['profile']['backup']>['schedules']>[number];

async function scheduleListCommand(ctx: CommandContext, count: number): Promise<void> {
  if (!Number.isInteger(count) || count < 1) throw new OpsError('USAGE', '--count must be a whole number of at least 1');
  const { schedules } = await profileSchedules(ctx);
  const { nextRunTimes } = await import('../../backup/schedule.js');
  const now = new Date(ctx.clock.now());
  const rows = schedules.map((entry) => ({
    name: entry.name,
    kind: entry.kind,
    type: entry.type ?? '',
    cron: entry.cron,
    next: nextRunTimes(entry, now, count).map((date) => date.toISOString()),
  }));
  ctx.out.list(rows, [{ key: 'name' }, { key: 'kind' }, { key: 'type' }, { key: 'cron' }, { key: 'next', header: 'NEXT RUNS (UTC)', format: (value) => (value as string[]).join(', ') }]);
}

async function scheduleInstallCommand(ctx: CommandContext, options: { crontab?: boolean; systemd?: boolean }): Promise<void> {
  if ((options.crontab === true) === (options.systemd === true)) throw new OpsError('USAGE', 'pass --crontab or --systemd');
  const { selected, schedules } = await profileSchedules(ctx);
  const { crontabLines, systemdUnits } = await import('../../backup/schedule.js');
  const command = ['opsctl', '--config', selected.filepath, '--profile', selected.name];
  if (options.crontab === true) {
    const text = crontabLines(schedules, command);
    ctx.out.object({ crontab: text }, () => text.trimEnd());
    return;
  }
  const units = systemdUnits(schedules, command);
  ctx.out.object({ units }, () => units.map((unit) => `# ${unit.file}\n${unit.content}`).join('\n').trimEnd());
  ctx.out.message('copy these into /etc/systemd/system/, then: systemctl daemon-reload && systemctl enable --now opsctl-backup-<name>.timer');
}

async function daemonCommand(ctx: CommandContext, helpers: BackupHelpers, runLogical: LogicalRunner): Promise<void> {
  const { selected, schedules } = await profileSchedules(ctx);
  const { runScheduler, pgScheduleLock } = await import('../../backup/schedule.js');
  const lock = selected.profile.postgres === undefined ? undefined : pgScheduleLock(await ctx.pg());
  if (lock === undefined) ctx.out.warning('the profile has no postgres section: no cross-host lock, run the daemon on one host only');
  await runScheduler({
    schedules,
    signal: ctx.signal,
    now: () => ctx.clock.now(),
    ...(lock === undefined ? {} : { tryLock: lock }),
    onEvent: (event) => {
      if (ctx.out.machineReadable) ctx.out.object(event);
      else ctx.out.message(`${new Date(ctx.clock.now()).toISOString()} ${event.schedule}: ${event.event}${'at' in event ? ` at ${event.at}` : ''}${'message' in event ? ` ${event.code}: ${event.message}` : ''}${'reason' in event ? ` (${event.reason})` : ''}`);
    },
    run: async (entry) => {
      const options = { label: `schedule:${entry.name}` };
      switch (entry.kind) {
        case 'postgres':
          return runLogical(ctx, options);
        case 'postgres-physical': {
          const { runPhysicalCommand } = await import('./backup-physical.js');
          return runPhysicalCommand(ctx, helpers, { ...options, ...(entry.type === undefined ? {} : { type: entry.type }) });
        }
        case 'redis':
          return runRedisCommand(ctx, helpers, options);
        case 'vault':
          return runVaultCommand(ctx, helpers, options);
        case 'all':
          return runAllCommand(ctx, helpers, options);
      }
    },
  });
}

async function statsCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions): Promise<void> {
  const repo = await helpers.openRepository(ctx, await helpers.settings(ctx, options), false);
  const { repositoryStats } = await import('../../backup/stats.js');
  const bytes = (value: unknown) => formatBytes(Number(value));
  ctx.out.list(repositoryStats(await repo.listBackups()), [
    { key: 'kind' },
    { key: 'backups' },
    { key: 'objects' },
    { key: 'sizeLogical', header: 'LOGICAL', format: bytes },
    { key: 'sizeStored', header: 'STORED', format: bytes },
    { key: 'savingsPercent', header: 'SAVED', format: (value) => `${String(value)}%` },
  ]);
}

interface RekeyOptions {
  newKeyFile: string;
  generateKey?: boolean;
  rewrap?: boolean;
  dryRun?: boolean;
}

async function rekeyCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & RekeyOptions): Promise<void> {
  const config = await helpers.settings(ctx, options);
  const repo = await helpers.openRepository(ctx, config, true);
  const [{ createKeyFile, readKeyFile }, { keyIdOf }, { addRepositoryKey, rewrapBackups }] = await Promise.all([
    import('../../backup/key-file.js'),
    import('../../backup/age.js'),
    import('../../backup/rekey.js'),
  ]);
  const newKeyFile = resolve(ctx.cwd, options.newKeyFile);
  if (options.dryRun === true) {
    const recipient = options.generateKey === true ? undefined : (await readKeyFile(newKeyFile)).identities[0]!.recipient;
    const keyId = recipient === undefined ? '(generated)' : keyIdOf(recipient);
    const stale = (await repo.listBackups()).flatMap((manifest) =>
      manifest.objects.filter((object) => object.encryption === 'age' && object.keyId !== keyId).map((object) => ({ backup: manifest.id, object: object.path, keyId: object.keyId ?? '' })),
    );
    ctx.out.list(stale, [{ key: 'backup' }, { key: 'object' }, { key: 'keyId', header: 'KEY' }]);
    ctx.out.message(`dry run: key ${keyId} would become active${options.rewrap === true ? `; ${stale.length} object(s) would be rewrapped` : `; ${stale.length} object(s) would keep needing their old key`}`);
    return;
  }
  await ctx.confirm(`Make ${newKeyFile} the active key of ${config.location}${options.rewrap === true ? ' and rewrap every older object to it' : ''}?`);
  const key = options.generateKey === true ? await createKeyFile(newKeyFile, new Date(ctx.clock.now())) : (await readKeyFile(newKeyFile)).identities[0]!;
  const { repository, added } = await addRepositoryKey(repo, key);
  const rewrapped = options.rewrap === true ? await rewrapBackups(repository, { signal: ctx.signal }) : [];
  ctx.out.object({ repository: config.location, activeKey: repository.activeKey!.id, added, keyFile: newKeyFile, rewrapped: rewrapped.length });
  ctx.out.message(
    options.rewrap === true
      ? `every backup now needs only ${newKeyFile}; point backup.keyFile at it`
      : `new backups use ${newKeyFile}; older ones still need the old key until \`opsctl backup rekey --new-key-file ${newKeyFile} --rewrap\``,
  );
}

async function pruneCommand(ctx: CommandContext, helpers: BackupHelpers, options: RepoOptions & { dryRun?: boolean }): Promise<void> {
  const config = await helpers.settings(ctx, options, true);
  const selected = config.selected!;
  const retention = selected.profile.backup?.retention;
  if (retention === undefined) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no backup.retention section`, {
      hint: `add profiles.${selected.name}.backup.retention (keepLast, daily, weekly, monthly) to ${selected.filepath}`,
    });
  }
  const { kinds, ...fallback } = retention;
  const hasFallback = Object.values(fallback).some((value) => value !== undefined);
  const repo = await helpers.openRepository(ctx, config, false);
  const { planRetention, planWalPrune, applyRetention } = await import('../../backup/retention.js');
  const manifests = await repo.listBackups();
  const policies = Object.fromEntries(
    [...new Set(manifests.map((manifest) => manifest.kind))].map((kind) => [kind, kinds?.[kind as keyof typeof kinds] ?? (hasFallback ? fallback : undefined)]),
  );
  const { readVerification, passed } = await import('../../backup/verification.js');
  const verified = new Set<string>();
  for (const manifest of manifests) if (passed(await readVerification(repo, manifest.id), manifest)) verified.add(manifest.id);
  const plan = planRetention(manifests, { policies, verified: (manifest) => verified.has(manifest.id) });
  const doomed = plan.filter((decision) => decision.action === 'delete');
  const keptIds = new Set(plan.filter((decision) => decision.action === 'keep').map((decision) => decision.id));
  const walKeys = planWalPrune(manifests.filter((manifest) => manifest.kind === 'pg-physical' && keptIds.has(manifest.id)), await repo.storage.list('wal'));
  const rows = plan.map((decision) => ({ ...decision, reasons: decision.reasons.join('; ') }));
  ctx.out.list(rows, [{ key: 'id' }, { key: 'kind' }, { key: 'startedAt', header: 'STARTED' }, { key: 'action' }, { key: 'reasons' }]);
  const wal = walKeys.length === 0 ? '' : ` and ${walKeys.length} WAL file(s) older than every kept physical backup`;
  if (doomed.length === 0 && walKeys.length === 0) {
    ctx.out.message(`${plan.length} backup(s), nothing to delete`);
    return;
  }
  if (options.dryRun === true) {
    ctx.out.message(`dry run: would delete ${doomed.length} of ${plan.length} backup(s)${wal}`);
    return;
  }
  await ctx.confirm(`Delete ${doomed.length} of ${plan.length} backup(s)${wal} from ${config.location}?`, { impact: doomed.map((decision) => decision.id).join(', ') || 'WAL only' });
  const { deleted, setsDeleted, walDeleted } = await applyRetention(repo, plan, { walKeys, signal: ctx.signal });
  ctx.out.message(`deleted ${deleted.length} backup(s)${setsDeleted.length === 0 ? '' : ` and ${setsDeleted.length} incomplete set record(s)`}${walDeleted === 0 ? '' : `, ${walDeleted} WAL file(s)`}`);
}
