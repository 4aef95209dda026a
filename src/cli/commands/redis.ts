import type { Command } from 'commander';
import { ExitCode } from '../../core/exit-codes.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { ClusterCheckResult } from '../../redis/cluster-check.js';
import type { HealthReport } from '../../redis/health.js';
import { formatSlotRanges, countSlots } from '../../redis/info.js';
import type { KeyRow, LatencyStats } from '../../redis/inspect.js';
import type { RedisNodes, Topology, TopologyNode } from '../../redis/topology.js';
import type { CommandContext } from '../context.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import type { ExplainStep } from '../../core/explain.js';
import type { RedisConfig } from '../../config/schema.js';
import type { redisVerbSteps } from '../../redis/explain.js';
import type { Column } from '../ui/output.js';
import type { Theme } from '../ui/theme.js';
import { duration, nonNegativeInt, positiveInt } from '../option-values.js';

/**
 * `opsctl redis …`: thin adapters over src/redis (topology, health, inspect, cluster-check,
 * failover). Every verb works on the whole deployment the profile points at: a standalone
 * server, a Sentinel-managed primary with its replicas and Sentinels, or every Cluster node.
 */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    `
Works on every node of the profile's deployment (standalone, Sentinel or Cluster).
Exit codes: 0 ok, 2 usage, 3 health/cluster check found problems, 4 a node could not be reached.
See docs/redis.md.`,
  );

  withExamples(
    withExplain(command.command('ping').description('Round trip to every node: primaries, replicas, Sentinels, cluster nodes')
      .action(action(async (ctx) => pingCommand(ctx))), explainWith((e, c, k) => e.ping(c, k))),
    ['opsctl redis ping', 'opsctl --profile prod redis ping --json'],
  );

  withExamples(
    withExplain(command.command('info').description('INFO of every node, parsed (one section or all)')
      .argument('[section]', 'INFO section: server, clients, memory, persistence, stats, replication, cpu, keyspace, …')
      .action(action(async (ctx, section: string | undefined) => infoCommand(ctx, section))), explainWith((e, c, k, section?: string) => e.info(c, k, section))),
    ['opsctl redis info memory', 'opsctl redis info replication --json'],
  );

  withExamples(
    withExplain(command.command('health').description('Every health check, pass/warn/fail per node, with a remedy; exit 3 on a failure')
      .option('--watch', 'refresh until interrupted (in place on a terminal)')
      .option('--interval <duration>', 'time between refreshes with --watch', duration, 2000)
      .action(action(async (ctx, opts: { watch?: boolean; interval: number }) => healthCommand(ctx, opts))), explainWith((e, c, k) => e.health(c, k))),
    ['opsctl redis health', 'opsctl redis health --watch --interval 5s', 'opsctl redis health --json | jq .status'],
  );

  withExamples(
    withExplain(command.command('latency').description('PING round trips: min/p50/p99/max and a histogram (like redis-cli --latency-dist)')
      .option('--samples <n>', 'PINGs per node', positiveInt, 1000)
      .option('--interval <duration>', 'pause between PINGs (redis-cli --latency uses 10ms)', duration, 0)
      .action(action(async (ctx, opts: { samples: number; interval: number }) => latencyCommand(ctx, opts))),
      explainWith((e, c, k, opts: { samples: number; interval: number }) => e.latency(c, k, opts.samples, opts.interval))),
    ['opsctl redis latency', 'opsctl redis latency --samples 200 --interval 10ms --json'],
  );

  withExamples(
    withExplain(command.command('topology').description('The tree of primaries, replicas, Sentinels, cluster nodes and slot ranges')
      .action(action(async (ctx) => topologyCommand(ctx))), explainWith((e, c, k) => e.topology(c, k))),
    ['opsctl redis topology', 'opsctl redis topology --json'],
  );

  withExamples(
    withExplain(command.command('keys').description('List keys with SCAN (never KEYS) on every primary, streaming')
      .option('--pattern <glob>', 'SCAN MATCH pattern', '*')
      .option('--type <type>', 'only keys of this type (string, list, set, zset, hash, stream)')
      .option('--limit <n>', 'stop after this many keys', positiveInt)
      .option('--details', "also show each key's type and TTL (two more commands per key: slower)")
      .action(action(async (ctx, opts: KeysOptions) => keysCommand(ctx, opts))), explainWith((e, c, k, opts: KeysOptions) => e.keys(c, k, opts.pattern, opts.type))),
    ["opsctl redis keys --pattern 'opsctl:session:*' --limit 100", 'opsctl redis keys --type hash -o csv > hashes.csv', "opsctl redis keys --pattern 'cache:*' --details --json"],
  );

  withExamples(
    withExplain(command.command('memory').description('The biggest keys by MEMORY USAGE, scanning every primary (like redis-cli --memkeys)')
      .option('--top <n>', 'how many keys to show', positiveInt, 20)
      .option('--samples <n>', 'MEMORY USAGE SAMPLES for aggregates (0 = every element)', nonNegativeInt, 5)
      .option('--pattern <glob>', 'only keys matching this SCAN pattern', '*')
      .action(action(async (ctx, opts: { top: number; samples: number; pattern: string }) => memoryCommand(ctx, opts))),
      explainWith((e, c, k, opts: { samples: number; pattern: string }) => e.memory(c, k, opts.pattern, opts.samples))),
    ['opsctl redis memory --top 10', "opsctl redis memory --pattern 'cache:*' --json"],
  );

  withExamples(
    withExplain(command.command('slowlog').description('SLOWLOG of every data node, arguments redacted')
      .option('--limit <n>', 'entries per node', positiveInt, 10)
      .action(action(async (ctx, opts: { limit: number }) => slowlogCommand(ctx, opts))), explainWith((e, c, k, opts: { limit: number }) => e.slowlog(c, k, opts.limit))),
    ['opsctl redis slowlog', 'opsctl redis slowlog --limit 50 --json'],
  );

  withExamples(
    withExplain(command.command('clients').description('CLIENT LIST of every data node')
      .action(action(async (ctx) => clientsCommand(ctx))), explainWith((e, c, k) => e.clients(c, k))),
    ['opsctl redis clients', 'opsctl redis clients -o csv'],
  );

  const cluster = command.command('cluster').description('Redis Cluster checks');
  withExamples(
    withExplain(cluster.command('check').description('Slots covered, nodes agree, no open slots, replicas per primary; exit 3 on problems')
      .action(action(async (ctx) => clusterCheckCommand(ctx))), explainWith((e, c, k) => e.clusterCheck(c, k))),
    ['opsctl redis cluster check', 'opsctl redis cluster check --json'],
  );

  withExamples(
    withExplain(command.command('failover').description('Manual failover: SENTINEL FAILOVER, or CLUSTER FAILOVER on a replica')
      .option('--to <node>', 'cluster: the replica (host:port) that takes over')
      .option('--dry-run', 'say what would happen and change nothing')
      .option('--timeout <duration>', 'how long to wait for the new primary', duration, 30_000)
      .action(action(async (ctx, opts: { to?: string; dryRun?: boolean; timeout: number }) => failoverCommand(ctx, opts))),
      explainWith((e, c, k, opts: { to?: string }) => e.failover(c, k, opts.to))),
    ['opsctl redis failover --dry-run', 'opsctl --profile prod redis failover --yes', 'opsctl redis failover --to 10.0.0.7:6379'],
  );
}

