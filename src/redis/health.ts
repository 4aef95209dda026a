import type { Clock } from '../core/clock.js';
import { isOpsError } from '../core/errors.js';
import { formatBytes, formatDuration, parseDuration, parseSize } from '../core/parse.js';
import type { ProfileConfig } from '../config/schema.js';
import { evaluateLatency, evaluateMemory, type Verdict } from '../doctor/evaluate.js';
import type { CheckStatus, HealthStatus } from '../doctor/types.js';
import { CLUSTER_SLOTS, flattenInfo, parseInfoSections, parseReplicaLinks, type ReplicaLink } from './info.js';
import { dataNodes, type NodeRole, type RedisNodes, type Topology, type TopologyNode } from './topology.js';

/** The thresholds every health check is judged against (milliseconds, ratios, counts, bytes, seconds). */
export interface HealthThresholds {
  latencyWarnMs: number;
  latencyFailMs: number;
  memoryWarnRatio: number;
  memoryFailRatio: number;
  fragmentationWarn: number;
  evictionsWarn: number;
  rejectedConnectionsWarn: number;
  blockedClientsWarn: number;
  replicaLagBytesWarn: number;
  replicaLagSecondsWarn: number;
}

/** The defaults, documented in the schema descriptions and docs/redis.md. */
export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  latencyWarnMs: 50,
  latencyFailMs: 500,
  memoryWarnRatio: 0.8,
  memoryFailRatio: 0.95,
  fragmentationWarn: 1.5,
  evictionsWarn: 0,
  rejectedConnectionsWarn: 0,
  blockedClientsWarn: 50,
  replicaLagBytesWarn: 1024 * 1024,
  replicaLagSecondsWarn: 10,
};

/** Fragmentation is only judged when the excess is this large: small instances always look fragmented. */
export const FRAGMENTATION_MIN_EXCESS = 32 * 1024 * 1024;

/** The thresholds and, for each, the config key a remedy names. */
export interface ResolvedThresholds {
  values: HealthThresholds;
  keys: Record<keyof HealthThresholds, string>;
}

const HEALTH_FIELDS: Record<keyof HealthThresholds, string> = {
  latencyWarnMs: 'latencyWarn',
  latencyFailMs: 'latencyFail',
  memoryWarnRatio: 'memoryWarnRatio',
  memoryFailRatio: 'memoryFailRatio',
  fragmentationWarn: 'fragmentationWarn',
  evictionsWarn: 'evictionsWarn',
  rejectedConnectionsWarn: 'rejectedConnectionsWarn',
  blockedClientsWarn: 'blockedClientsWarn',
  replicaLagBytesWarn: 'replicaLagBytesWarn',
  replicaLagSecondsWarn: 'replicaLagSecondsWarn',
};

/**
 * A profile's thresholds: `redis.health.<field>` first, then the older `doctor.redisLatencyWarn`
 * and `doctor.redisMemoryWarnRatio` (kept for compatibility), then the defaults. `keyBase` is
 * `profiles.<name>`.
 */
