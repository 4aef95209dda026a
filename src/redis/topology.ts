import type { Redis } from 'ioredis';
import { OpsError, isOpsError } from '../core/errors.js';
import { formatHostPort } from '../core/net-errors.js';
import type { Tracer } from '../core/trace.js';
import type { RedisConfig } from '../config/schema.js';
import { createRedisClient, describeRedisTarget, redisError } from './connection.js';
import { pairsToRecord, parseClusterNodes, parseInfoSections, flattenInfo, type ClusterNodeEntry, type SlotRange } from './info.js';

export interface NodeAddress {
  host: string;
  port: number;
}

/** What a node is in its deployment. */
export type NodeRole = 'primary' | 'replica' | 'sentinel';

/** One server of the deployment: data node (primary/replica) or Sentinel. */
export interface TopologyNode {
  /** `host:port`, as every command prints it. */
  id: string;
  host: string;
  port: number;
  role: NodeRole;
  /** `host:port` of the primary this replica follows. */
  primary?: string;
  /** Cluster node id. */
  clusterId?: string;
  /** Cluster hash slots served (primaries). */
  slots?: SlotRange[];
  /** Flags as the deployment reports them (`s_down`, `fail?`, `disconnected`, …), when abnormal. */
  flags?: string[];
}

/** The deployment as discovered from the servers themselves, not only from the config. */
export interface Topology {
  mode: 'standalone' | 'sentinel' | 'cluster';
  /** describeRedisTarget of the config. */
  target: string;
  nodes: TopologyNode[];
  /** Sentinel mode: the monitored master's name and the quorum Sentinel reports. */
  sentinel?: { name: string; quorum: number };
  /** Cluster mode: `CLUSTER NODES` as the answering seed sees it. */
  cluster?: { seed: string; entries: ClusterNodeEntry[] };
}

/**
 * Connections to individual nodes of the profile's deployment, made by the connection factory
 * (same credentials, TLS and timeouts as the profile) and cached per node. Sentinels get the
 * `sentinel.username/password`. Closed together by close().
 */
export class RedisNodes {
  readonly #clients = new Map<string, Promise<Redis>>();

  constructor(
    readonly config: RedisConfig,
    readonly configKey: string,
    private readonly tracer?: Tracer,
  ) {}

