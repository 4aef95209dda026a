import type { Command } from 'commander';
import { OpsError } from '../../core/errors.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { PostgresConfig, RedisConfig, SessionConfig } from '../../config/schema.js';
import type { MigrationSource } from '../../session/migrate.js';
import type { SessionStore, SessionSummary } from '../../session/store.js';
import type { RedisClient } from '../../redis/connection.js';
import type { CommandContext } from '../context.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import type { ExplainStep } from '../../core/explain.js';
import type { sessionVerbSteps } from '../../session/explain.js';
import type { Column } from '../ui/output.js';
import { duration, positiveInt } from '../option-values.js';

/** `opsctl session …`: thin adapters over src/session/. */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    `
Administers the sessions the library's createSessionStore writes (profiles.<name>.session:
keyPrefix, idleTtl, absoluteTtl, maxBytes, durability, encryption). Key layout: docs/sessions.md.
Exit codes: 0 ok, 1 failed (SESSION_NOT_FOUND …), 2 usage/config error, 4 could not connect, 130 interrupted.`,
  );

  withExamples(
    command
      .command('list')
      .description('List live sessions (SCAN, streamed; --user reads the user index instead)')
      .option('--user <id>', 'only the sessions of this user')
      .option('--idle-over <duration>', 'only sessions unused for at least this long ("1h", "30d")', duration)
      .option('--limit <n>', 'stop after this many', positiveInt),
    ['opsctl session list --limit 20', 'opsctl session list --user 42', 'opsctl session list --idle-over 1h --json'],
  ).action(action(async (ctx, options: ListOptions) => listCommand(ctx, options)));
  withExplain(command.commands.at(-1)!, explainSession((steps, redis, key, prefix, options: ListOptions) => steps.list(redis, key, prefix, options.user)));

  withExamples(
    command
      .command('show')
      .description('Show one session: metadata, fields and sizes; data only with --reveal')
      .argument('<id>', 'session id')
      .option('--reveal', 'print the decoded data (asks first: it may hold personal data)'),
    ['opsctl session show 3q2-7wEjYhqYq8c1RZbSx9LwTtPd5Fu0', 'opsctl session show 3q2-7wEjYhqYq8c1RZbSx9LwTtPd5Fu0 --reveal --yes --json'],
  ).action(action(async (ctx, id: string, options: { reveal?: boolean }) => showCommand(ctx, id, options)));
  withExplain(command.commands.at(-1)!, explainSession((steps, redis, key, prefix, id: string) => steps.show(redis, key, prefix, id)));

  withExamples(
    command
      .command('revoke')
      .description('Destroy one session, or every session of a user (sign out everywhere)')
      .argument('[id]', 'session id (or --user)')
      .option('--user <id>', 'every session of this user')
      .option('--dry-run', 'count what would be revoked and change nothing'),
    ['opsctl session revoke 3q2-7wEjYhqYq8c1RZbSx9LwTtPd5Fu0 --yes', 'opsctl session revoke --user 42 --dry-run', 'opsctl --profile prod session revoke --user 42 --yes=prod'],
  ).action(action(async (ctx, id: string | undefined, options: { user?: string; dryRun?: boolean }) => revokeCommand(ctx, id, options)));
  withExplain(
    command.commands.at(-1)!,
    explainSession((steps, redis, key, prefix, id: string | undefined) => {
      if (id === undefined) throw new OpsError('EXPLAIN_UNSUPPORTED', '`opsctl session revoke --user` has no --explain', { hint: 'explain one session: `opsctl session revoke <id> --explain`' });
      return steps.revoke(redis, key, prefix, id);
    }),
  );

  withExamples(
    command.command('stats').description('Count, sessions per user, age and idle histograms, size percentiles, memory, expiring within an hour'),
    ['opsctl session stats', 'opsctl session stats --json'],
  ).action(action(async (ctx) => statsCommand(ctx)));

  withExamples(
    command
      .command('purge')
      .description('Destroy sessions unused for at least --idle-over, in batches, with progress')
      .requiredOption('--idle-over <duration>', 'idle at least this long ("30d", "12h")', duration)
      .option('--dry-run', 'count what would be purged and change nothing'),
    ['opsctl session purge --idle-over 12h --dry-run', 'opsctl session purge --idle-over 12h --yes'],
  ).action(action(async (ctx, options: { idleOver: number; dryRun?: boolean }) => purgeCommand(ctx, options)));

  withExamples(
    command
      .command('rekey')
      .description('Re-encrypt every session value not under the first key of session.encryption.keys')
      .option('--dry-run', 'count the sessions that hold values under older keys'),
    ['opsctl session rekey --dry-run', 'opsctl session rekey'],
  ).action(action(async (ctx, options: { dryRun?: boolean }) => rekeyCommand(ctx, options)));

  withExamples(
    command
      .command('migrate')
      .description('Copy live sessions with their remaining TTLs to another Redis (resumable, idempotent, verified)')
      .requiredOption('--from <profile|url>', 'source: a profile name, a redis:// URL, or a postgres:// URL (connect-pg-simple)')
      .requiredOption('--to <profile|url>', 'target: a profile name or a redis:// URL')
      .option('--format <format>', 'source format: opsctl, connect-redis or connect-pg-simple (default: opsctl, or connect-pg-simple for postgres://)')
      .option('--from-prefix <prefix>', 'source key prefix (default: the source profile\'s session.keyPrefix, or sess: for connect-redis)')
      .option('--table <name>', 'connect-pg-simple table', 'session')
      .option('--user-field <name>', 'session property holding the user id, for the user index', 'userId')
      .option('--checkpoint <file>', 'resume point, written after every page (default .opsctl/session-migrate.json)')
      .option('--verify-only', 'only compare source and target (counts, checksums, TTLs)')
      .option('--dry-run', 'count the live sessions at the source and copy nothing'),
    [
      'opsctl session migrate --from staging --to prod-cluster',
      'opsctl session migrate --from redis://old-redis:6379 --format connect-redis --to prod',
      'opsctl session migrate --from postgres://app@db/app --to prod --table session --json',
    ],
  ).action(action(async (ctx, options: MigrateCommandOptions) => migrateCommand(ctx, options)));
}

