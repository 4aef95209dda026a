import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { DevOptions, DevServiceStatus } from '../../dev/stack.js';
import type { CommandContext } from '../context.js';
import { withExamples, type ActionFactory } from '../command-kit.js';
import type { Column } from '../ui/output.js';
import { nonNegativeInt, positiveInt } from '../option-values.js';

/** `opsctl dev up|down|status|reset`: a thin adapter over src/dev/stack.ts. */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    '\nFiles live in .opsctl/dev/ next to the configuration file (or in the current directory).\nSee docs/dev-stack.md.\n',
  );

  withExamples(
    command
      .command('up')
      .description('Start a local Redis and PostgreSQL (they keep running) and write the "dev" profile')
      .action(
        action(async (ctx) => {
          const { devUp } = await import('../../dev/stack.js');
          const result = await devUp({
            ...(await devOptions(ctx)),
            cwd: ctx.cwd,
            ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }),
          });
          printServices(ctx, result.services);
          ctx.out.message(
            result.alreadyRunning
              ? 'dev stack already running'
              : `dev stack running (started ${result.started.join(' and ')})`,
          );
          ctx.out.message(
            `profile "dev" ${result.config.created ? 'created in' : 'written to'} ${result.config.filepath}; try: opsctl doctor --profile dev`,
          );
        }),
      ),
    ['opsctl dev up', 'opsctl dev up --json    # URLs for scripts'],
  );

  withExamples(
    command
      .command('status')
      .description('Show each dev service: state, pid, port, version, data directory')
      .action(
        action(async (ctx) => {
          const { devStatus } = await import('../../dev/stack.js');
          const services = await devStatus(await devOptions(ctx));
          printServices(ctx, services);
          if (services.every((service) => service.port === null)) ctx.out.message('no dev stack here yet: `opsctl dev up` starts one');
        }),
      ),
    ['opsctl dev status', 'opsctl dev status --json'],
  );

  withExamples(
    command
      .command('down')
      .description('Stop the dev Redis and PostgreSQL (data is kept)')
      .action(
        action(async (ctx) => {
          const { devDown } = await import('../../dev/stack.js');
          for (const service of await devDown(await devOptions(ctx))) {
            ctx.out.message(
              service.result === 'stopped' ? `stopped ${service.name} (pid ${service.pid})` : `${service.name} was not running`,
            );
          }
        }),
      ),
    ['opsctl dev down'],
  );

  withExamples(
    command
      .command('reset')
      .description('Stop the dev stack and delete its data and ports (asks first; --yes in scripts)')
      .option('--dry-run', 'print what would be stopped and deleted, change nothing')
      .action(
        action(async (ctx, options: { dryRun?: boolean }) => {
          const { devReset, devResetPlan } = await import('../../dev/stack.js');
          const devOpts = await devOptions(ctx);
          const plan = await devResetPlan(devOpts);
          const steps = [
            ...plan.stop.map((name) => ({ action: 'stop', target: name })),
            ...plan.delete.map((path) => ({ action: 'delete', target: path })),
          ];
          if (options.dryRun === true) {
            ctx.out.list(steps, [{ key: 'action' }, { key: 'target' }]);
            ctx.out.message(steps.length === 0 ? 'nothing to reset' : 'dry run: nothing was changed');
            return;
          }
          if (steps.length === 0) {
            ctx.out.message('no dev stack here: nothing to reset');
            return;
          }
          await ctx.confirm(`Stop the dev stack and delete ${plan.delete.join(', ')}?`);
          await devReset(devOpts);
          ctx.out.message('dev stack reset; `opsctl dev up` starts a fresh one');
        }),
      ),
    ['opsctl dev reset --dry-run', 'opsctl dev reset --yes && opsctl dev up'],
  );
  withExamples(
    command
      .command('seed')
      .description('Fill the profile\'s PostgreSQL with deterministic mock data (schema "app", with personal data) and its Redis with sessions, rate limit counters and cache entries for those users')
      .option('--users <n>', 'number of users to generate', positiveInt, 100)
      .option('--sessions <n>', 'sessions to create through the session store (Redis)', nonNegativeInt, 50)
      .option('--rate-limit-keys <n>', 'users whose counters are partly used under every configured policy (Redis)', nonNegativeInt, 20)
      .option('--cache-queries <n>', 'users whose recent-orders query is cached (Redis)', nonNegativeInt, 20)
      .option('--seed <n>', 'random seed: the same seed gives the same rows', positiveInt, 1)
      .action(action(async (ctx, options: SeedFlags) => seedCommand(ctx, options))),
    ['opsctl dev seed', 'opsctl dev seed --users 10000 --sessions 2000 --seed 42 --yes', 'opsctl dev seed --sessions 0 --rate-limit-keys 0 --cache-queries 0    # PostgreSQL only'],
  );
}