  /** A connected client to one node; throws the factory's OpsError (unreachable, auth, timeout). */
  async connect(node: NodeAddress, kind: 'data' | 'sentinel' = 'data'): Promise<Redis> {
    const key = `${kind}/${formatHostPort(node.host, node.port)}`;
    let client = this.#clients.get(key);
    // Kept across the shell's lines: a connection that gave up reconnecting is replaced.
    if (client !== undefined && (await client.catch(() => undefined))?.status === 'end') {
      this.#clients.delete(key);
      client = undefined;
    }
    if (client === undefined) {
      client = createRedisClient(nodeConfig(this.config, node, kind), { configKey: this.configKey, tracer: this.tracer }) as Promise<Redis>;
      // A failed connection is not cached: a later call (health --watch) tries again.
      client.catch(() => this.#clients.delete(key));
      this.#clients.set(key, client);
    }
    return client;
  }

  /** Runs `work` on one node and maps any failure to an OpsError naming the node. */
  async run<T>(node: NodeAddress, kind: 'data' | 'sentinel', work: (client: Redis) => Promise<T>): Promise<T> {
    const client = await this.connect(node, kind);
    try {
      return await work(client);
    } catch (error) {
      throw isOpsError(error) ? error : redisError(client, error);
    }
  }

  /**
   * Disconnects every node. Does not wait for connections still being made (a node that stopped
   * answering holds one for connectTimeout): those are disconnected when they settle, so Ctrl-C
   * ends a command at once. disconnect, not QUIT: these connections only inspect, and QUIT to a
   * hung node would wait for commandTimeout.
   */
  close(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    for (const pending of clients) pending.then((client) => client.disconnect(), () => undefined);
    return Promise.resolve();
  }
}

/** The address of a standalone profile (url or host/port), without credentials. */
export function standaloneNode(config: RedisConfig): NodeAddress {
  let host = config.host;
  let port = config.port;
  if (config.url !== undefined) {
    const url = new URL(config.url);
    host ??= url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined;
    port ??= url.port === '' ? undefined : Number(url.port);
  }
  return { host: host ?? 'localhost', port: port ?? 6379 };
}

/**
 * The profile's settings aimed at one node, as a standalone connection: URL credentials and
 * TLS carried over, Sentinels with their own credentials and no database.
 */
export function nodeConfig(config: RedisConfig, node: NodeAddress, kind: 'data' | 'sentinel'): RedisConfig {
  // The configured standalone server itself: keep the section as written, so errors name the
  // key the operator wrote (`…redis.url`), not a `host` that is not in the file.
  if (config.mode === 'standalone' && kind === 'data') {
    const configured = standaloneNode(config);
    if (configured.host === node.host && configured.port === node.port) return config;
  }
  let username = config.username;
  let password = config.password;
  let db = config.db;
  let tls = config.tls;
  if (config.url !== undefined) {
    const url = new URL(config.url);
    username ??= url.username === '' ? undefined : decodeURIComponent(url.username);
    password ??= url.password === '' ? undefined : decodeURIComponent(url.password);
    const path = url.pathname.replace(/^\//, '');
    if (db === undefined && /^\d+$/.test(path)) db = Number(path);
    if (tls === undefined && url.protocol === 'rediss:') tls = { enabled: true, rejectUnauthorized: true };
  }
  const base = { ...config, mode: 'standalone' as const, url: undefined, host: node.host, port: node.port, sentinel: undefined, cluster: undefined, tls };
  if (kind === 'sentinel') return { ...base, username: config.sentinel?.username, password: config.sentinel?.password, db: undefined };
  // A cluster node has only database 0.
  return { ...base, username, password, db: config.mode === 'cluster' ? undefined : db };
}

const nodeId = (host: string, port: number) => formatHostPort(host, port);

/**
 * Asks the deployment what it consists of: standalone → the one server; Sentinel → the
 * master, its replicas and the Sentinels as the Sentinels report them; Cluster → every node of
 * `CLUSTER NODES` with its slots. Throws an OpsError when no seed answers, or when the
 * Sentinels do not know the configured master name.
 */
export async function discoverTopology(nodes: RedisNodes): Promise<Topology> {
  const config = nodes.config;
  const target = describeRedisTarget(config);
  if (config.mode === 'sentinel' && config.sentinel !== undefined) return discoverSentinel(nodes, target);
  if (config.mode === 'cluster' && config.cluster !== undefined) return discoverCluster(nodes, target);
  const address = standaloneNode(config);
  const info = flattenInfo(parseInfoSections(await nodes.run(address, 'data', (client) => client.info('replication'))));
  return {
    mode: 'standalone',
    target,
    nodes: [{
      id: nodeId(address.host, address.port),
      ...address,
      role: info.role === 'slave' ? 'replica' : 'primary',
      ...(info.role === 'slave' ? { primary: nodeId(info.master_host ?? '?', Number(info.master_port ?? 0)) } : {}),
    }],
  };
}

/** Flags worth showing: anything but the normal `master`/`slave`/`sentinel`/`myself`. */
function abnormal(flags: readonly string[]): string[] | undefined {
  const rest = flags.filter((flag) => !['master', 'slave', 'sentinel', 'myself', ''].includes(flag));
  return rest.length === 0 ? undefined : rest;
}

async function discoverSentinel(nodes: RedisNodes, target: string): Promise<Topology> {
  const sentinel = nodes.config.sentinel!;
  const name = sentinel.name;
  let lastError: unknown;
  let knownMasters: string[] | undefined;
  for (const seed of sentinel.nodes) {
    try {
      const answer = await nodes.run(seed, 'sentinel', async (client) => {
        const master = await client.call('SENTINEL', 'MASTER', name).catch(async (error: unknown) => {
          if (error instanceof Error && /no such master/i.test(error.message)) {
            const masters = (await client.call('SENTINEL', 'MASTERS')) as unknown[];
            knownMasters = masters.map((entry) => pairsToRecord(entry).name ?? '?');
            return undefined;
          }
          throw error;
        });
        if (master === undefined) return undefined;
        const [replicas, others] = await Promise.all([
          client.call('SENTINEL', 'REPLICAS', name) as Promise<unknown[]>,
          client.call('SENTINEL', 'SENTINELS', name) as Promise<unknown[]>,
        ]);
        return { master: pairsToRecord(master), replicas: replicas.map(pairsToRecord), others: others.map(pairsToRecord) };
      });
      if (answer === undefined) continue;
      const primaryId = nodeId(answer.master.ip ?? '?', Number(answer.master.port ?? 0));
      const list: TopologyNode[] = [{
        id: primaryId,
        host: answer.master.ip ?? '?',
        port: Number(answer.master.port ?? 0),
        role: 'primary',
        ...withFlags(answer.master.flags),
      }];
      for (const replica of answer.replicas) {
        list.push({
          id: nodeId(replica.ip ?? '?', Number(replica.port ?? 0)),
          host: replica.ip ?? '?',
          port: Number(replica.port ?? 0),
          role: 'replica',
          primary: primaryId,
          ...withFlags(replica.flags),
        });
      }
      // The configured Sentinels first (in config order), then any others they know of.
      const sentinels = new Map<string, TopologyNode>();
      const answering = nodeId(seed.host, seed.port);
      for (const node of sentinel.nodes) sentinels.set(nodeId(node.host, node.port), { id: nodeId(node.host, node.port), host: node.host, port: node.port, role: 'sentinel' });
      for (const other of answer.others) {
        const id = nodeId(other.ip ?? '?', Number(other.port ?? 0));
        const flags = withFlags(other.flags);
        const known = sentinels.get(id);
        if (known) Object.assign(known, flags);
        else if (id !== answering) sentinels.set(id, { id, host: other.ip ?? '?', port: Number(other.port ?? 0), role: 'sentinel', ...flags });
      }
      return { mode: 'sentinel', target, nodes: [...list, ...sentinels.values()], sentinel: { name, quorum: Number(answer.master.quorum ?? 0) } };
    } catch (error) {
      lastError = error;
    }
  }
  if (knownMasters !== undefined) {
    throw new OpsError('REDIS_UNREACHABLE', `the Sentinels at ${sentinel.nodes.map((n) => nodeId(n.host, n.port)).join(',')} do not know a master named "${name}"`, {
      hint: `set ${nodes.configKey}.sentinel.name to one of the names they monitor: ${knownMasters.join(', ') || '(none)'}`,
      details: { target, knownMasters },
    });
  }
  throw lastError ?? new OpsError('REDIS_UNREACHABLE', `no Sentinel of ${target} answered`);
}

function withFlags(flags: string | undefined): { flags?: string[] } {
  const odd = abnormal((flags ?? '').split(','));
  return odd === undefined ? {} : { flags: odd };
}

async function discoverCluster(nodes: RedisNodes, target: string): Promise<Topology> {
  let lastError: unknown;
  for (const seed of nodes.config.cluster!.nodes) {
    try {
      const text = (await nodes.run(seed, 'data', (client) => client.call('CLUSTER', 'NODES'))) as string;
      const entries = parseClusterNodes(text);
      const byId = new Map(entries.map((entry) => [entry.id, entry]));
      const list = entries
        // A node that never told its address (`:0`) cannot be contacted: shown in `cluster check` only.
        .filter((entry) => entry.host !== '' && entry.port !== 0 && !entry.flags.includes('noaddr'))
        .map((entry): TopologyNode => {
          const primary = entry.primaryId === undefined ? undefined : byId.get(entry.primaryId);
          return {
            id: nodeId(entry.host, entry.port),
            host: entry.host,
            port: entry.port,
            role: entry.flags.includes('master') ? 'primary' : 'replica',
            clusterId: entry.id,
            ...(entry.flags.includes('master') ? { slots: entry.slots } : {}),
            ...(primary === undefined ? {} : { primary: nodeId(primary.host, primary.port) }),
            ...(abnormal(entry.flags) === undefined ? {} : { flags: abnormal(entry.flags) }),
          };
        })
        // Primaries first (by first slot), each followed by nothing: the tree groups replicas.
        .sort((a, b) => (a.role === b.role ? (a.slots?.[0]?.[0] ?? 0) - (b.slots?.[0]?.[0] ?? 0) || a.id.localeCompare(b.id) : a.role === 'primary' ? -1 : 1));
      return { mode: 'cluster', target, nodes: list, cluster: { seed: nodeId(seed.host, seed.port), entries } };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError ?? new OpsError('REDIS_UNREACHABLE', `no seed of ${target} answered`);
}

/** The data nodes (primaries and replicas), in topology order. */
export function dataNodes(topology: Topology): TopologyNode[] {
  return topology.nodes.filter((node) => node.role !== 'sentinel');
}

/** The primaries: where writes and SCAN go. */
export function primaries(topology: Topology): TopologyNode[] {
  return topology.nodes.filter((node) => node.role === 'primary');
}