interface MigrateCommandOptions {
  from: string;
  to: string;
  format?: string;
  fromPrefix?: string;
  table: string;
  userField: string;
  checkpoint?: string;
  verifyOnly?: boolean;
  dryRun?: boolean;
}

interface ListOptions {
  user?: string;
  idleOver?: number;
  limit?: number;
}

/** `--explain` for a verb: its redis-cli lines from the profile's redis and session sections. */
function explainSession<A extends unknown[]>(
  build: (steps: typeof sessionVerbSteps, redis: RedisConfig, redisKey: string, prefix: string, ...args: A) => ExplainStep[],
) {
  return async (ctx: CommandContext, ...args: A): Promise<ExplainStep[]> => {
    const [redis, selected, { sessionVerbSteps }, { sessionStoreOptions }] = await Promise.all([
      ctx.redisSection(),
      ctx.profile(),
      import('../../session/explain.js'),
      import('../../session/config.js'),
    ]);
    const { keyPrefix } = await sessionStoreOptions(selected.profile.session, `profiles.${selected.name}.session`);
    return build(sessionVerbSteps, redis.config, redis.configKey, keyPrefix ?? '', ...args);
  };
}

interface Opened {
  client: RedisClient;
  store: SessionStore;
  idleTtlMs: number;
  encrypted: boolean;
}

/** The profile's store over the command's Redis client. */
async function open(ctx: CommandContext): Promise<Opened> {
  const selected = await ctx.profile();
  const { sessionStoreOptions } = await import('../../session/config.js');
  const { createSessionStore } = await import('../../session/store.js');
  const options = await sessionStoreOptions(selected.profile.session, `profiles.${selected.name}.session`);
  const client = await ctx.redis();
  // Administration never waits for replicas: it reads, and its deletions are re-run if lost.
  const store = createSessionStore({ ...options, durability: 'primary', client, now: () => ctx.clock.now() });
  return { client, store, idleTtlMs: options.idleTtlMs ?? 0, encrypted: options.encryptionKeys !== undefined };
}

interface SessionRow {
  id: string;
  user: string;
  created: string;
  idle: string;
  expiresIn: string;
  bytes: number;
}

const SESSION_COLUMNS: Column<SessionRow>[] = [
  { key: 'id' },
  { key: 'user' },
  { key: 'created' },
  { key: 'idle' },
  { key: 'expiresIn', header: 'EXPIRES IN' },
  { key: 'bytes', format: (value) => formatBytes(value as number) },
];

