import { OpsError } from '../core/errors.js';
import { secretPlaceholder, type ExplainStep, type Invocation } from '../core/explain.js';
import type { RedisConfig } from '../config/schema.js';
import { parseServerUrl } from '../config/values.js';
import { standaloneNode } from './topology.js';

/**
 * redis-cli equivalents of what opsctl sends (`--explain`). Credentials travel the way redis-cli
 * takes them without a command line: the password in REDISCLI_AUTH, shown as a placeholder that
 * names the config key it comes from.
 */

/** A node address, or placeholders for one learnt only at run time. */
export interface CliTarget {
  host: string;
  port: number | string;
}

/** "Each node found by discovery". */
const EACH_NODE: CliTarget = { host: '<node-host>', port: '<node-port>' };
const EACH_SENTINEL: CliTarget = { host: '<sentinel-host>', port: '<sentinel-port>' };
/** The primary the Sentinels name. */
const SENTINEL_PRIMARY: CliTarget = { host: '<primary-host>', port: '<primary-port>' };

type NodeKind = 'data' | 'sentinel';

/**
 * `redis-cli` aimed at one node with the profile's credentials, database and TLS; `follow` adds
 * `-c` so a Cluster's MOVED redirections are followed (commands on one key).
 */
export function redisCli(config: RedisConfig, configKey: string, node: CliTarget, kind: NodeKind, args: readonly string[], follow = false): Invocation {
  const url = config.url === undefined ? undefined : parseServerUrl(config.url, ['redis:', 'rediss:']);
  const sentinel = kind === 'sentinel';
  const username = sentinel ? config.sentinel?.username : (config.username ?? url?.username);
  const hasPassword = sentinel ? config.sentinel?.password !== undefined : (config.password ?? url?.password) !== undefined;
  const passwordKey = sentinel ? `${configKey}.sentinel.password` : config.password === undefined ? `${configKey}.url` : `${configKey}.password`;
  const db = config.mode === 'cluster' || sentinel ? undefined : (config.db ?? (url !== undefined && /^\d+$/.test(url.path) ? Number(url.path) : undefined));
  const tls = config.tls?.enabled ?? url?.protocol === 'rediss:';
  const words = [...(follow && config.mode === 'cluster' ? ['-c'] : []), '-h', node.host, '-p', String(node.port)];
  if (db !== undefined && db !== 0) words.push('-n', String(db));
  if (username !== undefined) words.push('--user', username);
  if (tls === true) {
    words.push('--tls');
    if (config.tls?.ca !== undefined) words.push('--cacert', config.tls.ca);
    if (config.tls?.cert !== undefined) words.push('--cert', config.tls.cert);
    if (config.tls?.key !== undefined) words.push('--key', config.tls.key);
    if (config.tls?.servername !== undefined) words.push('--sni', config.tls.servername);
    if (config.tls?.rejectUnauthorized === false) words.push('--insecure');
  }
  const env = hasPassword ? { REDISCLI_AUTH: secretPlaceholder(passwordKey) } : undefined;
  return { tool: 'redis-cli', args: [...words, ...args], ...(env === undefined ? {} : { env }) };
}

/** Which nodes a verb visits once the topology is known. */
export type NodeSelection = 'every node' | 'every data node' | 'every primary';

/** The commands that find the deployment's nodes (none for a standalone server). */
export function discoverySteps(config: RedisConfig, configKey: string): ExplainStep[] {
  if (config.mode === 'sentinel' && config.sentinel !== undefined) {
    const sentinel = config.sentinel.nodes[0]!;
    const name = config.sentinel.name;
    const ask = (args: string[], note: string): ExplainStep => ({ note, pipeline: [redisCli(config, configKey, sentinel, 'sentinel', args)] });
    return [
      ask(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], 'discover: the primary (asked of the first configured Sentinel that answers)'),
      ask(['SENTINEL', 'REPLICAS', name], 'discover: its replicas'),
      ask(['SENTINEL', 'SENTINELS', name], 'discover: the other Sentinels'),
    ];
  }
  if (config.mode === 'cluster' && config.cluster !== undefined) {
    const seed = config.cluster.nodes[0]!;
    return [{ note: 'discover: every node, its role and slots (any seed node answers)', pipeline: [redisCli(config, configKey, seed, 'data', ['CLUSTER', 'NODES'])] }];
  }
  return [];
}

/**
 * `args` sent to every node of `selection`: one direct line for a standalone server, otherwise
 * the discovery steps and one line per node kind with the address as a placeholder.
 */
export function onNodes(config: RedisConfig, configKey: string, selection: NodeSelection, args: readonly string[], note?: string): ExplainStep[] {
  if (config.mode === 'standalone' || (config.mode === 'sentinel' && config.sentinel === undefined) || (config.mode === 'cluster' && config.cluster === undefined)) {
    return [{ ...(note === undefined ? {} : { note }), pipeline: [redisCli(config, configKey, standaloneNode(config), 'data', args)] }];
  }
  const perNode = (kind: NodeKind, who: string): ExplainStep => ({
    note: `on ${who} found above${note === undefined ? '' : `: ${note}`}`,
    pipeline: [redisCli(config, configKey, kind === 'sentinel' ? EACH_SENTINEL : EACH_NODE, kind, args)],
  });
  const steps = [...discoverySteps(config, configKey)];
  const dataWho = selection === 'every primary' ? (config.mode === 'cluster' ? 'every primary' : 'the primary') : 'every data node';
  steps.push(perNode('data', dataWho));
  if (selection === 'every node' && config.mode === 'sentinel') steps.push(perNode('sentinel', 'every Sentinel'));
  return steps;
}