interface SeedFlags {
  users: number;
  sessions: number;
  rateLimitKeys: number;
  cacheQueries: number;
  seed: number;
}

async function seedCommand(ctx: CommandContext, options: SeedFlags): Promise<void> {
  const [{ existingSeedRows, seedDevData }, selected] = await Promise.all([import('../../dev/seed.js'), ctx.profile()]);
  const pool = await ctx.pg();
  const existing = await existingSeedRows(pool);
  if (existing > 0) {
    await ctx.confirm('Replace the existing mock data?', { impact: `replaces ${existing.toLocaleString('en-US')} rows in schema "app" and the seeded users' sessions and counters`, onProfile: true });
  }
  const rows = await seedDevData(pool, { users: options.users, seed: options.seed, progress: ctx.progress, signal: ctx.signal });
  const profile = selected.profile;
  if (profile.redis === undefined) {
    ctx.out.object(rows, (r) => `seeded schema "${r.schema}" with seed ${r.seed}: ${r.rows.users} users, ${r.rows.orders} orders, ${r.rows.support_tickets} support tickets (no redis section: no sessions, counters or cache entries)`);
    return;
  }
  const [{ seedRedisData }, { sessionStoreOptions }, { queryCacheOptions }, redis] = await Promise.all([
    import('../../dev/seed-redis.js'),
    import('../../session/config.js'),
    import('../../cache/config.js'),
    ctx.redis(),
  ]);
  const keyBase = `profiles.${selected.name}`;
  const redisRows = await seedRedisData({
    redis,
    pool,
    seed: options.seed,
    users: options.users,
    sessions: options.sessions,
    rateLimitKeys: options.rateLimitKeys,
    cacheQueries: options.cacheQueries,
    session: await sessionStoreOptions(profile.session, `${keyBase}.session`),
    ratelimit: profile.ratelimit,
    cache: queryCacheOptions(profile.cache),
    progress: ctx.progress,
    signal: ctx.signal,
  });
  ctx.out.object(
    { ...rows, redis: redisRows },
    (r) =>
      `seeded schema "${r.schema}" with seed ${r.seed}: ${r.rows.users} users, ${r.rows.orders} orders, ${r.rows.support_tickets} support tickets\n` +
      `seeded Redis: ${r.redis.sessions} sessions of ${r.redis.sessionUsers} users, ${r.redis.rateLimitCounters} rate limit counters${profile.ratelimit === undefined ? ' (no ratelimit.policies in the profile)' : ''}, ${r.redis.cacheEntries} cache entries`,
  );
}

/**
 * The project root: the configuration file's directory, else the working directory. Only the
 * file's location matters here, so it is found without being validated.
 */
async function projectRoot(ctx: CommandContext): Promise<string> {
  if (ctx.globals.config !== undefined) return dirname(resolve(ctx.cwd, ctx.globals.config));
  const { findConfigSource } = await import('../../config/loader.js');
  const source = await findConfigSource({ cwd: ctx.cwd, env: ctx.env, tracer: ctx.tracer });
  return source === undefined ? ctx.cwd : dirname(source.filepath);
}

async function devOptions(ctx: CommandContext): Promise<DevOptions> {
  return {
    root: await projectRoot(ctx),
    env: ctx.env,
    tracer: ctx.tracer,
    signal: ctx.signal,
    // Progress only for people watching a terminal; --quiet silences it.
    ...(ctx.io.stderrIsTTY ? { onProgress: (message: string) => ctx.out.message(ctx.theme.dim(`${message}…`)) } : {}),
  };
}

function printServices(ctx: CommandContext, services: readonly DevServiceStatus[]): void {
  const orDash = (value: unknown): string => (value === null ? '-' : String(value));
  const columns: Column<DevServiceStatus>[] = [
    { key: 'name' },
    { key: 'state', format: (value) => ctx.theme.status(String(value)) },
    { key: 'pid', format: orDash },
    { key: 'port', format: orDash },
    { key: 'version', format: orDash },
    { key: 'url', header: 'URL', format: orDash },
    { key: 'dataDir', header: 'DATA DIR', format: orDash },
  ];
  ctx.out.list(services, columns);
}
