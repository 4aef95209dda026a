import { InvalidArgumentError, type Command } from 'commander';
import { OpsError } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { formatDuration, parseDuration } from '../../core/parse.js';
import type { RateLimitConfig } from '../../config/schema.js';
import type { RateLimitDecision } from '../../ratelimit/types.js';
import type { RedisClient } from '../../redis/connection.js';
import type { CommandContext } from '../context.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import { positiveDuration, positiveInt } from '../option-values.js';

/**
 * `opsctl ratelimit …`: thin adapters over src/ratelimit. The commands build the same limiter
 * (same policies, same scripts, same keys) as the application servers, from the profile's
 * `ratelimit` section.
 */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    `
<policy> may name several policies separated by commas ("second,day"): all must allow.
Exit codes: 0 ok (consume: allowed), 1 consume refused or failed, 2 usage/config, 4 Redis unreachable.
See docs/ratelimit.md.`,
  );

  withExamples(
    command.command('policies').description("The profile's rate limit policies: algorithm, rate, burst, fail mode, overrides")
      .action(action(async (ctx) => policiesCommand(ctx))),
    ['opsctl ratelimit policies', 'opsctl ratelimit policies --json'],
  );

  withExamples(
    withExplain(command.command('status').description("A key's remaining quota, reset and retry times, without consuming anything")
      .argument('<policy>', 'policy name (or several, comma-separated)')
      .argument('<key>', 'the client key (user id, API key, IP)')
      .option('--cost <n>', 'evaluate this cost', positiveInt, 1)
      .action(action(async (ctx, policy: string, key: string, opts: { cost: number }) => decideCommand(ctx, 'status', policy, key, opts))),
      explainDecision('peek')),
    ['opsctl ratelimit status api user:42', 'opsctl ratelimit status second,day user:42 --json'],
  );

  withExamples(
    withExplain(command.command('consume').description('Take units from a key as the application would; exit 1 when refused')
      .argument('<policy>', 'policy name (or several, comma-separated)')
      .argument('<key>', 'the client key')
      .option('--cost <n>', 'units to take', positiveInt, 1)
      .option('--request-id <id>', 'idempotency id: re-sending it consumes nothing more')
      .action(action(async (ctx, policy: string, key: string, opts: { cost: number; requestId?: string }) => decideCommand(ctx, 'consume', policy, key, opts))),
      explainDecision('consume')),
    ['opsctl ratelimit consume api user:42', 'opsctl ratelimit consume api user:42 --cost 5 --json'],
  );

  withExamples(
    command.command('reset').description("Delete a key's counters (or every key matching --pattern): its quota is full again")
      .argument('<policy>', "policy name, or '*' for every policy")
      .argument('[key]', 'the client key (or use --pattern)')
      .option('--pattern <glob>', 'every client key matching this glob (SCAN, never KEYS)')
      .option('--dry-run', 'list what would be deleted and delete nothing')
      .action(action(async (ctx, policy: string, key: string | undefined, opts: { pattern?: string; dryRun?: boolean }) => resetCommand(ctx, policy, key, opts))),
    ['opsctl ratelimit reset api user:42 --yes', "opsctl ratelimit reset api --pattern 'tenant:7:*' --dry-run", "opsctl ratelimit reset '*' user:42 --yes"],
  );

  withExamples(
    command.command('top').description('The keys refused most in the last two minutes (bounded samples written on refusal)')
      .option('--policy <name>', 'only this policy')
      .option('-n, --n <n>', 'how many keys', positiveInt, 10)
      .action(action(async (ctx, opts: { policy?: string; n: number }) => topCommand(ctx, opts))),
    ['opsctl ratelimit top', 'opsctl ratelimit top --policy api -n 20 --json'],
  );

  withExamples(
    command.command('simulate').description('What a client at a given rate sees: the real scripts on a scratch key, simulated time')
      .argument('<policy>', 'policy name (or several, comma-separated)')
      .requiredOption('--rate <rate>', 'the client\'s request rate, e.g. "50/s" or "600/1m"', rateArg)
      .option('--duration <duration>', 'how long the client sends', positiveDuration, 30_000)
      .option('--cost <n>', 'units per request', positiveInt, 1)
      .option('--key <key>', 'simulate this key (its overrides apply)')
      .action(action(async (ctx, policy: string, opts: SimulateFlags) => simulateCommand(ctx, policy, opts))),
    ['opsctl ratelimit simulate api --rate 50/s --duration 30s', 'opsctl ratelimit simulate second,day --rate 5/s --duration 2m --json'],
  );

  const ring = command.command('ring').description('The consistent-hash ring of `ratelimit.ring` (several independent primaries)');
  withExamples(
    ring.command('status').description('Each node: reachability, share of the hash space, counters held; exit 4 if one is unreachable')
      .action(action(async (ctx) => ringStatusCommand(ctx))),
    ['opsctl ratelimit ring status', 'opsctl ratelimit ring status --json'],
  );
  withExamples(
    ring.command('plan').description('What adding or removing a node would move (share of the hash space and counters), changing nothing')
      .option('--add <name=url>', 'a node to add, e.g. c=redis://10.0.0.3:6379')
      .option('--remove <name>', 'a node to remove')
      .action(action(async (ctx, opts: RingChangeFlags) => ringMoveCommand(ctx, opts, true))),
    ['opsctl ratelimit ring plan --add c=redis://10.0.0.3:6379', 'opsctl ratelimit ring plan --remove b --json'],
  );
  withExamples(
    ring.command('rebalance').description('Move the counters of moved keys to their new owner (TTL kept); then put the new nodes in the profile')
      .option('--add <name=url>', 'a node to add')
      .option('--remove <name>', 'a node to remove')
      .option('--dry-run', 'count what would move and move nothing')
      .action(action(async (ctx, opts: RingChangeFlags & { dryRun?: boolean }) => ringMoveCommand(ctx, opts, opts.dryRun === true))),
    ['opsctl ratelimit ring rebalance --add c=redis://10.0.0.3:6379 --yes', 'opsctl ratelimit ring rebalance --remove b --dry-run'],
  );

  withExamples(
    command.command('migrate').description('Copy live counters (with their TTLs) to the profile\'s Redis or --to: from a snapshot, another Redis, or rate-limiter-flexible')
      .requiredOption('--from <source>', 'a memory snapshot (.json), a profile name, or a redis:// URL')
      .option('--to <target>', "a profile name or redis:// URL (default: this profile's Redis)")
      .option('--rlf-prefix <prefix>', "read rate-limiter-flexible keys '<prefix>:<key>' from --from instead of opsctl counters")
      .option('--policy <name>', 'with --rlf-prefix: the policy the imported counts belong to')
      .option('--checkpoint <file>', 'record progress here and resume from it when it exists')
      .option('--dry-run', 'count what would be copied and write nothing')
      .action(action(async (ctx, opts: MigrateFlags) => migrateCommand(ctx, opts))),
    [
      'opsctl ratelimit migrate --from snapshot.json --dry-run',
      'opsctl --profile new ratelimit migrate --from old --checkpoint migrate.json --yes',
      'opsctl ratelimit migrate --from redis://10.0.0.5:6379 --rlf-prefix rlflx --policy api',
    ],
  );
}