// ---- shared -------------------------------------------------------------------------------

interface Session {
  nodes: RedisNodes;
  topology: Topology;
  configKey: string;
}

/** `--explain` for a verb: its redis-cli lines from the profile, without connecting. */
function explainWith<A extends unknown[]>(steps: (explain: typeof redisVerbSteps, config: RedisConfig, configKey: string, ...args: A) => ExplainStep[]) {
  return async (ctx: CommandContext, ...args: A): Promise<ExplainStep[]> => {
    const { config, configKey } = await ctx.redisSection();
    const { redisVerbSteps } = await import('../../redis/explain.js');
    return steps(redisVerbSteps, config, configKey, ...args);
  };
}

/** Connections to the profile's nodes (closed with the command) and the discovered topology. */
async function open(ctx: CommandContext): Promise<Session> {
  const { configKey } = await ctx.redisSection();
  const [nodes, { discoverTopology }] = await Promise.all([ctx.redisNodes(), import('../../redis/topology.js')]);
  return { nodes, topology: await discoverTopology(nodes), configKey };
}

const dataOf = (topology: Topology) => topology.nodes.filter((node) => node.role !== 'sentinel');
const primariesOf = (topology: Topology) => topology.nodes.filter((node) => node.role === 'primary');

/** Sleeps, waking early (with the abort reason thrown) when the command is interrupted. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const ms = (value: number | undefined) => (value === undefined ? '' : `${value.toFixed(3)}ms`);

// ---- ping ---------------------------------------------------------------------------------

async function pingCommand(ctx: CommandContext): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { pingNodes } = await import('../../redis/inspect.js');
  const results = await pingNodes(nodes, topology.nodes, ctx.clock);
  ctx.out.list(results, [
    { key: 'node' },
    { key: 'role' },
    { key: 'ok', header: 'STATUS', format: (ok) => ctx.theme.status(ok ? 'ok' : 'fail') },
    { key: 'ms', header: 'TIME', format: (value) => ms(value as number | undefined) },
    { key: 'error' },
  ]);
  // The table is the answer; the status tells scripts that some node did not answer.
  if (results.some((result) => !result.ok)) ctx.exitCode = ExitCode.Unreachable;
}

// ---- info ---------------------------------------------------------------------------------

async function infoCommand(ctx: CommandContext, section: string | undefined): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { nodeInfo } = await import('../../redis/inspect.js');
  const infos = await nodeInfo(nodes, topology.nodes, section);
  if (ctx.out.format === 'json' || ctx.out.format === 'yaml') {
    ctx.out.object(infos as unknown as object);
    return;
  }
  const rows = infos.flatMap((info) =>
    Object.entries(info.sections).flatMap(([name, fields]) =>
      Object.entries(fields).map(([field, value]) => ({ node: info.node, section: name, field, value })),
    ),
  );
  const columns: Column<(typeof rows)[number]>[] = [{ key: 'node' }, { key: 'section' }, { key: 'field' }, { key: 'value' }];
  ctx.out.list(rows, infos.length === 1 && ctx.out.format === 'table' ? columns.slice(1) : columns);
}

// ---- health -------------------------------------------------------------------------------

async function healthCommand(ctx: CommandContext, opts: { watch?: boolean; interval: number }): Promise<void> {
  const [selected, { checkHealth, resolveHealthThresholds }, { discoverTopology }] = await Promise.all([
    ctx.profile(),
    import('../../redis/health.js'),
    import('../../redis/topology.js'),
  ]);
  const thresholds = resolveHealthThresholds(selected.profile, `profiles.${selected.name}`);
  const nodes = await ctx.redisNodes();
  // Rediscovered each round: a failover during --watch shows up as the new topology.
  const round = async () => checkHealth(nodes, await discoverTopology(nodes), thresholds, { clock: ctx.clock });

  if (opts.watch !== true) {
    const report = await round();
    printHealth(ctx, report);
    if (report.status === 'fail') ctx.exitCode = ExitCode.CheckFailed;
    return;
  }
  const inPlace = ctx.io.stdoutIsTTY && ctx.out.format === 'table';
  for (;;) {
    let frame: string;
    let report: HealthReport | undefined;
    try {
      report = await round();
      frame = renderHealth(report, ctx.theme);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // The deployment being down is what a watcher wants to see, not the end of the watch.
      frame = `${ctx.theme.fail('error:')} ${error instanceof Error ? error.message : String(error)}\n`;
    }
    if (ctx.out.machineReadable) {
      // One compact document per line: a stream a program can follow.
      ctx.out.text(JSON.stringify(report ?? { status: 'fail', error: frame.replace(/^error: /, '').trim() }));
    } else {
      const header = ctx.theme.dim(`every ${formatDuration(opts.interval)} · ${new Date(ctx.clock.now()).toISOString()} · Ctrl-C to stop`);
      const text = `${header}\n${frame}`;
      // On a terminal: cursor home, each line overwritten and cleared to its end, then the rest
      // of the screen cleared: the report stays in place without the flicker of a full clear.
      ctx.out.text(inPlace ? `\u001b[H${text.replace(/\n/g, '\u001b[K\n')}\u001b[J` : `${text}\n`);
    }
    await sleep(opts.interval, ctx.signal);
  }
}

function printHealth(ctx: CommandContext, report: HealthReport): void {
  switch (ctx.out.format) {
    case 'table':
      ctx.out.text(renderHealth(report, ctx.theme));
      return;
    case 'csv':
      ctx.out.list(report.checks.map((check) => ({ ...check, remedy: check.remedy ?? '' })), [
        { key: 'name' },
        { key: 'node' },
        { key: 'role' },
        { key: 'status' },
        { key: 'message' },
        { key: 'remedy' },
      ]);
      return;
    default:
      ctx.out.object(report);
  }
}

/** CHECK, NODE, STATUS, DETAIL, an arrow line with the remedy under each warn/fail, a summary. */
export function renderHealth(report: HealthReport, theme: Theme): string {
  const nameWidth = Math.max(5, ...report.checks.map((check) => check.name.length));
  const nodeWidth = Math.max(4, ...report.checks.map((check) => check.node.length));
  const lines = [theme.heading(['CHECK'.padEnd(nameWidth), 'NODE'.padEnd(nodeWidth), 'STATUS', 'DETAIL'].join('  '))];
  const indent = ' '.repeat(nameWidth + nodeWidth + 6 + 6);
  for (const check of report.checks) {
    lines.push([check.name.padEnd(nameWidth), check.node.padEnd(nodeWidth), theme.status(check.status) + ' '.repeat(6 - check.status.length), check.message].join('  '));
    if (check.remedy !== undefined && (check.status === 'warn' || check.status === 'fail')) lines.push(`${indent}${theme.dim('→')} ${check.remedy}`);
  }
  const count = (status: string) => report.checks.filter((check) => check.status === status).length;
  lines.push('', `${theme.status(report.status)}: ${report.mode === 'standalone' ? `standalone ${report.target}` : report.target}: ${count('pass')} passed, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed`);
  return `${lines.map((line) => line.trimEnd()).join('\n')}\n`;
}