export function resolveHealthThresholds(profile: ProfileConfig, keyBase: string): ResolvedThresholds {
  const health = profile.redis?.health ?? {};
  const values = { ...DEFAULT_HEALTH_THRESHOLDS };
  const keys = {} as Record<keyof HealthThresholds, string>;
  for (const [field, name] of Object.entries(HEALTH_FIELDS) as [keyof HealthThresholds, string][]) {
    keys[field] = `${keyBase}.redis.health.${name}`;
  }
  const doctor = profile.doctor;
  if (health.latencyWarn === undefined && doctor?.redisLatencyWarn !== undefined) {
    values.latencyWarnMs = parseDuration(doctor.redisLatencyWarn) ?? values.latencyWarnMs;
    keys.latencyWarnMs = `${keyBase}.doctor.redisLatencyWarn`;
  }
  if (health.memoryWarnRatio === undefined && doctor?.redisMemoryWarnRatio !== undefined) {
    values.memoryWarnRatio = doctor.redisMemoryWarnRatio;
    keys.memoryWarnRatio = `${keyBase}.doctor.redisMemoryWarnRatio`;
  }
  if (health.latencyWarn !== undefined) values.latencyWarnMs = parseDuration(health.latencyWarn) ?? values.latencyWarnMs;
  if (health.latencyFail !== undefined) values.latencyFailMs = parseDuration(health.latencyFail) ?? values.latencyFailMs;
  if (health.memoryWarnRatio !== undefined) values.memoryWarnRatio = health.memoryWarnRatio;
  if (health.memoryFailRatio !== undefined) values.memoryFailRatio = health.memoryFailRatio;
  if (health.fragmentationWarn !== undefined) values.fragmentationWarn = health.fragmentationWarn;
  if (health.evictionsWarn !== undefined) values.evictionsWarn = health.evictionsWarn;
  if (health.rejectedConnectionsWarn !== undefined) values.rejectedConnectionsWarn = health.rejectedConnectionsWarn;
  if (health.blockedClientsWarn !== undefined) values.blockedClientsWarn = health.blockedClientsWarn;
  if (health.replicaLagBytesWarn !== undefined) values.replicaLagBytesWarn = parseSize(health.replicaLagBytesWarn) ?? values.replicaLagBytesWarn;
  if (health.replicaLagSecondsWarn !== undefined) values.replicaLagSecondsWarn = health.replicaLagSecondsWarn;
  return { values, keys };
}

// ---- verdicts (pure) ----------------------------------------------------------------------

const num = (info: Record<string, string>, field: string) => Number(info[field] ?? 0);

/** Latency with both thresholds. */
export function latencyVerdict(samplesMs: readonly number[], t: ResolvedThresholds): Verdict {
  return evaluateLatency(samplesMs, t.values.latencyWarnMs, t.keys.latencyWarnMs, t.values.latencyFailMs, t.keys.latencyFailMs);
}

/** Memory with both thresholds. */
export function memoryVerdict(info: Record<string, string>, t: ResolvedThresholds): Verdict {
  return evaluateMemory(info, t.values.memoryWarnRatio, t.keys.memoryWarnRatio, t.values.memoryFailRatio, t.keys.memoryFailRatio);
}

/**
 * mem_fragmentation_ratio (RSS / used): above the threshold with at least 32 MiB of excess →
 * warn (memory the allocator holds but the data does not use); below 1 with a sizeable dataset →
 * warn (part of Redis' memory is swapped out). Small instances pass whatever their ratio.
 */
export function evaluateFragmentation(info: Record<string, string>, warnRatio: number, thresholdKey: string): Verdict {
  const ratio = Number(info.mem_fragmentation_ratio ?? Number.NaN);
  if (!Number.isFinite(ratio)) return { status: 'skip', message: 'INFO does not report mem_fragmentation_ratio' };
  const used = num(info, 'used_memory');
  const rss = num(info, 'used_memory_rss');
  const excess = info.mem_fragmentation_bytes === undefined ? rss - used : num(info, 'mem_fragmentation_bytes');
  const observed = { value: ratio, unit: 'ratio' };
  const detail = `ratio ${ratio} (RSS ${formatBytes(rss)}, data ${formatBytes(used)})`;
  if (ratio < 1 && used >= FRAGMENTATION_MIN_EXCESS) {
    return {
      status: 'warn',
      message: `${detail}: below 1, part of Redis' memory is swapped out`,
      remedy: 'the host is short of memory: lower maxmemory, move other processes away, or add RAM',
      observed,
    };
  }
  if (ratio > warnRatio && excess >= FRAGMENTATION_MIN_EXCESS) {
    return {
      status: 'warn',
      message: `${detail}: ${formatBytes(excess)} held but unused, above ${warnRatio}`,
      remedy: `enable activedefrag yes (jemalloc builds), or restart the replicas one by one and fail over; the threshold is ${thresholdKey}`,
      observed,
    };
  }
  return { status: 'pass', message: detail, observed };
}