// ---- option parsing -----------------------------------------------------------------------

function rateArg(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\S+)\s*$/.exec(value);
  const periodMs = match === null ? undefined : parseDuration(/^[a-z]+$/.test(match[2]!) ? `1${match[2]}` : match[2]!);
  if (match === null || periodMs === undefined || periodMs <= 0 || Number(match[1]) <= 0) {
    throw new InvalidArgumentError('expected a rate such as "50/s" or "600/1m"');
  }
  return (Number(match[1]) * 1000) / periodMs;
}

function policyList(policy: string): string[] {
  return policy.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

// ---- shared -------------------------------------------------------------------------------

async function rateLimitConfig(ctx: CommandContext): Promise<RateLimitConfig> {
  const selected = await ctx.profile();
  const config = selected.profile.ratelimit;
  if (config === undefined || Object.keys(config.policies).length === 0) {
    throw new OpsError('CONFIG_INVALID', `profile "${selected.name}" has no rate limit policies`, {
      hint: `add profiles.${selected.name}.ratelimit.policies to ${selected.filepath} (docs/ratelimit.md)`,
    });
  }
  return config;
}

async function openLimiter(ctx: CommandContext) {
  const config = await rateLimitConfig(ctx);
  // An operator's command goes to Redis every time: no local refusal cache, no refusal samples.
  const common = { policies: config.policies, keyPrefix: config.keyPrefix, refusalCacheSize: 0, recordRefusals: false };
  if (config.ring !== undefined) {
    const { createShardedRateLimiter } = await import('../../ratelimit/sharded.js');
    const shards = await ringClients(ctx, config.ring.nodes);
    return { config, limiter: createShardedRateLimiter({ ...common, shards, virtualNodes: config.ring.virtualNodes }) };
  }
  const [{ createRateLimiter }, redis] = await Promise.all([import('../../ratelimit/limiter.js'), ctx.redis()]);
  return { config, redis, limiter: createRateLimiter({ ...common, redis }) };
}

async function ringClients(ctx: CommandContext, nodes: Record<string, string>) {
  const entries = await Promise.all(Object.entries(nodes).map(async ([name, url]) => [name, await redisEndpoint(ctx, url, `ratelimit.ring.nodes.${name}`)] as const));
  return Object.fromEntries(entries);
}

async function ringConfig(ctx: CommandContext) {
  const config = await rateLimitConfig(ctx);
  if (config.ring === undefined) {
    throw new OpsError('CONFIG_INVALID', 'this profile has no `ratelimit.ring`', { hint: 'Add ratelimit.ring.nodes: { a: "redis://…", b: "redis://…" } (docs/ratelimit.md).' });
  }
  return { config, ring: config.ring };
}

/** Counters on one node (SCAN of the prefix). */
async function countCounters(client: RedisClient, keyPrefix: string): Promise<number> {
  const { parseCounterKey } = await import('../../ratelimit/keys.js');
  let count = 0;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `{${keyPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    count += keys.filter((key) => parseCounterKey(keyPrefix, key) !== undefined).length;
  } while (cursor !== '0');
  return count;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

async function ringStatusCommand(ctx: CommandContext): Promise<void> {
  const { config, ring } = await ringConfig(ctx);
  const { createHashRing, ringShares } = await import('../../ratelimit/ring.js');
  const shares = ringShares(createHashRing(Object.keys(ring.nodes), { virtualNodes: ring.virtualNodes }));
  const rows = await Promise.all(
    Object.entries(ring.nodes).map(async ([name, url]) => {
      // One unreachable node is reported in its row, not as the command's failure.
      const counters = await redisEndpoint(ctx, url, `ratelimit.ring.nodes.${name}`)
        .then((client) => countCounters(client, config.keyPrefix))
        .catch((error: unknown) => (error as Error).message);
      const reachable = typeof counters === 'number';
      return { node: name, url, reachable, share: Number(shares[name]!.toFixed(4)), counters: reachable ? counters : null, error: reachable ? undefined : counters };
    }),
  );
  const shown: Record<string, unknown>[] = ctx.out.machineReadable ? rows : rows.map((row) => ({ ...row, share: percent(row.share), counters: row.counters ?? '-', error: row.error ?? '' }));
  ctx.out.list(shown, [
    { key: 'node' },
    { key: 'url' },
    { key: 'reachable' },
    { key: 'share' },
    { key: 'counters' },
    { key: 'error' },
  ]);
  if (rows.some((row) => !row.reachable)) ctx.exitCode = ExitCode.Unreachable;
}

interface RingChangeFlags {
  add?: string;
  remove?: string;
}

async function ringMoveCommand(ctx: CommandContext, opts: RingChangeFlags, dryRun: boolean): Promise<void> {
  const { config, ring } = await ringConfig(ctx);
  if ((opts.add === undefined) === (opts.remove === undefined)) {
    throw new OpsError('USAGE', 'give either --add <name=url> or --remove <name>', { hint: 'e.g. `--add c=redis://10.0.0.3:6379` or `--remove b`.' });
  }
  const nextNodes = { ...ring.nodes };
  if (opts.add !== undefined) {
    const match = /^([A-Za-z0-9_.-]+)=(rediss?:\/\/\S+)$/.exec(opts.add);
    if (match === null) throw new OpsError('USAGE', `--add ${opts.add}: expected <name>=<redis url>`, { hint: 'e.g. `--add c=redis://10.0.0.3:6379`.' });
    if (match[1]! in nextNodes) throw new OpsError('USAGE', `--add: the ring already has a node "${match[1]}"`, { hint: `Nodes: ${Object.keys(nextNodes).join(', ')}.` });
    nextNodes[match[1]!] = match[2]!;
  } else {
    if (!(opts.remove! in nextNodes)) throw new OpsError('USAGE', `--remove: the ring has no node "${opts.remove}"`, { hint: `Nodes: ${Object.keys(nextNodes).join(', ')}.` });
    if (Object.keys(nextNodes).length === 1) throw new OpsError('USAGE', 'cannot remove the last node of the ring', { hint: 'Migrate the counters elsewhere with `ratelimit migrate`.' });
    delete nextNodes[opts.remove!];
  }
  const [{ createHashRing, ringMoves }, { moveRingCounters }] = await Promise.all([import('../../ratelimit/ring.js'), import('../../ratelimit/sharded.js')]);
  const before = createHashRing(Object.keys(ring.nodes), { virtualNodes: ring.virtualNodes });
  const nextRing = createHashRing(Object.keys(nextNodes), { virtualNodes: ring.virtualNodes });
  const moves = ringMoves(before, nextRing);
  const clients = await ringClients(ctx, { ...ring.nodes, ...nextNodes });
  const shards = Object.fromEntries(Object.keys(ring.nodes).map((name) => [name, clients[name]!]));
  const next = Object.fromEntries(Object.keys(nextNodes).map((name) => [name, clients[name]!]));
  if (!dryRun) {
    await ctx.confirm(`Move the rate limit counters of ${percent(moves.reduce((sum, move) => sum + move.share, 0))} of the hash space?`, {
      impact: 'moved counters are deleted from their old node; routers still on the old ring miss them until redeployed',
      onProfile: true,
    });
  }
  const task = ctx.progress.start(dryRun ? 'counting counters that would move' : 'moving counters');
  const result = await moveRingCounters({ keyPrefix: config.keyPrefix, shards, next, nextRing, dryRun, onProgress: (progress) => task.update(progress.moved) });
  task.finish();
  const movedShare = moves.reduce((sum, move) => sum + move.share, 0);
  const value = { dryRun, nodes: nextNodes, movedShare: Number(movedShare.toFixed(4)), moves: moves.map((move) => ({ ...move, share: Number(move.share.toFixed(4)) })), counters: result };
  ctx.out.object(value, (v) =>
    [
      `${v.dryRun ? 'would move' : 'moved'} ${percent(v.movedShare)} of the hash space: ${v.counters.moved} of ${v.counters.scanned} counter(s)`,
      ...v.moves.map((move) => `  ${move.from} -> ${move.to}  ${percent(move.share)}`),
      ...(v.dryRun ? [] : [`now set ratelimit.ring.nodes to ${JSON.stringify(v.nodes)} in the profile`]),
    ].join('\n') + '\n',
  );
}

