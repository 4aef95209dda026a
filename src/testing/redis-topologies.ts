import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { OpsError } from '../core/errors.js';
import { findExecutable } from '../postgres/tools.js';
import { freePort } from './ports.js';
import { pollUntilReady, redisQuery, type RespValue } from './ready.js';
import { baseRedisArgs, launchRedisProcess, type RedisServer } from './redis.js';

const execFileAsync = promisify(execFile);

export interface StartRedisSentinelOptions {
  /** Replicas of the primary (default 1). */
  replicas?: number;
  /** Sentinel processes (default 3); the quorum is a majority of them. */
  sentinels?: number;
  /** Master name the Sentinels monitor (default `mymaster`). */
  masterName?: string;
  /** `sentinel down-after-milliseconds` (default 1000). */
  downAfterMs?: number;
  /** `sentinel failover-timeout` (default 5000). */
  failoverTimeoutMs?: number;
  /** `requirepass` on the primary and replicas (the replicas get `masterauth`, Sentinels `auth-pass`). */
  password?: string;
}

/** A primary, its replicas and the Sentinels monitoring them, all on loopback. */
export interface RedisSentinelTopology {
  masterName: string;
  /** The primary at start-up (a failover moves the role; ask the Sentinels for the current one). */
  primary: RedisServer;
  replicas: RedisServer[];
  /** The Sentinel processes (their port is the Sentinel port). */
  sentinels: RedisServer[];
  /** host/port of each Sentinel, the shape of a profile's `redis.sentinel.nodes`. */
  sentinelNodes: { host: string; port: number }[];
  /** Stops every process of the topology and removes their directories; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Sentinel topology: a primary, replicas (`replicaof`) in sync with it, and Sentinels
 * (`redis-server <conf> --sentinel` with `sentinel monitor`). Resolves once every Sentinel
 * sees the primary, every replica and every other Sentinel, so a failover can start at once.
 */
export async function startRedisSentinel(options: StartRedisSentinelOptions = {}): Promise<RedisSentinelTopology> {
  const masterName = options.masterName ?? 'mymaster';
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const downAfterMs = options.downAfterMs ?? 1000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 5000;
  const password = options.password;
  const started: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
    const primary = await launchRedisProcess({
      name: 'redis-server (primary)',
      ...(password === undefined ? {} : { password }),
      args: (port, dir) => [...baseRedisArgs(port, dir), ...auth],
    });
    started.push(primary);
    const replicas = await Promise.all(
      Array.from({ length: replicaCount }, () =>
        launchRedisProcess({
          name: 'redis-server (replica)',
          ...(password === undefined ? {} : { password }),
          args: (port, dir) => [...baseRedisArgs(port, dir), ...auth, '--replicaof', '127.0.0.1', String(primary.port)],
        }).then((server) => (started.push(server), server)),
      ),
    );
    await Promise.all(replicas.map((replica) => waitReplicaInSync(replica.port, password)));

    const quorum = Math.floor(sentinelCount / 2) + 1;
    const sentinels = await Promise.all(
      Array.from({ length: sentinelCount }, () =>
        launchRedisProcess({
          name: 'redis-sentinel',
          // Sentinel rewrites its config file, so it must be a file of its own.
          conf: (port) =>
            [
              `port ${port}`,
              'bind 127.0.0.1',
              `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${quorum}`,
              `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
              `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
              `sentinel parallel-syncs ${masterName} 1`,
              ...(password === undefined ? [] : [`sentinel auth-pass ${masterName} ${password}`]),
              '',
            ].join('\n'),
          args: (_port, dir) => ['--sentinel', '--dir', dir],
        }).then((server) => (started.push(server), server)),
      ),
    );
    await Promise.all(
      sentinels.map((sentinel) =>
        pollUntilReady(
          async () => {
            const replicasSeen = fieldsList(await redisQuery(sentinel.port, ['SENTINEL', 'REPLICAS', masterName]));
            const healthy = replicasSeen.filter((r) => !/s_down|o_down|disconnected/.test(r.flags ?? ''));
            const peers = fieldsList(await redisQuery(sentinel.port, ['SENTINEL', 'SENTINELS', masterName]));
            if (healthy.length < replicaCount || peers.length < sentinelCount - 1) {
              throw new Error(`sees ${healthy.length}/${replicaCount} replicas and ${peers.length}/${sentinelCount - 1} other sentinels`);
            }
          },
          { name: `sentinel 127.0.0.1:${sentinel.port}`, timeoutMs: 20_000 },
        ),
      ),
    );
    return {
      masterName,
      primary,
      replicas,
      sentinels,
      sentinelNodes: sentinels.map((sentinel) => ({ host: sentinel.host, port: sentinel.port })),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface StartRedisClusterOptions {
  /** Primaries sharing the 16384 slots (default 3; 1 or 2 are joined by hand, redis-cli wants 3). */
  primaries?: number;
  /** Replicas per primary (default 1). */
  replicasPerPrimary?: number;
  /** `cluster-node-timeout` (default 2000 ms: a failover within seconds). */
  nodeTimeoutMs?: number;
  /** `requirepass` and `masterauth` on every node. */
  password?: string;
}

/** A Redis Cluster on loopback. */
export interface RedisClusterTopology {
  /** Every node, primaries first as created (a failover moves roles). */
  nodes: RedisServer[];
  /** host/port of every node, the shape of a profile's `redis.cluster.nodes`. */
  seeds: { host: string; port: number }[];
  /** Stops every node and removes their directories; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster with `redis-cli --cluster create … --cluster-replicas N`. Resolves
 * once every node reports `cluster_state:ok`, knows every other node, and every replica is in
 * sync with its primary (so a failover can promote it).
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisClusterTopology> {
  const primaries = options.primaries ?? 3;
  const replicasPerPrimary = options.replicasPerPrimary ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000;
  const password = options.password;
  const cli = await findExecutable('redis-cli');
  if (cli === undefined) {
    throw new OpsError('TOOL_NOT_FOUND', 'redis-cli not found on PATH', { hint: 'install Redis: apt-get install redis-tools' });
  }
  const started: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    const total = primaries * (1 + replicasPerPrimary);
    const nodes = await Promise.all(
      Array.from({ length: total }, async () => {
        const server = await launchClusterNode(nodeTimeoutMs, password);
        started.push(server);
        return server;
      }),
    );
    if (primaries >= 3) await createWithRedisCli(cli, nodes, replicasPerPrimary, password);
    else await createByHand(nodes, primaries, replicasPerPrimary, password);
    await Promise.all(
      nodes.map((node) =>
        pollUntilReady(
          async () => {
            const info = String(await redisQuery(node.port, ['CLUSTER', 'INFO'], pass(password)));
            const state = /cluster_state:(\w+)/.exec(info)?.[1];
            const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]);
            if (state !== 'ok' || known !== total) throw new Error(`cluster_state:${state}, knows ${known}/${total} nodes`);
            const replication = String(await redisQuery(node.port, ['INFO', 'replication'], pass(password)));
            if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) throw new Error('replica not in sync yet');
          },
          { name: `cluster node 127.0.0.1:${node.port}`, timeoutMs: 30_000 },
        ),
      ),
    );
    return { nodes, seeds: nodes.map((node) => ({ host: node.host, port: node.port })), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One cluster-enabled redis-server, with a bus port of its own. */
async function launchClusterNode(nodeTimeoutMs: number, password: string | undefined): Promise<RedisServer> {
  for (let attempt = 1; ; attempt += 1) {
    // The bus port defaults to port + 10000, which may be taken or above 65535.
    const busPort = await freePort();
    try {
      return await launchRedisProcess({
        name: 'redis-server (cluster)',
        ...(password === undefined ? {} : { password }),
        args: (port, dir) => [
          ...baseRedisArgs(port, dir),
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(nodeTimeoutMs),
          '--cluster-port', String(busPort),
          '--cluster-announce-ip', '127.0.0.1',
          ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
        ],
      });
    } catch (error) {
      // Someone took the bus port meanwhile: launchRedisProcess only picks a new client port.
      if (attempt < 3 && /address already in use/i.test((error as Error).message)) continue;
      throw error;
    }
  }
}

/** `redis-cli --cluster create`: what operators run; it needs at least 3 primaries. */
async function createWithRedisCli(cli: string, nodes: readonly RedisServer[], replicasPerPrimary: number, password: string | undefined): Promise<void> {
  try {
    await execFileAsync(
      cli,
      [
        ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']),
        '--cluster', 'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas', String(replicasPerPrimary),
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
  } catch (error) {
    const output = (error as { stdout?: string }).stdout ?? '';
    throw new Error(`redis-cli --cluster create failed: ${(error as Error).message}\n${output.split('\n').slice(-15).join('\n')}`, { cause: error });
  }
}

/**
 * Smaller clusters (one or two primaries, which redis-cli refuses): CLUSTER ADDSLOTSRANGE on
 * each primary, CLUSTER MEET to join, CLUSTER REPLICATE once a replica knows its primary.
 */
async function createByHand(nodes: readonly RedisServer[], primaries: number, replicasPerPrimary: number, password: string | undefined): Promise<void> {
  const auth = pass(password);
  const per = Math.ceil(16384 / primaries);
  const ids: string[] = [];
  for (let i = 0; i < primaries; i += 1) {
    const node = nodes[i]!;
    await redisQuery(node.port, ['CLUSTER', 'ADDSLOTSRANGE', String(i * per), String(Math.min(16383, (i + 1) * per - 1))], auth);
    ids.push(String(await redisQuery(node.port, ['CLUSTER', 'MYID'], auth)));
  }
  for (const node of nodes.slice(1)) await redisQuery(node.port, ['CLUSTER', 'MEET', '127.0.0.1', String(nodes[0]!.port)], auth);
  for (let r = 0; r < primaries * replicasPerPrimary; r += 1) {
    const replica = nodes[primaries + r]!;
    const primaryId = ids[r % primaries]!;
    await pollUntilReady(() => redisQuery(replica.port, ['CLUSTER', 'REPLICATE', primaryId], auth).then(() => undefined), {
      name: `cluster replica 127.0.0.1:${replica.port}`,
      timeoutMs: 15_000,
    });
  }
}

function pass(password: string | undefined): { password?: string } {
  return password === undefined ? {} : { password };
}

async function waitReplicaInSync(port: number, password: string | undefined): Promise<void> {
  await pollUntilReady(
    async () => {
      const info = String(await redisQuery(port, ['INFO', 'replication'], pass(password)));
      if (!/master_link_status:up/.test(info)) throw new Error('master_link_status is not up');
    },
    { name: `replica 127.0.0.1:${port}`, timeoutMs: 20_000 },
  );
}

/** SENTINEL REPLICAS/SENTINELS replies: a list of flat field/value arrays, as objects. */
function fieldsList(reply: RespValue): Record<string, string>[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((item) => {
    const record: Record<string, string> = {};
    if (Array.isArray(item)) for (let i = 0; i + 1 < item.length; i += 2) record[String(item[i])] = String(item[i + 1]);
    return record;
  });
}
