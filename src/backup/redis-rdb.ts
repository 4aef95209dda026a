import { OpsError, isOpsError } from '../core/errors.js';
import { noProgress } from '../core/progress.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import { findExecutable } from '../postgres/tools.js';
import { redisCli } from '../redis/explain.js';
import { flattenInfo, parseInfoSections } from '../redis/info.js';
import { discoverTopology, nodeConfig, primaries, type RedisNodes, type TopologyNode } from '../redis/topology.js';
import { runBackupJob, type BackupJobResult, type BackupRunOptions } from './backup-job.js';
import { childStage, resolveCodec } from './compression.js';
import { storeToolOutput } from './pg-logical.js';
import { settleAll } from './streams.js';
import type { ObjectRecord } from './types.js';

export interface RedisBackupOptions extends BackupRunOptions {
  /** Connections to the profile's deployment (the caller closes them). */
  nodes: RedisNodes;
  tracer?: Tracer;
}

/** redis-cli's words for a server that went away or never answered. */
const LOST_CONNECTION = /could not connect|connection refused|connection reset|i\/o error|error reading|server closed|unexpected eof|broken pipe|timed out/i;

/**
 * Backs up every primary of the profile's deployment (the one server of a standalone profile,
 * Sentinel's current primary, every Cluster primary): `redis-cli --rdb -` streams the node's RDB
 * (a replication SYNC, so the server forks a snapshot) through the repository's compression,
 * encryption and hashing. Each object records the node, its replication id and offset read just
 * before the snapshot, and its Cluster slots. A node lost mid-backup is REDIS_UNREACHABLE and
 * leaves no manifest.
 */
export async function runRedisBackup(options: RedisBackupOptions): Promise<BackupJobResult> {
  const env = options.env ?? process.env;
  const tracer = options.tracer ?? silentTracer;
  const repo = options.repository;
  const cliFound = findExecutable('redis-cli', env);
  const codecFound = resolveCodec(options.compression, env);
  cliFound.catch(() => undefined);
  codecFound.catch(() => undefined);
  return runBackupJob(
    {
      repository: repo,
      kind: 'redis',
      ...(options.label === undefined ? {} : { label: options.label }),
      ...(options.set === undefined ? {} : { set: options.set }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      progress: options.progress ?? noProgress,
    },
    async (job) => {
      const cli = await cliFound;
      if (cli === undefined) {
        throw new OpsError('TOOL_NOT_FOUND', 'redis-cli not found on PATH', { hint: 'install it (apt-get install redis-tools)', details: { tool: 'redis-cli' } });
      }
      const codec = await codecFound;
      const topology = await discoverTopology(options.nodes);
      // A standalone profile names one server: back it up whatever its role.
      const targets = topology.mode === 'standalone' ? topology.nodes : primaries(topology);
      if (targets.length === 0) throw new OpsError('REDIS_UNREACHABLE', `${topology.target}: no primary found to back up`);
      const backupNode = async (node: TopologyNode, signal: AbortSignal): Promise<ObjectRecord> => {
        const info = flattenInfo(parseInfoSections(await options.nodes.run(node, 'data', (client) => client.info())));
        const path = `redis-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.rdb${codec.extension}${repo.encrypted ? '.age' : ''}`;
        const invocation = redisCli(options.nodes.config, options.nodes.configKey, node, 'data', ['--rdb', '-']);
        tracer.record('exec', `redis-cli ${invocation.args.join(' ')} → ${codec.algorithm} → ${repo.encrypted ? 'age' : 'plain'} → ${path}`);
        const password = nodePassword(options.nodes, node);
        const stored = await storeToolOutput({
          repo,
          backupId: job.id,
          path,
          codec,
          producer: () => childStage(cli, invocation.args, `redis-cli --rdb (${node.id})`, { env: { ...env, ...(password === undefined ? {} : { REDISCLI_AUTH: password }) } }),
          signal,
          onBytes: job.onBytes(path),
        }).catch((error: unknown) => {
          if (isOpsError(error) && error.code === 'TOOL_FAILED' && LOST_CONNECTION.test(error.message)) {
            throw new OpsError('REDIS_UNREACHABLE', `${node.id}: the connection was lost during the RDB transfer: ${error.message}`, {
              hint: 'check that the server is up; this run left no backup',
              cause: error,
            });
          }
          throw error;
        });
        return {
          ...stored.record,
          role: 'redis-rdb',
          format: 'rdb',
          redis: {
            node: node.id,
            redisVersion: info.redis_version ?? '',
            replId: info.master_replid ?? '',
            replOffset: Number(info.master_repl_offset ?? 0),
            ...(node.slots === undefined ? {} : { slots: node.slots }),
          },
        };
      };
      // Every primary at once: each SYNC waits the server's repl-diskless-sync-delay (5 s by
      // default) before the snapshot starts, so one after another a Cluster would wait N times.
      const controller = new AbortController();
      const onAbort = () => controller.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const records: ObjectRecord[] = [];
      try {
        await settleAll(
          targets.map(async (node, index) => {
            records[index] = await backupNode(node, controller.signal);
          }),
          () => controller.abort(),
        );
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
      for (const record of records) job.add(record);
      const version = records[0]?.redis?.redisVersion ?? '';
      return { server: `${topology.mode} ${topology.target}`, serverVersion: version };
    },
  );
}

/** The data-node password of the profile (config key or URL), for REDISCLI_AUTH. */
function nodePassword(nodes: RedisNodes, node: TopologyNode): string | undefined {
  const config = nodeConfig(nodes.config, node, 'data');
  if (config.password !== undefined) return config.password;
  if (config.url === undefined) return undefined;
  const password = new URL(config.url).password;
  return password === '' ? undefined : decodeURIComponent(password);
}