function describeDecision(decision: RateLimitDecision): string {
  const lines = [
    `${decision.allowed ? 'allowed' : 'refused'}  ${decision.remaining}/${decision.limit} left under ${decision.policy}` +
      (decision.allowed ? '' : decision.retryAfterMs < 0 ? ', never (cost above the limit)' : `, retry in ${formatDuration(decision.retryAfterMs)}`),
  ];
  for (const part of decision.policies) {
    lines.push(`  ${part.policy} (${part.algorithm}): ${part.allowed ? 'allows' : 'refuses'}, ${part.remaining}/${part.limit} left, full again in ${formatDuration(part.resetMs)}`);
  }
  if (decision.source !== 'redis') lines.push(`  decided by: ${decision.source}`);
  return `${lines.join('\n')}\n`;
}

/** `--explain` for status/consume: the EVALSHA the limiter would send. */
function explainDecision(mode: 'consume' | 'peek') {
  return async (ctx: CommandContext, policy: string, key: string, opts: { cost: number; requestId?: string }) => {
    const [redis, config, { decisionSteps }] = await Promise.all([ctx.redisSection(), rateLimitConfig(ctx), import('../../ratelimit/explain.js')]);
    return decisionSteps(redis.config, redis.configKey, config, policyList(policy), key, {
      mode,
      cost: opts.cost,
      ...(opts.requestId === undefined ? {} : { requestId: opts.requestId }),
    });
  };
}

