import type { Command } from 'commander';
import { OpsError } from '../../core/errors.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { CacheStatsReport, EntryDetails, EntryRow, WarmQuery } from '../../cache/admin.js';
import type { QueryCache } from '../../cache/query-cache.js';
import type { CommandContext } from '../context.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import type { ExplainStep } from '../../core/explain.js';
import type { RedisConfig } from '../../config/schema.js';
import type { Column } from '../ui/output.js';
import { collect, positiveDuration, positiveInt } from '../option-values.js';

/**
 * `opsctl cache …`: thin adapters over src/cache (query-cache, admin, triggers). The cache is
 * built from the profile's `cache` section exactly as an application builds it, so what is
 * inspected and invalidated here is what the application reads.
 */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText('after', '\nKey layout, entry format and trigger format: docs/cache.md.');

  withExamples(
    command.command('stats').description('Hit ratio, counters and the most looked-up statements, per namespace (all instances)')
      .option('--namespace <name>', 'only this namespace')
      .option('--top <n>', 'statements listed per namespace', positiveInt, 10)
      .action(action(async (ctx, opts: { namespace?: string; top: number }) => statsCommand(ctx, opts))),
    ['opsctl cache stats', 'opsctl cache stats --namespace users --top 5 --json'],
  );

  withExamples(
    withExplain(command.command('keys').description('List cache entries with SCAN (never KEYS), streaming')
      .option('--namespace <name>', 'only entries of this namespace')
      .option('--tag <tag>', 'only entries recorded under this tag (table tags: table:<schema>.<name>)')
      .option('--limit <n>', 'stop after this many entries', positiveInt)
      .action(action(async (ctx, opts: { namespace?: string; tag?: string; limit?: number }) => keysCommand(ctx, opts))),
      explainCacheRedis((redis, key, prefix, opts: { namespace?: string; tag?: string }) => cacheSteps().then((steps) => steps.keys(redis, key, prefix, opts)))),
    ['opsctl cache keys --namespace users', 'opsctl cache keys --tag table:public.orders --json'],
  );

  withExamples(
    command.command('inspect').description("An entry's metadata: namespace, tags, size, age, remaining TTL; the rows with --reveal")
      .argument('<key>', 'entry key, as `cache keys` lists it')
      .option('--reveal', 'also print the cached rows (they may hold personal data)')
      .action(action(async (ctx, key: string, opts: { reveal?: boolean }) => inspectCommand(ctx, key, opts))),
    ["opsctl cache inspect 'opsctl:cache:e:default:{3f2a…}'", "opsctl cache inspect 'opsctl:cache:e:users:{…}' --reveal --json"],
  );

  withExamples(
    command.command('invalidate').description('Drop entries by tag, table or key, or flush namespaces by a version bump')
      .option('--tag <tag>', 'entries recorded under this tag (repeatable)', collect, [])
      .option('--table <table>', 'entries that read this table (repeatable)', collect, [])
      .option('--key <key>', 'this entry (repeatable)', collect, [])
      .option('--namespace <name>', 'every entry of this namespace (repeatable)', collect, [])
      .option('--dry-run', 'count what would be invalidated, change nothing')
      .action(action(async (ctx, opts: InvalidateFlags) => invalidateCommand(ctx, opts))),
    ['opsctl cache invalidate --tag catalog', 'opsctl cache invalidate --table orders --dry-run', "opsctl cache invalidate --key 'opsctl:cache:e:default:{…}'"],
  );

  withExamples(
    command.command('warm').description('Run queries through the cache before traffic arrives (bounded concurrency; failures reported)')
      .option('--file <path>', 'YAML or JSON list of queries: sql, params, namespace, tags, ttl')
      .option('--from-stats', 'the statements most looked up according to the statistics')
      .option('--from-pg-stat-statements', "this database's most called parameterless reads in pg_stat_statements")
      .option('--top <n>', 'with --from-stats: statements per namespace; with --from-pg-stat-statements: statements', positiveInt, 20)
      .option('--concurrency <n>', 'queries at a time', positiveInt, 4)
      .action(action(async (ctx, opts: WarmFlags) => warmCommand(ctx, opts))),
    ['opsctl cache warm --file queries.yaml', 'opsctl cache warm --from-stats --top 50 --concurrency 8', 'opsctl cache warm --from-pg-stat-statements --top 20'],
  );

  withExamples(
    withExplain(command.command('flush').description('Flush namespaces (all by default) with a version bump: O(1), old entries expire')
      .option('--namespace <name>', 'only this namespace (repeatable)', collect, [])
      .option('--dry-run', 'say what would be flushed, change nothing')
      .action(action(async (ctx, opts: { namespace: string[]; dryRun?: boolean }) => flushCommand(ctx, opts))),
      explainCacheRedis((redis, key, prefix, opts: { namespace: string[] }, namespaces: string[]) =>
        cacheSteps().then((steps) => steps.flush(redis, key, prefix, opts.namespace.length > 0 ? opts.namespace : namespaces)))),
    ['opsctl cache flush --namespace users --yes', 'opsctl cache flush --dry-run'],
  );

  withExamples(
    withExplain(command.command('install-triggers').description('Install the table-change triggers that invalidate cached results (idempotent)')
      .requiredOption('--table <table>', 'table to watch, schema.table or table (repeatable)', collect, [])
      .option('--dry-run', 'print the SQL, change nothing')
      .action(action(async (ctx, opts: { table: string[]; dryRun?: boolean }) => triggersCommand(ctx, 'install', opts))),
      explainTriggers('install')),
    ['opsctl cache install-triggers --table orders --table public.users', 'opsctl cache install-triggers --table orders --dry-run'],
  );

  withExamples(
    withExplain(command.command('uninstall-triggers').description('Remove the table-change triggers (idempotent)')
      .requiredOption('--table <table>', 'table to stop watching (repeatable)', collect, [])
      .option('--dry-run', 'print the SQL, change nothing')
      .action(action(async (ctx, opts: { table: string[]; dryRun?: boolean }) => triggersCommand(ctx, 'uninstall', opts))),
      explainTriggers('uninstall')),
    ['opsctl cache uninstall-triggers --table orders'],
  );

  withExamples(
    command.command('ttl').description("Set an entry's remaining fresh lifetime")
      .argument('<key>', 'entry key')
      .argument('<duration>', 'new lifetime: 30s, 5m, 1h', positiveDuration)
      .action(action(async (ctx, key: string, ttl: number) => ttlCommand(ctx, key, ttl))),
    ["opsctl cache ttl 'opsctl:cache:e:default:{…}' 10m"],
  );
}