/** evicted_keys since start against the threshold. */
export function evaluateEvictions(info: Record<string, string>, warn: number, thresholdKey: string): Verdict {
  const evicted = num(info, 'evicted_keys');
  const uptime = formatDuration(num(info, 'uptime_in_seconds') * 1000);
  const observed = { value: evicted, unit: 'keys' };
  if (evicted > warn) {
    return {
      status: 'warn',
      message: `${evicted} keys evicted in ${uptime} of uptime (policy ${info.maxmemory_policy ?? '?'})`,
      remedy: `maxmemory is too small for the data: raise it or find what grew (opsctl redis memory); on a pure cache raise ${thresholdKey}`,
      observed,
    };
  }
  return { status: 'pass', message: `${evicted} keys evicted in ${uptime} of uptime`, observed };
}

/** rejected_connections since start (maxclients reached) against the threshold. */
export function evaluateRejectedConnections(info: Record<string, string>, warn: number, thresholdKey: string): Verdict {
  const rejected = num(info, 'rejected_connections');
  const clients = `${num(info, 'connected_clients')} of maxclients ${info.maxclients ?? '?'} connected`;
  const observed = { value: rejected, unit: 'connections' };
  if (rejected > warn) {
    return {
      status: 'warn',
      message: `${rejected} connections refused at maxclients since start; ${clients}`,
      remedy: `find the client that leaks connections (opsctl redis clients) or raise maxclients; the threshold is ${thresholdKey}`,
      observed,
    };
  }
  return { status: 'pass', message: `${rejected} connections refused; ${clients}`, observed };
}

/** blocked_clients (BLPOP, XREAD BLOCK, WAIT …) against the threshold. */
export function evaluateBlockedClients(info: Record<string, string>, warn: number, thresholdKey: string): Verdict {
  const blocked = num(info, 'blocked_clients');
  const observed = { value: blocked, unit: 'clients' };
  if (blocked > warn) {
    return {
      status: 'warn',
      message: `${blocked} clients blocked in BLPOP/XREAD/WAIT-like commands, above ${warn}`,
      remedy: `check the consumers (opsctl redis clients shows cmd=blpop …) and whether producers stopped; the threshold is ${thresholdKey}`,
      observed,
    };
  }
  return { status: 'pass', message: `${blocked} blocked clients`, observed };
}

/**
 * Replication health of one node. A primary: its replicas that are not `online`. A replica:
 * its link to the primary (down → fail, full sync → warn) and, when its primary's view is
 * given, the lag in bytes (primary offset − replica offset) and seconds since its last ACK.
 */