async function toRow(summary: SessionSummary, idleTtlMs: number, now: number): Promise<SessionRow> {
  const { idleMs } = await import('../../session/admin.js');
  return {
    id: summary.id,
    user: summary.user ?? '',
    created: new Date(summary.createdAt).toISOString(),
    idle: formatDuration(idleMs(summary, idleTtlMs, now)),
    expiresIn: formatDuration(summary.ttlMs),
    bytes: summary.bytes,
  };
}

async function listCommand(ctx: CommandContext, options: ListOptions): Promise<void> {
  const { client, store, idleTtlMs } = await open(ctx);
  const { listSessions } = await import('../../session/admin.js');
  const rows = listSessions(client, store, {
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.idleOver === undefined ? {} : { idleOverMs: options.idleOver }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    idleTtlMs,
    now: () => ctx.clock.now(),
    signal: ctx.signal,
  });
  let count = 0;
  if (ctx.out.format === 'table') {
    // Streamed: one line per session as SCAN finds it, so a large keyspace shows at once.
    const line = (row: Record<keyof SessionRow, string>) => [row.id.padEnd(32), row.user.padEnd(12), row.created.padEnd(24), row.idle.padEnd(8), row.expiresIn.padEnd(10), row.bytes].join('  ');
    ctx.out.text(ctx.theme.heading(line({ id: 'ID', user: 'USER', created: 'CREATED', idle: 'IDLE', expiresIn: 'EXPIRES IN', bytes: 'BYTES' })));
    for await (const summary of rows) {
      const row = await toRow(summary, idleTtlMs, ctx.clock.now());
      ctx.out.text(line({ ...row, bytes: formatBytes(row.bytes) }));
      count += 1;
    }
  } else {
    const all: SessionRow[] = [];
    for await (const summary of rows) all.push(await toRow(summary, idleTtlMs, ctx.clock.now()));
    ctx.out.list(all, SESSION_COLUMNS);
    count = all.length;
  }
  ctx.out.message(ctx.theme.dim(`${count} session${count === 1 ? '' : 's'}${options.limit !== undefined && count >= options.limit ? ` (stopped at --limit ${options.limit})` : ''}`));
}

async function showCommand(ctx: CommandContext, id: string, options: { reveal?: boolean }): Promise<void> {
  const { store, idleTtlMs } = await open(ctx);
  const inspection = await store.inspect(id);
  if (inspection === null) throw notFound(id);
  if (options.reveal === true) await ctx.confirm(`Print the data of session ${id.slice(0, 6)}…? It may hold personal data.`);
  const { idleMs } = await import('../../session/admin.js');
  const now = ctx.clock.now();
  const view = {
    id: inspection.id,
    user: inspection.user ?? null,
    version: inspection.version,
    createdAt: new Date(inspection.createdAt).toISOString(),
    expiresAt: new Date(inspection.expiresAt).toISOString(),
    idleMs: idleMs(inspection, idleTtlMs, now),
    ttlMs: inspection.ttlMs,
    bytes: inspection.bytes,
    fields: inspection.fields,
    problem: inspection.problem ?? null,
    data: options.reveal === true ? (inspection.data ?? null) : '(redacted: pass --reveal)',
  };
  ctx.out.object(view, (v) =>
    [
      `id        ${v.id}`,
      `user      ${v.user ?? '(anonymous)'}`,
      `format    v${v.version}`,
      `created   ${v.createdAt}`,
      `expires   ${v.expiresAt} (absolute); idle expiry in ${formatDuration(v.ttlMs)}, idle for ${formatDuration(v.idleMs)}`,
      `size      ${formatBytes(v.bytes)}`,
      `fields    ${v.fields.map((f) => `${f.name} (${formatBytes(f.bytes)}${f.keyId === undefined ? '' : `, key ${f.keyId}`})`).join(', ') || '(none)'}`,
      ...(v.problem === null ? [] : [ctx.theme.warn(`unreadable: ${v.problem}`)]),
      `data      ${typeof v.data === 'string' ? v.data : JSON.stringify(v.data, null, 2)}`,
    ].join('\n'),
  );
  if (inspection.problem !== undefined) {
    throw new OpsError('SESSION_UNREADABLE', `session ${id.slice(0, 6)}… cannot be read: ${inspection.problem}`, {
      hint: 'Applications treat it as signed out; add the missing key to session.encryption.keys, or revoke it.',
    });
  }
}