interface InvalidateFlags {
  tag: string[];
  table: string[];
  key: string[];
  namespace: string[];
  dryRun?: boolean;
}

interface WarmFlags {
  file?: string;
  fromStats?: boolean;
  fromPgStatStatements?: boolean;
  top: number;
  concurrency: number;
}

// ---- shared -------------------------------------------------------------------------------

const cacheSteps = () => import('../../cache/explain.js').then((m) => m.cacheVerbSteps);

/**
 * `--explain` for a Redis-side verb: its redis-cli lines from the profile (the key prefix and the
 * configured namespaces, `default` first), without connecting.
 */
function explainCacheRedis<O>(build: (redis: RedisConfig, redisKey: string, prefix: string, opts: O, namespaces: string[]) => Promise<ExplainStep[]>) {
  return async (ctx: CommandContext, opts: O): Promise<ExplainStep[]> => {
    const [redis, selected, { queryCacheOptions }, { DEFAULT_KEY_PREFIX }] = await Promise.all([ctx.redisSection(), ctx.profile(), import('../../cache/config.js'), import('../../cache/keys.js')]);
    const options = queryCacheOptions(selected.profile.cache);
    const namespaces = ['default', ...Object.keys(options.namespaces ?? {}).filter((name) => name !== 'default')];
    return build(redis.config, redis.configKey, options.keyPrefix ?? DEFAULT_KEY_PREFIX, opts, namespaces);
  };
}