// ---- verbs --------------------------------------------------------------------------------

async function policiesCommand(ctx: CommandContext): Promise<void> {
  const config = await rateLimitConfig(ctx);
  const { policyRows } = await import('../../ratelimit/admin.js');
  ctx.out.list(policyRows(config.policies), [
    { key: 'name' },
    { key: 'algorithm' },
    { key: 'rate' },
    { key: 'burst' },
    { key: 'failMode', header: 'FAIL MODE' },
    { key: 'overrides' },
  ]);
}

async function decideCommand(ctx: CommandContext, verb: 'status' | 'consume', policy: string, key: string, opts: { cost: number; requestId?: string }): Promise<void> {
  const { limiter } = await openLimiter(ctx);
  const names = policyList(policy);
  const decision =
    verb === 'status'
      ? await limiter.status(names, key, { cost: opts.cost })
      : await limiter.consume(names, key, { cost: opts.cost, ...(opts.requestId === undefined ? {} : { requestId: opts.requestId }) });
  ctx.out.object(decision, describeDecision);
  if (verb === 'consume' && !decision.allowed) ctx.exitCode = 1;
}

async function resetCommand(ctx: CommandContext, policy: string, key: string | undefined, opts: { pattern?: string; dryRun?: boolean }): Promise<void> {
  if ((key === undefined) === (opts.pattern === undefined)) {
    throw new OpsError('USAGE', 'give either a key or --pattern', { hint: "e.g. `opsctl ratelimit reset api user:42` or `--pattern 'user:*'`" });
  }
  const config = await rateLimitConfig(ctx);
  // On a ring the key may sit on any node (its owner, or an old owner before a rebalance): look on all.
  const clients = config.ring === undefined ? [await ctx.redis()] : Object.values(await ringClients(ctx, config.ring.nodes));
  const admin = await import('../../ratelimit/admin.js');
  const names = policy === '*' ? undefined : policyList(policy);
  for (const name of names ?? []) {
    if (!(name in config.policies)) {
      throw new OpsError('RATELIMIT_UNKNOWN_POLICY', `no rate limit policy "${name}"`, { hint: `Configured policies: ${Object.keys(config.policies).join(', ')}.` });
    }
  }
  // A key is matched literally: glob characters in it are escaped.
  const pattern = opts.pattern ?? key!.replace(/[*?[\]\\]/g, '\\$&');
  const perClient = await Promise.all(
    clients.map(async (client) => (await admin.findCounters(client, config.keyPrefix, pattern)).filter((row) => names === undefined || names.includes(row.policy))),
  );
  const found = perClient.flat();
  const dryRun = opts.dryRun === true;
  if (!dryRun && found.length > 0) {
    await ctx.confirm(`Reset ${found.length} rate limit counter${found.length === 1 ? '' : 's'}?`, {
      impact: 'those keys get their full quota back at once',
      onProfile: true,
    });
  }
  let deleted = 0;
  if (!dryRun) for (const [i, client] of clients.entries()) deleted += await admin.deleteCounters(client, perClient[i]!.map((row) => row.redisKey));
  const result = { dryRun, matched: found.length, deleted, counters: found.map(({ key: k, policy: p }) => ({ key: k, policy: p })) };
  ctx.out.object(result, (value) =>
    [`${dryRun ? 'would reset' : 'reset'} ${value.dryRun ? value.matched : value.deleted} counter(s)`, ...value.counters.map((c) => `  ${c.policy}  ${c.key}`)].join('\n') + '\n',
  );
}