function notFound(id: string): OpsError {
  return new OpsError('SESSION_NOT_FOUND', `no session ${id.slice(0, 6)}… (missing, expired or revoked)`, { hint: 'List live sessions with `opsctl session list`.' });
}

async function revokeCommand(ctx: CommandContext, id: string | undefined, options: { user?: string; dryRun?: boolean }): Promise<void> {
  if ((id === undefined) === (options.user === undefined)) {
    throw new OpsError('USAGE', 'give a session id or --user, not both', { hint: 'opsctl session revoke <id>  |  opsctl session revoke --user <id>' });
  }
  const { store } = await open(ctx);
  const targets = id !== undefined ? ((await store.summary(id)) === null ? [] : [id]) : (await store.listForUser(options.user as string)).map((s) => s.id);
  if (id !== undefined && targets.length === 0) throw notFound(id);
  const what = id !== undefined ? `session ${id.slice(0, 6)}…` : `${targets.length} session(s) of user ${options.user}`;
  if (options.dryRun === true) {
    ctx.out.object({ dryRun: true, sessions: targets.length }, () => `would revoke ${what}`);
    return;
  }
  await ctx.confirm(`Revoke ${what}?`, { impact: `signs out ${targets.length} session(s)`, onProfile: true });
  const revoked = id !== undefined ? Number(await store.destroy(id)) : await store.destroyForUser(options.user as string);
  ctx.out.object({ revoked }, () => `revoked ${revoked} session(s)`);
}

async function statsCommand(ctx: CommandContext): Promise<void> {
  const { client, store, idleTtlMs } = await open(ctx);
  const { sessionStats } = await import('../../session/admin.js');
  const task = ctx.progress.start('scanning sessions');
  const stats = await sessionStats(client, store, { idleTtlMs, now: () => ctx.clock.now(), signal: ctx.signal, onProgress: (n) => task.update(n) });
  task.finish();
  const histogram = (buckets: Record<string, number>) =>
    Object.entries(buckets)
      .map(([label, n]) => `${label} ${n}`)
      .join(', ') || '-';
  ctx.out.object(stats, (s) =>
    [
      `sessions           ${s.count} (${s.users} users, ${s.anonymous} anonymous)`,
      `sessions per user  ${histogram(s.perUser)}`,
      `age                ${histogram(s.age)}`,
      `idle               ${histogram(s.idle)}`,
      `size               p50 ${formatBytes(s.bytes.p50)}, p90 ${formatBytes(s.bytes.p90)}, p99 ${formatBytes(s.bytes.p99)}, max ${formatBytes(s.bytes.max)}`,
      `memory (estimate)  ${formatBytes(s.memoryBytes)}`,
      `expiring < 1h      ${s.expiringWithinHour}`,
    ].join('\n'),
  );
}

async function purgeCommand(ctx: CommandContext, options: { idleOver: number; dryRun?: boolean }): Promise<void> {
  const { client, store, idleTtlMs } = await open(ctx);
  const { listSessions } = await import('../../session/admin.js');
  const candidates = async function* () {
    yield* listSessions(client, store, { idleOverMs: options.idleOver, idleTtlMs, now: () => ctx.clock.now(), signal: ctx.signal });
  };
  if (options.dryRun === true) {
    let count = 0;
    for await (const _summary of candidates()) count += 1;
    ctx.out.object({ dryRun: true, sessions: count }, () => `would purge ${count} session(s) idle for ${formatDuration(options.idleOver)} or more`);
    return;
  }
  await ctx.confirm(`Purge sessions idle for ${formatDuration(options.idleOver)} or more?`, { onProfile: true });
  const task = ctx.progress.start('purging sessions');
  let purged = 0;
  // Each candidate is destroyed as the scan yields its page: memory stays bounded by one page.
  for await (const summary of candidates()) {
    if (await store.destroy(summary.id)) purged += 1;
    task.update(purged);
  }
  task.finish();
  ctx.out.object({ purged }, () => `purged ${purged} session(s)`);
}