export function evaluateReplication(
  info: Record<string, string>,
  primaryView: { primaryOffset: number; link: ReplicaLink | undefined } | undefined,
  t: ResolvedThresholds,
): Verdict {
  if (info.role === 'master') {
    const links = parseReplicaLinks(info);
    const notOnline = links.filter((link) => link.state !== 'online');
    const observed = { value: links.length, unit: 'replicas' };
    if (notOnline.length > 0) {
      return {
        status: 'warn',
        message: `${notOnline.length} of ${links.length} replicas not online: ${notOnline.map((l) => `${l.host}:${l.port} ${l.state}`).join(', ')}`,
        remedy: 'a replica in wait_bgsave/send_bulk is resynchronising; if it stays there, read its log (repl-backlog-size, disk, network)',
        observed,
      };
    }
    return { status: 'pass', message: links.length === 0 ? 'primary, no replicas' : `primary, ${links.length} replica${links.length === 1 ? '' : 's'} online`, observed };
  }
  const primary = `${info.master_host ?? '?'}:${info.master_port ?? '?'}`;
  if (info.master_link_status !== 'up') {
    const since = info.master_link_down_since_seconds;
    return {
      status: 'fail',
      message: `link to primary ${primary} is ${info.master_link_status ?? 'unknown'}${since === undefined || since === '-1' ? '' : ` for ${formatDuration(Number(since) * 1000)}`}`,
      remedy: "check that the replica reaches the primary (network, masterauth/masteruser) and read the replica's log",
      observed: { value: info.master_link_status ?? 'unknown' },
    };
  }
  if (info.master_sync_in_progress === '1') {
    return {
      status: 'warn',
      message: `full resynchronisation from ${primary} in progress`,
      remedy: 'wait for it to finish; repeated full syncs mean repl-backlog-size is too small',
      observed: { value: 'syncing' },
    };
  }
  const bytes = primaryView?.link === undefined ? undefined : Math.max(0, primaryView.primaryOffset - primaryView.link.offset);
  const seconds = primaryView?.link?.lagSeconds ?? num(info, 'master_last_io_seconds_ago');
  const lag = `${bytes === undefined ? '' : `${formatBytes(bytes)} and `}${seconds}s behind ${primary}`;
  const observed = { value: bytes ?? seconds, unit: bytes === undefined ? 's' : 'bytes' };
  if (bytes !== undefined && bytes > t.values.replicaLagBytesWarn) {
    return { status: 'warn', message: `${lag}, above ${formatBytes(t.values.replicaLagBytesWarn)}`, remedy: lagRemedy(t.keys.replicaLagBytesWarn), observed };
  }
  if (seconds > t.values.replicaLagSecondsWarn) {
    return { status: 'warn', message: `${lag}, above ${t.values.replicaLagSecondsWarn}s`, remedy: lagRemedy(t.keys.replicaLagSecondsWarn), observed };
  }
  return { status: 'pass', message: `link up, ${lag}`, observed };
}

function lagRemedy(key: string): string {
  return `check the replica's load and the network between it and its primary; reads from it are stale; the threshold is ${key}`;
}

/** CLUSTER INFO of one node: cluster_state and how many of the 16384 slots are assigned and healthy. */
export function evaluateClusterInfo(info: Record<string, string>): Verdict {
  const state = info.cluster_state ?? 'unknown';
  const assigned = num(info, 'cluster_slots_assigned');
  const failing = num(info, 'cluster_slots_fail');
  const suspect = num(info, 'cluster_slots_pfail');
  const summary = `cluster_state ${state}, ${assigned}/${CLUSTER_SLOTS} slots assigned, ${info.cluster_known_nodes ?? '?'} nodes known`;
  const observed = { value: state };
  if (state !== 'ok' || assigned < CLUSTER_SLOTS || failing > 0) {
    return {
      status: 'fail',
      message: `${summary}${failing > 0 ? `, ${failing} slots on failed nodes` : ''}`,
      remedy: 'some slots have no reachable primary: run `opsctl redis cluster check` to see which, then assign them (redis-cli --cluster fix) or bring the node back',
      observed,
    };
  }
  if (suspect > 0) {
    return {
      status: 'warn',
      message: `${summary}, ${suspect} slots on nodes suspected down (PFAIL)`,
      remedy: 'a node stopped answering its peers: check it (opsctl redis ping)',
      observed,
    };
  }
  return { status: 'pass', message: summary, observed };
}

/** SENTINEL CKQUORUM's answer (`OK 3 usable Sentinels…`) or its error (`NOQUORUM …`). */
export function evaluateQuorum(reply: string | undefined, error: string | undefined, name: string, quorum: number | undefined): Verdict {
  if (error !== undefined) {
    return {
      status: 'fail',
      message: `master "${name}": ${error.replace(/^(ERR|NOQUORUM)\s*/, '')}`,
      remedy: `start the missing Sentinels (at least ${quorum ?? 'quorum'} must agree, and a majority must be reachable to authorise a failover)`,
      observed: { value: false },
    };
  }
  return { status: 'pass', message: `master "${name}": ${(reply ?? 'OK').replace(/^OK\s*/, '')}`, observed: { value: true } };
}

// ---- collection ---------------------------------------------------------------------------