// ---- latency ------------------------------------------------------------------------------

async function latencyCommand(ctx: CommandContext, opts: { samples: number; interval: number }): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { latencyStats, samplePings } = await import('../../redis/inspect.js');
  const results: ({ node: string } & LatencyStats)[] = [];
  // One node at a time: concurrent PING loops would measure each other.
  for (const node of primariesOf(topology)) {
    const samples = await nodes.run(node, 'data', (client) =>
      samplePings(client, { samples: opts.samples, intervalMs: opts.interval, clock: ctx.clock, signal: ctx.signal }),
    );
    ctx.signal.throwIfAborted();
    results.push({ node: node.id, ...latencyStats(samples) });
  }
  if (ctx.out.format !== 'table') {
    ctx.out.list(results, [{ key: 'node' }, { key: 'samples' }, { key: 'minMs' }, { key: 'p50Ms' }, { key: 'p99Ms' }, { key: 'maxMs' }, { key: 'meanMs' }]);
    return;
  }
  ctx.out.list(results, [
    { key: 'node' },
    { key: 'samples' },
    { key: 'minMs', header: 'MIN', format: (v) => ms(v as number) },
    { key: 'p50Ms', header: 'P50', format: (v) => ms(v as number) },
    { key: 'p99Ms', header: 'P99', format: (v) => ms(v as number) },
    { key: 'maxMs', header: 'MAX', format: (v) => ms(v as number) },
    { key: 'meanMs', header: 'MEAN', format: (v) => ms(v as number) },
  ]);
  for (const result of results) ctx.out.text(`\n${result.node}\n${renderHistogram(result)}`);
}