async function topCommand(ctx: CommandContext, opts: { policy?: string; n: number }): Promise<void> {
  const config = await rateLimitConfig(ctx);
  if (opts.policy !== undefined && !(opts.policy in config.policies)) {
    throw new OpsError('RATELIMIT_UNKNOWN_POLICY', `no rate limit policy "${opts.policy}"`, { hint: `Configured policies: ${Object.keys(config.policies).join(', ')}.` });
  }
  const [{ topRefused }, redis] = await Promise.all([import('../../ratelimit/admin.js'), ctx.redis()]);
  const policies = opts.policy === undefined ? Object.keys(config.policies) : [opts.policy];
  const rows = await topRefused(redis, config.keyPrefix, policies, opts.n, ctx.clock.now());
  if (rows.length === 0 && !ctx.out.machineReadable) ctx.out.message('no refusals recorded in the last two minutes');
  ctx.out.list(rows, [{ key: 'policy' }, { key: 'key' }, { key: 'refusals' }]);
}

interface SimulateFlags {
  rate: number;
  duration: number;
  cost: number;
  key?: string;
}

async function simulateCommand(ctx: CommandContext, policy: string, opts: SimulateFlags): Promise<void> {
  const config = await rateLimitConfig(ctx);
  const [{ simulate }, { randomUUID }, redis] = await Promise.all([import('../../ratelimit/admin.js'), import('node:crypto'), ctx.redis()]);
  const result = await simulate(redis, {
    policies: policyList(policy),
    config: config.policies,
    key: opts.key,
    ratePerSecond: opts.rate,
    durationMs: opts.duration,
    cost: opts.cost,
    scratchPrefix: `${config.keyPrefix}:simulate:${randomUUID()}`,
  });
  ctx.out.object(result, (value) => {
    const lines = [
      `${value.requests} requests: ${value.allowed} allowed, ${value.refused} refused` +
        (value.firstRefusalMs === null ? '' : `; first refusal after ${formatDuration(value.firstRefusalMs)}`),
      'SECOND  ALLOWED  REFUSED',
      ...value.timeline.map((s) => `${String(s.second).padStart(6)}  ${String(s.allowed).padStart(7)}  ${String(s.refused).padStart(7)}`),
    ];
    return `${lines.join('\n')}\n`;
  });
}