async function rekeyCommand(ctx: CommandContext, options: { dryRun?: boolean }): Promise<void> {
  const { client, store, encrypted } = await open(ctx);
  if (!encrypted) {
    throw new OpsError('SESSION_NOT_CONFIGURED', 'session rekey needs session.encryption.keys in the profile', {
      hint: 'Put the new key first in session.encryption.keys and keep the old ones after it (docs/sessions.md).',
    });
  }
  const { scanSessionIds } = await import('../../session/admin.js');
  if (options.dryRun !== true) await ctx.confirm('Re-encrypt every session under the current key?');
  const task = ctx.progress.start('rekeying sessions');
  let sessions = 0;
  let fields = 0;
  let scanned = 0;
  let unreadable = 0;
  for await (const ids of scanSessionIds(client, store.keys, ctx.signal)) {
    for (const id of ids) {
      try {
        const outdated = await store.rekey(id, { dryRun: options.dryRun === true });
        if (outdated > 0) sessions += 1;
        fields += outdated;
      } catch (error) {
        // One session under a key that is gone must not stop the sweep: count it and go on.
        if (!(error instanceof OpsError) || error.code !== 'SESSION_UNREADABLE') throw error;
        unreadable += 1;
      }
    }
    scanned += ids.length;
    task.update(scanned);
  }
  task.finish();
  ctx.out.object({ dryRun: options.dryRun === true, scanned, sessions, fields, unreadable }, (r) =>
    `${r.dryRun ? 'would rewrite' : 'rewrote'} ${r.fields} field(s) in ${r.sessions} of ${r.scanned} session(s)` +
    (r.unreadable === 0 ? '' : `; ${r.unreadable} session(s) hold values under a key that is not configured (left as they are)`),
  );
  if (unreadable > 0) {
    throw new OpsError('SESSION_UNREADABLE', `${unreadable} session(s) could not be rekeyed`, {
      hint: 'Add the old key back to session.encryption.keys and run `opsctl session rekey` again, or revoke those sessions.',
    });
  }
}

const FORMATS = ['opsctl', 'connect-redis', 'connect-pg-simple'] as const;

/** A place sessions live: a profile's Redis (and its session settings) or a bare URL. */
interface Endpoint {
  label: string;
  redis?: RedisConfig;
  postgres?: PostgresConfig;
  session?: SessionConfig;
  configKey: string;
}