/** `--explain` for install/uninstall-triggers: the psql transaction. */
function explainTriggers(action: 'install' | 'uninstall') {
  return async (ctx: CommandContext, opts: { table: string[] }): Promise<ExplainStep[]> => {
    const { config, configKey } = await ctx.postgresSection();
    return (await cacheSteps()).triggers(config, configKey, action, opts.table);
  };
}

/** The profile's query cache; `withPg` also connects PostgreSQL (warm). */
async function openCache(ctx: CommandContext, withPg = false): Promise<QueryCache> {
  const selected = await ctx.profile();
  const config = selected.profile.cache;
  const [{ createQueryCache }, { queryCacheOptions }, redis, pg] = await Promise.all([
    import('../../cache/query-cache.js'),
    import('../../cache/config.js'),
    ctx.redis(),
    withPg ? ctx.pg() : undefined,
  ]);
  const cache = createQueryCache({
    redis,
    pg,
    ...queryCacheOptions(config),
    // A one-shot command needs no subscription; its invalidations are still published.
    subscriber: false,
    logger: { warn: (line) => ctx.out.warning(line) },
  });
  ctx.onClose(() => cache.close());
  return cache;
}

// ---- stats --------------------------------------------------------------------------------

async function statsCommand(ctx: CommandContext, opts: { namespace?: string; top: number }): Promise<void> {
  const cache = await openCache(ctx);
  const { readCacheStats } = await import('../../cache/admin.js');
  const report = await readCacheStats(await ctx.redis(), cache.keys, { namespace: opts.namespace, top: opts.top });
  ctx.out.object(report, (value) => renderStats(ctx, value));
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function renderStats(ctx: CommandContext, report: CacheStatsReport): string {
  if (report.namespaces.length === 0) return 'no statistics recorded yet (they appear once an application queries through the cache)\n';
  const namespaces = ctx.out.table(report.namespaces, [
    { key: 'namespace' },
    { key: 'hitRatio', header: 'HIT RATIO', format: (value) => percent(value as number) },
    { key: 'hits' },
    { key: 'staleHits', header: 'STALE' },
    { key: 'misses' },
    { key: 'fills' },
    { key: 'fillsRejected', header: 'REJECTED' },
    { key: 'oversize' },
    { key: 'errors' },
    { key: 'bytes', header: 'STORED', format: (value) => formatBytes(value as number) },
    { key: 'savedMicros', header: 'DB TIME SAVED', format: (value) => formatDuration((value as number) / 1000) },
  ]);
  const top =
    report.top.length === 0
      ? ''
      : `\n${ctx.out.table(report.top, [
          { key: 'namespace' },
          { key: 'fingerprint' },
          { key: 'lookups' },
          { key: 'hitRatio', header: 'HIT RATIO', format: (value) => percent(value as number) },
          { key: 'misses' },
          { key: 'sql', format: (value) => String(value).replace(/\s+/g, ' ').slice(0, 80) },
        ])}`;
  return `${namespaces}${top}\nRedis used_memory (all keys): ${formatBytes(report.redisUsedMemory)}\n`;
}

// ---- keys ---------------------------------------------------------------------------------

async function keysCommand(ctx: CommandContext, opts: { namespace?: string; tag?: string; limit?: number }): Promise<void> {
  const cache = await openCache(ctx);
  const { scanEntries } = await import('../../cache/admin.js');
  const columns: Column<EntryRow>[] = [{ key: 'namespace' }, { key: 'key' }];
  const format = ctx.out.format;
  const collected: EntryRow[] = [];
  let count = 0;
  if (format === 'json') ctx.out.text('[');
  if (format === 'table') ctx.out.text(ctx.theme.heading('NAMESPACE             KEY'));
  for await (const batch of scanEntries(await ctx.redis(), cache.keys, { namespace: opts.namespace, tag: opts.tag, signal: ctx.signal })) {
    const rows = opts.limit === undefined ? batch : batch.slice(0, opts.limit - count);
    // Streamed as SCAN returns them: a big cache is never held in memory (yaml/csv excepted).
    if (format === 'json') ctx.io.stdout.write(rows.map((row, i) => `${count + i === 0 ? '\n' : ',\n'}  ${JSON.stringify(row)}`).join(''));
    else if (format === 'table') ctx.io.stdout.write(rows.map((row) => `${row.namespace.padEnd(20)}  ${row.key}\n`).join(''));
    else collected.push(...rows);
    count += rows.length;
    if (opts.limit !== undefined && count >= opts.limit) break;
  }
  if (format === 'json') ctx.out.text(count === 0 ? ']' : '\n]');
  else if (format !== 'table') ctx.out.list(collected, columns);
  ctx.out.message(`${count} entr${count === 1 ? 'y' : 'ies'}`);
}

// ---- inspect / ttl ------------------------------------------------------------------------

async function inspectCommand(ctx: CommandContext, key: string, opts: { reveal?: boolean }): Promise<void> {
  const cache = await openCache(ctx);
  const { inspectEntry } = await import('../../cache/admin.js');
  const details = await inspectEntry(await ctx.redis(), cache.keys, key, { reveal: opts.reveal, now: ctx.clock.now() });
  ctx.out.object(details, (value) => renderEntry(value));
}

function renderEntry(entry: EntryDetails): string {
  const lines = [
    `key          ${entry.key}`,
    `namespace    ${entry.namespace}`,
    `fingerprint  ${entry.fingerprint}`,
    `tags         ${entry.tags.join(', ') || '-'}`,
    `rows         ${entry.rows}`,
    `size         ${formatBytes(entry.bytes)}${entry.compressed ? ' (deflated)' : ''}, format v${entry.formatVersion}`,
    `filled       ${entry.filledAt.toISOString()} (query took ${formatDuration(entry.fillMs)})`,
    `fresh until  ${entry.freshUntil.toISOString()}${entry.stale ? ' (stale: served while refreshed)' : ''}`,
    `ttl          ${entry.ttlMs < 0 ? 'none' : formatDuration(entry.ttlMs)}`,
  ];
  if (entry.value !== undefined) lines.push('', JSON.stringify(entry.value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
  return `${lines.join('\n')}\n`;
}

async function ttlCommand(ctx: CommandContext, key: string, ttl: number): Promise<void> {
  const cache = await openCache(ctx);
  if (!(await cache.setTtl(key, ttl))) {
    throw new OpsError('CACHE_ENTRY_NOT_FOUND', `no cache entry ${key}`, { hint: 'it expired or was invalidated; list entries with `opsctl cache keys`' });
  }
  ctx.out.object({ key, ttlMs: ttl }, () => `${key} is fresh for ${formatDuration(ttl)}\n`);
}

// ---- invalidate / flush -------------------------------------------------------------------

async function invalidateCommand(ctx: CommandContext, opts: InvalidateFlags): Promise<void> {
  if (opts.tag.length + opts.table.length + opts.key.length + opts.namespace.length === 0) {
    throw new OpsError('USAGE', 'nothing to invalidate', { hint: 'pass --tag, --table, --key or --namespace' });
  }
  const cache = await openCache(ctx);
  const dryRun = opts.dryRun === true;
  const result = await cache.invalidate({ tags: opts.tag, tables: opts.table, keys: opts.key, namespaces: opts.namespace, dryRun });
  ctx.out.object({ dryRun, ...result }, (value) =>
    `${dryRun ? 'would invalidate' : 'invalidated'} ${value.entries} entr${value.entries === 1 ? 'y' : 'ies'}${value.namespaces > 0 ? ` and ${dryRun ? 'flush' : 'flushed'} ${value.namespaces} namespace(s)` : ''}\n`,
  );
}

async function flushCommand(ctx: CommandContext, opts: { namespace: string[]; dryRun?: boolean }): Promise<void> {
  const cache = await openCache(ctx);
  const namespaces = opts.namespace.length > 0 ? opts.namespace : Object.keys(cache.namespaces());
  const dryRun = opts.dryRun === true;
  // Checks the names (an unknown namespace is a usage error) before asking anything.
  await cache.invalidate({ namespaces, dryRun: true });
  if (!dryRun) {
    await ctx.confirm(`Flush cache namespace${namespaces.length === 1 ? '' : 's'} ${namespaces.join(', ')}?`, {
      impact: 'every application instance misses on these namespaces and queries PostgreSQL until the cache refills',
      onProfile: true,
    });
    await cache.invalidate({ namespaces });
  }
  ctx.out.object({ dryRun, namespaces }, () => `${dryRun ? 'would flush' : 'flushed'} ${namespaces.join(', ')}\n`);
}

// ---- warm ---------------------------------------------------------------------------------

async function warmCommand(ctx: CommandContext, opts: WarmFlags): Promise<void> {
  if (opts.file === undefined && opts.fromStats !== true && opts.fromPgStatStatements !== true) {
    throw new OpsError('USAGE', 'nothing to warm', { hint: 'pass --file <queries.yaml>, --from-stats or --from-pg-stat-statements' });
  }
  const cache = await openCache(ctx, true);
  const admin = await import('../../cache/admin.js');
  const queries: WarmQuery[] = [];
  if (opts.file !== undefined) {
    const [{ readFile }, { resolve }, { parse }] = await Promise.all([import('node:fs/promises'), import('node:path'), import('yaml')]);
    const path = resolve(ctx.cwd, opts.file);
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      throw new OpsError('CACHE_BAD_INPUT', `cannot read ${opts.file}: ${(error as Error).message}`, { hint: 'check the path given to --file' });
    });
    let document: unknown;
    try {
      document = parse(text);
    } catch (error) {
      throw new OpsError('CACHE_BAD_INPUT', `${opts.file} is not valid YAML/JSON: ${(error as Error).message}`, { hint: 'fix the file at the line given' });
    }
    queries.push(...admin.parseWarmQueries(document, opts.file));
  }
  if (opts.fromStats === true) queries.push(...(await admin.topStatements(await ctx.redis(), cache.keys, Object.keys(cache.namespaces()), opts.top)));
  if (opts.fromPgStatStatements === true) queries.push(...(await admin.pgStatStatementQueries(await ctx.pg(), opts.top)));
  const result = await admin.warmCache(cache, queries, { concurrency: opts.concurrency, progress: ctx.progress, signal: ctx.signal });
  for (const failure of result.failed) ctx.out.warning(`${failure.namespace}: ${failure.sql.replace(/\s+/g, ' ').slice(0, 80)}: ${failure.error}`);
  if (result.failed.length > 0) ctx.exitCode = 1;
  ctx.out.object(result, (value) => `${value.ok} filled, ${value.alreadyCached} already cached, ${value.failed.length} failed (of ${value.total})\n`);
}

// ---- triggers -----------------------------------------------------------------------------

async function triggersCommand(ctx: CommandContext, verb: 'install' | 'uninstall', opts: { table: string[]; dryRun?: boolean }): Promise<void> {
  const triggers = await import('../../cache/triggers.js');
  const statements = verb === 'install' ? triggers.installTriggerSql(opts.table) : triggers.uninstallTriggerSql(opts.table);
  if (opts.dryRun === true) {
    const { pendingMigrations, readMigrations } = await import('../../postgres/migrations.js');
    const migrations = verb === 'install' ? await pendingMigrations(await ctx.pg(), readMigrations()) : [];
    const sql = [...migrations.map((migration) => `-- migration ${migration.version} (${migration.name})\n${migration.sql.trim()}`), ...statements.map((line) => `${line};`)];
    ctx.out.object({ dryRun: true, sql }, (value) => `${value.sql.join('\n')}\n`);
    ctx.out.message('dry run: nothing was sent');
    return;
  }
  const pool = await ctx.pg();
  if (verb === 'install') await triggers.installTriggers(pool, opts.table);
  else await triggers.uninstallTriggers(pool, opts.table);
  const tables = await triggers.tablesWithTriggers(pool);
  ctx.out.object({ dryRun: false, watched: tables }, (value) => `${verb === 'install' ? 'installed' : 'removed'}; tables watched now: ${value.watched.join(', ') || 'none'}\n`);
}