/** The check names, in report order (the same names doctor uses). */
export const HEALTH_CHECKS = [
  'redis:latency',
  'redis:memory',
  'redis:fragmentation',
  'redis:evictions',
  'redis:rejected-connections',
  'redis:blocked-clients',
  'redis:replication',
  'redis:cluster',
  'redis:sentinel',
] as const;

export type HealthCheckName = (typeof HEALTH_CHECKS)[number];

/** One check on one node. */
export interface HealthCheck {
  name: HealthCheckName;
  node: string;
  role: NodeRole;
  status: CheckStatus;
  message: string;
  remedy?: string;
  observed?: Verdict['observed'];
  /** The OpsError code when the node could not be asked. */
  code?: string;
}

export interface HealthReport {
  status: HealthStatus;
  mode: Topology['mode'];
  target: string;
  /** When the checks finished (ISO 8601). */
  time: string;
  checks: HealthCheck[];
}

export interface HealthOptions {
  clock: Clock;
  /** PINGs behind each latency median (default 5). */
  pings?: number;
}

/**
 * Runs every check on every node of the topology, nodes concurrently (each bounded by the
 * profile's timeouts). A node that cannot be asked fails its latency check with the reason;
 * the other checks of that node are left out rather than guessed.
 */
export async function checkHealth(nodes: RedisNodes, topology: Topology, thresholds: ResolvedThresholds, options: HealthOptions): Promise<HealthReport> {
  const pings = options.pings ?? 5;
  const data = dataNodes(topology);
  const sentinels = topology.nodes.filter((node) => node.role === 'sentinel');
  const probes = await Promise.all(data.map((node) => probeDataNode(nodes, node, topology.mode, pings, options.clock)));
  const infoById = new Map(probes.flatMap((probe) => (probe.info === undefined ? [] : [[probe.node.id, probe.info] as const])));

  const checks: HealthCheck[] = [];
  const add = (name: HealthCheckName, node: TopologyNode, verdict: Verdict) => {
    if (verdict.status === 'skip' && verdict.message === '') return;
    checks.push({
      name,
      node: node.id,
      role: node.role,
      status: verdict.status,
      message: verdict.message,
      ...(verdict.remedy === undefined ? {} : { remedy: verdict.remedy }),
      ...(verdict.observed === undefined ? {} : { observed: verdict.observed }),
    });
  };
  for (const probe of probes) {
    const { node } = probe;
    if (probe.error !== undefined) {
      checks.push(errorCheck('redis:latency', node, probe.error));
      continue;
    }
    add('redis:latency', node, latencyVerdict(probe.samples, thresholds));
    const info = probe.info!;
    add('redis:memory', node, memoryVerdict(info, thresholds));
    add('redis:fragmentation', node, evaluateFragmentation(info, thresholds.values.fragmentationWarn, thresholds.keys.fragmentationWarn));
    add('redis:evictions', node, evaluateEvictions(info, thresholds.values.evictionsWarn, thresholds.keys.evictionsWarn));
    add('redis:rejected-connections', node, evaluateRejectedConnections(info, thresholds.values.rejectedConnectionsWarn, thresholds.keys.rejectedConnectionsWarn));
    add('redis:blocked-clients', node, evaluateBlockedClients(info, thresholds.values.blockedClientsWarn, thresholds.keys.blockedClientsWarn));
    add('redis:replication', node, evaluateReplication(info, primaryViewOf(node, info, infoById), thresholds));
    if (probe.clusterInfo !== undefined) add('redis:cluster', node, evaluateClusterInfo(probe.clusterInfo));
  }
  if (topology.sentinel !== undefined) {
    for (const result of await sentinelQuorum(nodes, sentinels, topology.sentinel.name, topology.sentinel.quorum)) {
      const node = sentinels.find((candidate) => candidate.id === result.node)!;
      if (result.verdict === undefined) checks.push(errorCheck('redis:sentinel', node, result.error));
      else add('redis:sentinel', node, result.verdict);
    }
  }
  const order = (check: HealthCheck) => HEALTH_CHECKS.indexOf(check.name);
  checks.sort((a, b) => order(a) - order(b));
  return {
    status: worst(checks),
    mode: topology.mode,
    target: topology.target,
    time: new Date(options.clock.now()).toISOString(),
    checks,
  };
}