/**
 * SCAN of every primary, as redis-cli's --scan does it (opsctl asks COUNT 1000 per call and
 * filters by TYPE itself; redis-cli 7.0 has neither option).
 */
export function scanSteps(config: RedisConfig, configKey: string, pattern: string, type?: string): ExplainStep[] {
  return onNodes(config, configKey, 'every primary', ['--scan', '--pattern', pattern], type === undefined ? undefined : `only keys of type ${type} (TYPE of each key)`);
}

/**
 * A command on one key, sent where that key lives: the standalone server, the primary the
 * Sentinels name, or a Cluster seed with `-c` (redis-cli follows the MOVED to the key's slot).
 */
export function keyCommand(config: RedisConfig, configKey: string, args: readonly string[]): Invocation {
  const target = config.mode === 'sentinel' ? SENTINEL_PRIMARY : config.mode === 'cluster' && config.cluster !== undefined ? config.cluster.nodes[0]! : standaloneNode(config);
  return redisCli(config, configKey, target, 'data', args, true);
}

/** A script call by SHA, the way the loader sends it (EVAL with the source on NOSCRIPT). */
export function evalshaStep(config: RedisConfig, configKey: string, sha: string, scriptName: string, keys: readonly string[], args: readonly string[]): ExplainStep {
  const via = config.mode === 'sentinel' ? '; sent to the primary the Sentinels name' : '';
  return {
    note: `Lua script ${scriptName} (sha1 ${sha}); on NOSCRIPT opsctl sends the source once with EVAL${via}`,
    pipeline: [keyCommand(config, configKey, ['EVALSHA', sha, String(keys.length), ...keys, ...args])],
  };
}

/** What each `opsctl redis` verb sends, as redis-cli lines. */
export const redisVerbSteps = {
  ping: (config: RedisConfig, key: string) => onNodes(config, key, 'every node', ['PING']),
  info: (config: RedisConfig, key: string, section?: string) => onNodes(config, key, 'every node', ['INFO', ...(section === undefined ? [] : [section])]),
  health: (config: RedisConfig, key: string) => [
    ...onNodes(config, key, 'every data node', ['INFO'], 'memory, persistence, replication, clients, stats; opsctl also times a few PINGs per node'),
    // The discovery steps are already listed above: only the per-node line.
    ...(config.mode === 'cluster' ? onNodes(config, key, 'every data node', ['CLUSTER', 'INFO']).slice(-1) : []),
    ...(config.mode === 'sentinel' && config.sentinel !== undefined
      ? [{ note: 'on every Sentinel: can a failover be authorised?', pipeline: [redisCli(config, key, config.sentinel.nodes[0]!, 'sentinel', ['SENTINEL', 'CKQUORUM', config.sentinel.name])] }]
      : []),
  ],
  latency: (config: RedisConfig, key: string, samples: number, intervalMs: number) =>
    onNodes(config, key, 'every data node', ['--latency-dist', '-i', String(Math.max(intervalMs, 10) / 1000)], `opsctl sends ${samples} PINGs per node and prints min/p50/p99/max`),
  topology: (config: RedisConfig, key: string) =>
    config.mode === 'standalone' ? onNodes(config, key, 'every data node', ['INFO', 'replication']) : discoverySteps(config, key),
  keys: (config: RedisConfig, key: string, pattern: string, type?: string) =>
    scanSteps(config, key, pattern, type),
  memory: (config: RedisConfig, key: string, pattern: string, samples: number) =>
    onNodes(config, key, 'every primary', ['--memkeys', '--memkeys-samples', String(samples), '--pattern', pattern], 'SCAN + MEMORY USAGE of every key; opsctl keeps the biggest'),
  slowlog: (config: RedisConfig, key: string, limit: number) => onNodes(config, key, 'every data node', ['SLOWLOG', 'GET', String(limit)]),
  clients: (config: RedisConfig, key: string) => onNodes(config, key, 'every data node', ['CLIENT', 'LIST']),
  clusterCheck: (config: RedisConfig, key: string): ExplainStep[] => {
    const seed = config.cluster?.nodes[0] ?? standaloneNode(config);
    const check = redisCli(config, key, seed, 'data', ['--cluster', 'check', `${seed.host}:${seed.port}`]);
    // redis-cli --cluster takes the address as an argument, not -h/-p.
    return [{ note: 'slots covered, nodes agree, no open slots (opsctl also reads CLUSTER NODES from every node)', pipeline: [{ ...check, args: check.args.slice(4) }] }];
  },
  failover: (config: RedisConfig, key: string, to?: string): ExplainStep[] => {
    if (config.mode === 'sentinel' && config.sentinel !== undefined) {
      return [{ note: 'the Sentinels pick the replica; opsctl then polls SENTINEL MASTER until the address changes', pipeline: [redisCli(config, key, config.sentinel.nodes[0]!, 'sentinel', ['SENTINEL', 'FAILOVER', config.sentinel.name])] }];
    }
    if (config.mode === 'standalone') {
      throw new OpsError('USAGE', 'a standalone server has no replica to fail over to', { hint: 'failover needs a Sentinel or Cluster profile' });
    }
    const [host, port] = to === undefined ? ['<replica-host>', '<replica-port>'] : [to.slice(0, to.lastIndexOf(':')), to.slice(to.lastIndexOf(':') + 1)];
    return [
      ...discoverySteps(config, key),
      { note: `on the replica that takes over${to === undefined ? ' (opsctl picks the most up-to-date one)' : ''}; opsctl then polls ROLE`, pipeline: [redisCli(config, key, { host: host!, port: port! }, 'data', ['CLUSTER', 'FAILOVER'])] },
    ];
  },
} as const;