/** `  ≤ 0.25ms  ████████  812 (81.2%)`: one line per bucket, bars scaled to the largest. */
export function renderHistogram(stats: LatencyStats): string {
  const widest = Math.max(...stats.histogram.map((bucket) => bucket.count), 1);
  const labels = stats.histogram.map((bucket) => (bucket.upToMs === null ? '> 1000ms' : `≤ ${bucket.upToMs}ms`));
  const labelWidth = Math.max(...labels.map((label) => label.length));
  return stats.histogram
    .map((bucket, i) => {
      const bar = '#'.repeat(Math.round((bucket.count / widest) * 40));
      const share = ((bucket.count / Math.max(1, stats.samples)) * 100).toFixed(1);
      return `  ${labels[i]!.padStart(labelWidth)}  ${bar.padEnd(40)}  ${bucket.count} (${share}%)`.trimEnd();
    })
    .join('\n')
    .concat('\n');
}

// ---- topology -----------------------------------------------------------------------------

async function topologyCommand(ctx: CommandContext): Promise<void> {
  const { topology } = await open(ctx);
  const { cluster: _raw, ...plain } = topology;
  ctx.out.object(plain, () => renderTopology(topology));
}

interface TreeNode {
  label: string;
  children: TreeNode[];
}

function renderTree(root: TreeNode): string {
  const lines = [root.label];
  const walk = (children: TreeNode[], prefix: string) => {
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${child.label}`);
      walk(child.children, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  walk(root.children, '');
  return `${lines.join('\n')}\n`;
}

const flagText = (node: TopologyNode) => (node.flags === undefined ? '' : ` [${node.flags.join(',')}]`);

/** The deployment as a tree: primaries with their replicas, then the Sentinels. */
export function renderTopology(topology: Topology): string {
  const replicasOf = (primary: TopologyNode) =>
    topology.nodes
      .filter((node) => node.role === 'replica' && node.primary === primary.id)
      .map((node) => ({ label: `replica ${node.id}${node.clusterId ? ` id ${node.clusterId.slice(0, 8)}` : ''}${flagText(node)}`, children: [] }));
  const primaries = primariesOf(topology).map((node): TreeNode => {
    const slots = node.slots === undefined ? '' : ` slots ${formatSlotRanges(node.slots) || 'none'} (${countSlots(node.slots)})`;
    return { label: `primary ${node.id}${slots}${node.clusterId ? ` id ${node.clusterId.slice(0, 8)}` : ''}${flagText(node)}`, children: replicasOf(node) };
  });
  // Replicas whose primary is not listed (mid-failover, or a node that lost its primary).
  const orphans = topology.nodes
    .filter((node) => node.role === 'replica' && !topology.nodes.some((p) => p.role === 'primary' && p.id === node.primary))
    .map((node) => ({ label: `replica ${node.id} of ${node.primary ?? '?'}${flagText(node)}`, children: [] }));
  const sentinels = topology.nodes.filter((node) => node.role === 'sentinel');
  const children: TreeNode[] = [...primaries, ...orphans];
  if (sentinels.length > 0) children.push({ label: 'sentinels', children: sentinels.map((node) => ({ label: `${node.id}${flagText(node)}`, children: [] })) });
  let title: string;
  if (topology.mode === 'sentinel') title = `sentinel "${topology.sentinel!.name}" (quorum ${topology.sentinel!.quorum})`;
  else if (topology.mode === 'cluster') {
    const assigned = countSlots(primariesOf(topology).flatMap((node) => node.slots ?? []));
    title = `cluster (${primaries.length} primaries, ${dataOf(topology).length - primaries.length} replicas, ${assigned}/16384 slots)`;
  } else title = `standalone ${topology.target}`;
  return renderTree({ label: title, children });
}

// ---- keys ---------------------------------------------------------------------------------

interface KeysOptions {
  pattern: string;
  type?: string;
  limit?: number;
  details?: boolean;
}

/** Writes each batch as it arrives: a JSON array opened first and closed last, even when interrupted. */
async function keysCommand(ctx: CommandContext, opts: KeysOptions): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { scanKeys } = await import('../../redis/inspect.js');
  const primaries = primariesOf(topology);
  const format = ctx.out.format;
  const details = opts.details === true;
  const KEY_COLUMNS: Column<KeyRow>[] = [
    { key: 'key' },
    ...(details || opts.type !== undefined ? [{ key: 'type' } as const] : []),
    ...(details ? [{ key: 'ttl' } as const] : []),
    { key: 'node' },
  ];
  // Keys last on a table: their width is unknown when the first rows are printed.
  const tableRow = (row: KeyRow) =>
    [details || opts.type !== undefined ? (row.type ?? '').padEnd(7) : undefined, details ? String(row.ttl).padStart(8) : undefined, row.node.padEnd(21), row.key]
      .filter((cell) => cell !== undefined)
      .join('  ');
  let count = 0;
  let closed = false;
  // Ends the output once: at the end of the scan, or at the moment of Ctrl-C (before the
  // command is abandoned), so that an interrupted --json listing is still a valid array.
  const close = () => {
    if (closed) return;
    closed = true;
    if (format === 'json') ctx.out.text(count === 0 ? ']' : '\n]');
    if (format === 'yaml' && count === 0) ctx.out.text('[]');
    if (format === 'csv' && count === 0) ctx.out.text(KEY_COLUMNS.map((column) => column.key).join(','));
  };
  ctx.signal.addEventListener('abort', close, { once: true });
  // Loaded here, not at the top: every `redis` help and Tab press would pay for them.
  const { stringify: toYaml } = await import('yaml');
  const { toCsv } = await import('../ui/output.js');
  if (format === 'json') ctx.out.text('[');
  if (format === 'table') ctx.out.text(ctx.theme.heading(tableRow({ key: 'KEY', node: 'NODE', type: 'TYPE', ttl: 'TTL' as unknown as number })));
  try {
    for await (const batch of scanKeys(nodes, primaries, { pattern: opts.pattern, type: opts.type, limit: opts.limit, details, signal: ctx.signal })) {
      if (closed) break;
      let chunk: string;
      switch (format) {
        case 'json':
          chunk = batch.map((row, i) => `${count + i === 0 ? '\n' : ',\n'}  ${JSON.stringify(row)}`).join('');
          break;
        case 'yaml':
          chunk = toYaml(batch);
          break;
        case 'csv': {
          const csv = toCsv(batch, KEY_COLUMNS);
          chunk = count === 0 ? csv : csv.slice(csv.indexOf('\n') + 1);
          break;
        }
        default:
          chunk = `${batch.map(tableRow).join('\n')}\n`;
      }
      count += batch.length;
      // Streamed as it comes (Output.list would hold the whole keyspace in memory), and no
      // faster than the reader takes it: a slow pipe must not pile rows up in this process.
      await writeWithBackpressure(ctx.io.stdout, chunk);
    }
  } finally {
    ctx.signal.removeEventListener('abort', close);
    close();
  }
  ctx.signal.throwIfAborted();
  ctx.out.message(ctx.theme.dim(`${count} key${count === 1 ? '' : 's'} on ${primaries.length} primar${primaries.length === 1 ? 'y' : 'ies'}${opts.limit !== undefined && count >= opts.limit ? ` (stopped at --limit ${opts.limit})` : ''}`));
}

/** Writes a chunk; when a real stream's buffer is full, waits for it to drain. */
async function writeWithBackpressure(stream: CommandContext['io']['stdout'], chunk: string): Promise<void> {
  if (stream.write(chunk) !== false) return;
  const emitter = stream as Partial<NodeJS.WritableStream>;
  if (typeof emitter.once === 'function') await new Promise<void>((resolve) => emitter.once!('drain', () => resolve()));
}

// ---- memory -------------------------------------------------------------------------------

async function memoryCommand(ctx: CommandContext, opts: { top: number; samples: number; pattern: string }): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { biggestKeys } = await import('../../redis/inspect.js');
  const progress = ctx.io.stderrIsTTY && !ctx.out.quiet;
  const result = await biggestKeys(nodes, primariesOf(topology), {
    top: opts.top,
    samples: opts.samples,
    pattern: opts.pattern,
    signal: ctx.signal,
    onProgress: progress ? (scanned) => ctx.io.stderr.write(`\r${ctx.theme.dim(`${scanned} keys measured…`)}`) : undefined,
  });
  if (progress) ctx.io.stderr.write('\r\u001b[K');
  ctx.signal.throwIfAborted();
  ctx.out.list(result.top, [
    { key: 'key' },
    { key: 'type' },
    { key: 'bytes', header: 'SIZE', format: (value) => formatBytes(value as number) },
    { key: 'node' },
  ]);
  ctx.out.message(ctx.theme.dim(`${result.scanned} keys measured, ${formatBytes(result.totalBytes)} in total`));
}

// ---- slowlog, clients ---------------------------------------------------------------------

async function slowlogCommand(ctx: CommandContext, opts: { limit: number }): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { slowlog } = await import('../../redis/inspect.js');
  const rows = await slowlog(nodes, dataOf(topology), opts.limit);
  ctx.out.list(rows, [
    { key: 'node' },
    { key: 'id' },
    { key: 'time' },
    { key: 'durationMicros', header: 'DURATION', format: (value) => formatDuration((value as number) / 1000) },
    { key: 'command' },
    { key: 'client' },
    { key: 'clientName', header: 'NAME' },
  ]);
}

async function clientsCommand(ctx: CommandContext): Promise<void> {
  const { topology, nodes } = await open(ctx);
  const { clients } = await import('../../redis/inspect.js');
  const rows = await clients(nodes, dataOf(topology));
  ctx.out.list(rows, [
    { key: 'node' },
    { key: 'id' },
    { key: 'addr' },
    { key: 'name' },
    { key: 'user' },
    { key: 'db' },
    { key: 'ageSeconds', header: 'AGE', format: (value) => formatDuration((value as number) * 1000) },
    { key: 'idleSeconds', header: 'IDLE', format: (value) => formatDuration((value as number) * 1000) },
    { key: 'flags' },
    { key: 'cmd' },
  ]);
}

// ---- cluster check ------------------------------------------------------------------------

async function clusterCheckCommand(ctx: CommandContext): Promise<void> {
  const { topology, nodes, configKey } = await open(ctx);
  const { checkCluster } = await import('../../redis/cluster-check.js');
  const results = await checkCluster(nodes, topology, configKey);
  if (ctx.out.format === 'table') ctx.out.text(renderClusterCheck(results, ctx.theme));
  else ctx.out.list(results.map((result) => ({ ...result, remedy: result.remedy ?? '' })), [{ key: 'check' }, { key: 'status' }, { key: 'detail' }, { key: 'remedy' }]);
  if (results.some((result) => result.status !== 'pass')) ctx.exitCode = ExitCode.CheckFailed;
}

function renderClusterCheck(results: readonly ClusterCheckResult[], theme: Theme): string {
  const width = Math.max(5, ...results.map((result) => result.check.length));
  const lines = [theme.heading(`${'CHECK'.padEnd(width)}  STATUS  DETAIL`)];
  for (const result of results) {
    lines.push(`${result.check.padEnd(width)}  ${theme.status(result.status)}${' '.repeat(6 - result.status.length)}  ${result.detail}`);
    if (result.remedy !== undefined && result.status !== 'pass') lines.push(`${' '.repeat(width + 10)}${theme.dim('→')} ${result.remedy}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---- failover -----------------------------------------------------------------------------

async function failoverCommand(ctx: CommandContext, opts: { to?: string; dryRun?: boolean; timeout: number }): Promise<void> {
  const { topology, nodes, configKey } = await open(ctx);
  const { planFailover, executeFailover } = await import('../../redis/manual-failover.js');
  const plan = planFailover(topology, opts.to, configKey);
  const what = `fail over primary ${plan.from} to ${plan.to ?? 'a replica the Sentinels elect'} (${plan.command} via ${plan.via})`;
  if (opts.dryRun === true) {
    ctx.out.object({ dryRun: true, ...plan }, () => `would ${what}\n`);
    ctx.out.message('dry run: nothing was sent');
    return;
  }
  await ctx.confirm(`${what[0]!.toUpperCase()}${what.slice(1)}?`, {
    impact: `writes to ${plan.from} fail until clients reach the new primary`,
    onProfile: true,
  });
  const result = await executeFailover(nodes, topology, plan, { clock: ctx.clock, timeoutMs: opts.timeout, signal: ctx.signal });
  ctx.out.object({ dryRun: false, ...result }, () => `new primary ${result.newPrimary} (was ${result.from}), after ${formatDuration(result.ms)}\n`);
}