/**
 * SENTINEL CKQUORUM on each Sentinel (concurrently): a verdict from its answer, or the error
 * when the Sentinel itself could not be asked.
 */
export async function sentinelQuorum(
  nodes: RedisNodes,
  sentinels: readonly { host: string; port: number; id: string }[],
  name: string,
  quorum: number | undefined,
): Promise<{ node: string; verdict?: Verdict; error?: unknown }[]> {
  return Promise.all(sentinels.map(async (node) => {
    try {
      const reply = await nodes.run(node, 'sentinel', (client) => client.call('SENTINEL', 'CKQUORUM', name));
      return { node: node.id, verdict: evaluateQuorum(String(reply), undefined, name, quorum) };
    } catch (error) {
      // NOQUORUM is an answer, not a failure to ask.
      if (isOpsError(error) && error.code === 'REDIS_COMMAND_FAILED') {
        return { node: node.id, verdict: evaluateQuorum(undefined, error.message.replace(/^.*rejected( SENTINEL)?:\s*/, ''), name, quorum) };
      }
      return { node: node.id, error };
    }
  }));
}

/** fail beats warn beats pass; skips do not count. */
export function worst(checks: readonly { status: CheckStatus }[]): HealthStatus {
  if (checks.some((check) => check.status === 'fail')) return 'fail';
  if (checks.some((check) => check.status === 'warn')) return 'warn';
  return 'pass';
}

function errorCheck(name: HealthCheckName, node: TopologyNode, error: unknown): HealthCheck {
  return {
    name,
    node: node.id,
    role: node.role,
    status: 'fail',
    message: error instanceof Error ? error.message : String(error),
    ...(isOpsError(error) && error.hint !== undefined ? { remedy: error.hint } : {}),
    ...(isOpsError(error) ? { code: error.code } : {}),
  };
}

/**
 * For a replica: its primary's offset and the primary's line about this replica, found by the
 * address the topology knows it by (or by port alone when that is unambiguous, for replicas
 * announcing another address than the one their primary sees).
 */
function primaryViewOf(node: TopologyNode, info: Record<string, string>, infoById: Map<string, Record<string, string>>) {
  if (info.role !== 'slave') return undefined;
  const primary = infoById.get(`${info.master_host}:${info.master_port}`);
  if (primary === undefined) return undefined;
  const links = parseReplicaLinks(primary);
  const samePort = links.filter((candidate) => candidate.port === node.port);
  const link = samePort.find((candidate) => candidate.host === node.host) ?? (samePort.length === 1 ? samePort[0] : undefined);
  return { primaryOffset: num(primary, 'master_repl_offset'), link };
}

interface DataProbe {
  node: TopologyNode;
  samples: number[];
  info?: Record<string, string>;
  clusterInfo?: Record<string, string>;
  error?: unknown;
}

async function probeDataNode(nodes: RedisNodes, node: TopologyNode, mode: Topology['mode'], pings: number, clock: Clock): Promise<DataProbe> {
  try {
    return await nodes.run(node, 'data', async (client) => {
      const samples: number[] = [];
      for (let i = 0; i < pings; i += 1) {
        const before = clock.monotonic();
        await client.ping();
        samples.push(clock.monotonic() - before);
      }
      const info = flattenInfo(parseInfoSections(await client.info()));
      const clusterInfo = mode === 'cluster' ? flattenInfo(parseInfoSections((await client.call('CLUSTER', 'INFO')) as string)) : undefined;
      return { node, samples, info, ...(clusterInfo === undefined ? {} : { clusterInfo }) };
    });
  } catch (error) {
    return { node, samples: [], error };
  }
}
