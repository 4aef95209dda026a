import type { Clock } from '../core/clock.js';
import { OpsError } from '../core/errors.js';
import { formatDuration } from '../core/parse.js';
import { pairsToRecord } from './info.js';
import type { RedisNodes, Topology } from './topology.js';

/**
 * `opsctl redis failover`: an operator-initiated failover. (How clients ride through a
 * failover is src/redis/failover-policy.ts; this module only starts one and waits for it.)
 */

/** What a manual failover will do, computed before anything is sent (`--dry-run` prints it). */
export interface FailoverPlan {
  mode: 'sentinel' | 'cluster';
  /** The primary that steps down. */
  from: string;
  /** The replica promoted; for Sentinel, the Sentinels elect it (undefined here). */
  to: string | undefined;
  /** The node the command is sent to. */
  via: string;
  /** The command, as sent. */
  command: string;
}

export interface FailoverResult extends FailoverPlan {
  /** The primary after the failover. */
  newPrimary: string;
  /** From sending the command to seeing the new primary. */
  ms: number;
}

/**
 * Plans a manual failover. Sentinel: `SENTINEL FAILOVER <name>` to the first Sentinel (the
 * Sentinels pick the replica, so `--to` is refused). Cluster: `CLUSTER FAILOVER` on the replica
 * named by `to` (required: a cluster has one primary per slot range). Standalone: a usage error.
 */
export function planFailover(topology: Topology, to: string | undefined, configKey: string): FailoverPlan {
  if (topology.mode === 'sentinel') {
    if (to !== undefined) {
      throw new OpsError('USAGE', '--to applies to clusters: the Sentinels elect the new primary themselves', {
        hint: 'to steer their choice, lower replica-priority (CONFIG SET replica-priority) on the replicas you do not want, then run without --to',
      });
    }
    const primary = topology.nodes.find((node) => node.role === 'primary')!;
    const sentinel = topology.nodes.find((node) => node.role === 'sentinel')!;
    return { mode: 'sentinel', from: primary.id, to: undefined, via: sentinel.id, command: `SENTINEL FAILOVER ${topology.sentinel!.name}` };
  }
  if (topology.mode === 'cluster') {
    const replicas = topology.nodes.filter((node) => node.role === 'replica');
    const list = replicas.map((node) => `${node.id} (of ${node.primary ?? '?'})`).join(', ') || 'none';
    if (to === undefined) {
      throw new OpsError('USAGE', "a cluster failover needs --to <replica>: the replica that takes over its primary's slots", {
        hint: `replicas: ${list}`,
      });
    }
    const target = topology.nodes.find((node) => node.id === to);
    if (target === undefined || target.role !== 'replica') {
      throw new OpsError('USAGE', target === undefined ? `${to} is not a node of this cluster` : `${to} is a primary, not a replica`, {
        hint: `--to names a replica (host:port): ${list}`,
      });
    }
    return { mode: 'cluster', from: target.primary ?? '?', to: target.id, via: target.id, command: 'CLUSTER FAILOVER' };
  }
  throw new OpsError('USAGE', 'failover needs a Sentinel or Cluster deployment; this profile points at a standalone server', {
    hint: `set ${configKey}.mode to sentinel or cluster, or promote a replica by hand (REPLICAOF NO ONE)`,
  });
}

const POLL_MS = 100;

/**
 * Sends the planned command and waits until the new primary is visible: Sentinel reports
 * another address for the master name, or the cluster replica reports role master. Bounded by
 * `timeoutMs` (REDIS_TIMEOUT after that: the failover may still complete later).
 */
export async function executeFailover(
  nodes: RedisNodes,
  topology: Topology,
  plan: FailoverPlan,
  options: { clock: Clock; timeoutMs: number; signal?: AbortSignal },
): Promise<FailoverResult> {
  const via = topology.nodes.find((node) => node.id === plan.via)!;
  const started = options.clock.monotonic();
  let current: () => Promise<string | undefined>;
  if (plan.mode === 'sentinel') {
    const name = topology.sentinel!.name;
    await nodes.run(via, 'sentinel', (client) => client.call('SENTINEL', 'FAILOVER', name));
    // SENTINEL MASTER changes address at +switch-master, when the failover is complete
    // (GET-MASTER-ADDR-BY-NAME already answers with the promoted replica half-way through).
    current = async () => {
      const master = pairsToRecord(await nodes.run(via, 'sentinel', (client) => client.call('SENTINEL', 'MASTER', name)));
      const address = `${master.ip}:${master.port}`;
      return address === plan.from ? undefined : address;
    };
  } else {
    await nodes.run(via, 'data', (client) => client.call('CLUSTER', 'FAILOVER'));
    current = async () => {
      const role = (await nodes.run(via, 'data', (client) => client.call('ROLE'))) as unknown[];
      return role[0] === 'master' ? plan.to : undefined;
    };
  }
  for (;;) {
    options.signal?.throwIfAborted();
    const primary = await current().catch(() => undefined);
    const ms = options.clock.monotonic() - started;
    if (primary !== undefined) return { ...plan, newPrimary: primary, ms: Math.round(ms) };
    if (ms > options.timeoutMs) {
      throw new OpsError('REDIS_TIMEOUT', `the failover of ${plan.from} did not complete within ${formatDuration(options.timeoutMs)}`, {
        hint: plan.mode === 'sentinel'
          ? 'it may still complete: watch `opsctl redis topology`; check the Sentinel logs (another failover in progress? no good replica?)'
          : 'it may still complete: watch `opsctl redis topology`; CLUSTER FAILOVER needs the primary reachable (use FORCE by hand if it is down)',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