async function endpoint(ctx: CommandContext, spec: string): Promise<Endpoint> {
  const { redisSchema, postgresSchema } = await import('../../config/schema.js');
  if (/^rediss?:\/\//.test(spec)) return { label: 'the --from/--to URL', redis: redisSchema.parse({ url: spec }), configKey: 'the redis URL given' };
  if (/^postgres(ql)?:\/\//.test(spec)) return { label: 'the --from URL', postgres: postgresSchema.parse({ url: spec }), configKey: 'the postgres URL given' };
  const { selectProfile } = await import('../../config/loader.js');
  const selected = selectProfile(await ctx.config(), { profile: spec, env: ctx.env });
  return {
    label: `profile "${selected.name}"`,
    ...(selected.profile.redis === undefined ? {} : { redis: selected.profile.redis }),
    ...(selected.profile.postgres === undefined ? {} : { postgres: selected.profile.postgres }),
    ...(selected.profile.session === undefined ? {} : { session: selected.profile.session }),
    configKey: `profiles.${selected.name}`,
  };
}

async function endpointRedis(ctx: CommandContext, point: Endpoint): Promise<RedisClient> {
  if (point.redis === undefined) throw new OpsError('CONFIG_INVALID', `${point.label} has no redis section`, { hint: 'Give a profile with redis settings, or a redis:// URL.' });
  const { createRedisClient } = await import('../../redis/connection.js');
  const client = await createRedisClient(point.redis, { configKey: `${point.configKey}.redis`, tracer: ctx.tracer });
  ctx.onClose(() => client.disconnect());
  return client;
}

async function migrateCommand(ctx: CommandContext, options: MigrateCommandOptions): Promise<void> {
  const [from, to] = await Promise.all([endpoint(ctx, options.from), endpoint(ctx, options.to)]);
  const format = options.format ?? (from.redis === undefined && from.postgres !== undefined ? 'connect-pg-simple' : 'opsctl');
  if (!(FORMATS as readonly string[]).includes(format)) throw new OpsError('USAGE', `unknown --format ${format}`, { hint: `use one of ${FORMATS.join(', ')}` });
  const { sessionStoreOptions } = await import('../../session/config.js');
  const { createSessionStore } = await import('../../session/store.js');
  const { migrateSessions, verifyMigration } = await import('../../session/migrate.js');
  const targetOptions = await sessionStoreOptions(to.session, `${to.configKey}.session`);
  const targetClient = await endpointRedis(ctx, to);
  const target = createSessionStore({ ...targetOptions, client: targetClient });
  const absoluteTtlMs = targetOptions.absoluteTtlMs ?? 0;

  let source: MigrationSource;
  if (format === 'connect-pg-simple') {
    if (from.postgres === undefined) throw new OpsError('CONFIG_INVALID', `${from.label} has no postgres section`, { hint: 'Give a profile with postgres settings, or a postgres:// URL.' });
    const { createPgPool } = await import('../../postgres/connection.js');
    const pool = await createPgPool(from.postgres, { configKey: `${from.configKey}.postgres`, tracer: ctx.tracer });
    ctx.onClose(() => pool.end());
    source = { kind: 'connect-pg-simple', pool, table: options.table, userField: options.userField, absoluteTtlMs };
  } else {
    const client = await endpointRedis(ctx, from);
    if (format === 'connect-redis') {
      source = { kind: 'connect-redis', client, prefix: options.fromPrefix ?? 'sess:', userField: options.userField, absoluteTtlMs };
    } else {
      const sourceOptions = await sessionStoreOptions(from.session, `${from.configKey}.session`);
      const store = createSessionStore({ ...sourceOptions, ...(options.fromPrefix === undefined ? {} : { keyPrefix: options.fromPrefix }), client });
      source = { kind: 'opsctl', client, store };
    }
  }

  if (options.dryRun === true || options.verifyOnly === true) {
    const verified = await verifyMigration({ source, target, signal: ctx.signal });
    const report = { dryRun: options.dryRun === true, ...verified, missing: verified.missing.length, different: verified.different.length };
    ctx.out.object(report, (r) => `${r.source} live session(s) at the source; ${r.matching} already at the target, ${r.missing} missing, ${r.different} different`);
    if (options.verifyOnly === true && (verified.missing.length > 0 || verified.different.length > 0)) {
      throw new OpsError('CHECK_FAILED', `${verified.missing.length} session(s) missing and ${verified.different.length} different at the target`, {
        hint: 'Run `opsctl session migrate` again (it is idempotent); sessions that expired meanwhile are not counted.',
      });
    }
    return;
  }

  const checkpointPath = options.checkpoint ?? (await defaultCheckpoint(ctx));
  const task = ctx.progress.start('copying sessions');
  const result = await migrateSessions({ source, target, checkpointPath, signal: ctx.signal, onProgress: (copied) => task.update(copied) });
  task.finish();
  const verified = await verifyMigration({ source, target, signal: ctx.signal });
  const { rm } = await import('node:fs/promises');
  const complete = verified.missing.length === 0 && verified.different.length === 0;
  // A finished, verified copy leaves no resume point behind: the next run starts over.
  if (complete) await rm(checkpointPath, { force: true });
  const report = { ...result, source: verified.source, matching: verified.matching, missing: verified.missing.length, different: verified.different.length, sourceChecksum: verified.sourceChecksum, targetChecksum: verified.targetChecksum };
  ctx.out.object(report, (r) =>
    [
      `copied     ${r.copied}${r.resumed ? ' (resumed from the checkpoint)' : ''}, skipped ${r.skipped} (expired while copying)`,
      `verified   ${r.matching} of ${r.source} live source session(s) at the target; ${r.missing} missing, ${r.different} different`,
      `checksums  source ${r.sourceChecksum.slice(0, 16)}…  target ${r.targetChecksum.slice(0, 16)}…`,
    ].join('\n'),
  );
  if (!complete) {
    throw new OpsError('CHECK_FAILED', `${verified.missing.length} session(s) missing and ${verified.different.length} different after the copy`, {
      hint: 'Sessions written at the source during the copy: run the command again (idempotent), or keep dual-read on.',
    });
  }
}

async function defaultCheckpoint(ctx: CommandContext): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = join(ctx.cwd, '.opsctl');
  await mkdir(dir, { recursive: true });
  return join(dir, 'session-migrate.json');
}