interface MigrateFlags {
  from: string;
  to?: string;
  rlfPrefix?: string;
  policy?: string;
  checkpoint?: string;
  dryRun?: boolean;
}

/** A profile name or a redis:// URL → a connected client, closed with the command. */
async function redisEndpoint(ctx: CommandContext, spec: string, flag: string) {
  const [{ redisSchema }, { createRedisManager }] = await Promise.all([import('../../config/schema.js'), import('../../redis/pool.js')]);
  let config;
  let configKey = flag;
  if (/^rediss?:\/\//.test(spec)) {
    config = redisSchema.parse({ url: spec });
  } else {
    const loaded = await ctx.config();
    config = loaded.config.profiles[spec]?.redis;
    configKey = `profiles.${spec}.redis`;
    if (config === undefined) {
      throw new OpsError('CONFIG_PROFILE_UNKNOWN', `${flag} ${spec}: no profile with a redis section of that name`, {
        hint: `Use a profile of ${loaded.filepath} (${Object.keys(loaded.config.profiles).join(', ')}) or a redis:// URL.`,
      });
    }
  }
  const manager = createRedisManager(config, { configKey, tracer: ctx.tracer });
  ctx.onClose(() => manager.close());
  return manager.shared();
}

/** The rate limit section of a profile named by --from/--to, when it spreads counters over a ring. */
async function profileRing(ctx: CommandContext, spec: string) {
  if (/^rediss?:\/\//.test(spec) || spec.endsWith('.json')) return undefined;
  return (await ctx.config()).config.profiles[spec]?.ratelimit?.ring;
}

/** --from: a ring profile reads every node of its ring; otherwise one Redis (or Cluster). */
async function counterSource(ctx: CommandContext, spec: string) {
  const ring = await profileRing(ctx, spec);
  return ring === undefined ? redisEndpoint(ctx, spec, '--from') : Object.values(await ringClients(ctx, ring.nodes));
}

/** --to (default: this profile): a ring profile gets each counter on the node owning its key. */
async function counterTarget(ctx: CommandContext, spec: string | undefined, config: RateLimitConfig) {
  const ring = spec === undefined ? config.ring : await profileRing(ctx, spec);
  if (ring === undefined) return spec === undefined ? ctx.redis() : redisEndpoint(ctx, spec, '--to');
  const [{ createHashRing }, { ringRoute }, shards] = await Promise.all([import('../../ratelimit/ring.js'), import('../../ratelimit/sharded.js'), ringClients(ctx, ring.nodes)]);
  const route = ringRoute(config.keyPrefix, createHashRing(Object.keys(ring.nodes), { virtualNodes: ring.virtualNodes }), shards);
  return { route, clock: Object.values(shards)[0]! };
}

async function migrateCommand(ctx: CommandContext, opts: MigrateFlags): Promise<void> {
  const config = await rateLimitConfig(ctx);
  const [{ migrateCounters }, { resolvePolicy }, fs] = await Promise.all([
    import('../../ratelimit/migrate.js'),
    import('../../ratelimit/policy.js'),
    import('node:fs/promises'),
  ]);
  const { resolve } = await import('node:path');
  if ((opts.rlfPrefix === undefined) !== (opts.policy === undefined)) {
    throw new OpsError('USAGE', '--rlf-prefix and --policy go together', { hint: 'Name the policy the imported rate-limiter-flexible counts belong to.' });
  }
  let from: Parameters<typeof migrateCounters>[0]['from'];
  if (opts.from.endsWith('.json')) {
    const text = await fs.readFile(resolve(ctx.cwd, opts.from), 'utf8').catch((error: unknown) => {
      throw new OpsError('RATELIMIT_BAD_INPUT', `cannot read ${opts.from}: ${(error as Error).message}`, { hint: 'Check the path given to --from.' });
    });
    let snapshot;
    try {
      snapshot = JSON.parse(text);
    } catch (error) {
      throw new OpsError('RATELIMIT_BAD_INPUT', `${opts.from} is not JSON: ${(error as Error).message}`, { hint: 'Write the file with createMemoryRateLimiter(…).snapshot().' });
    }
    from = { kind: 'snapshot', snapshot, keyPrefix: config.keyPrefix };
  } else if (opts.rlfPrefix !== undefined) {
    const input = config.policies[opts.policy!];
    if (input === undefined) throw new OpsError('RATELIMIT_UNKNOWN_POLICY', `no rate limit policy "${opts.policy}"`, { hint: `Configured policies: ${Object.keys(config.policies).join(', ')}.` });
    from = { kind: 'rate-limiter-flexible', client: await counterSource(ctx, opts.from), prefix: opts.rlfPrefix, policy: resolvePolicy(opts.policy!, input), keyPrefix: config.keyPrefix };
  } else {
    from = { kind: 'redis', client: await counterSource(ctx, opts.from), keyPrefix: config.keyPrefix };
  }
  const to = await counterTarget(ctx, opts.to, config);
  const dryRun = opts.dryRun === true;
  const checkpointFile = opts.checkpoint === undefined ? undefined : resolve(ctx.cwd, opts.checkpoint);
  const resumeFrom = checkpointFile === undefined ? undefined : await fs.readFile(checkpointFile, 'utf8').then((text) => JSON.parse(text), () => undefined);
  if (!dryRun) {
    await ctx.confirm(`Copy rate limit counters from ${opts.from} to ${opts.to ?? 'this profile'}?`, { impact: 'existing counters of the same keys on the target are replaced', onProfile: true });
  }
  const task = ctx.progress.start(dryRun ? 'counting counters' : 'copying counters');
  const result = await migrateCounters({
    from,
    to,
    dryRun,
    resumeFrom,
    signal: ctx.signal,
    onBatch: async (checkpoint, progress) => {
      task.update(progress.copied);
      if (checkpointFile !== undefined && !dryRun) await fs.writeFile(checkpointFile, JSON.stringify(checkpoint));
    },
  });
  task.finish();
  ctx.out.object({ dryRun, resumed: resumeFrom !== undefined, ...result }, (value) =>
    `${dryRun ? 'would copy' : 'copied'} ${value.copied} counter(s) of ${value.scanned} key(s) scanned${value.skipped > 0 ? `, ${value.skipped} skipped (expired or not counters)` : ''}${value.resumed ? ' (resumed)' : ''}\n`,
  );
}
