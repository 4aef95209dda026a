import { OpsError } from '../core/errors.js';
import type { CheckStatus } from '../doctor/types.js';
import { countSlots, formatSlotRanges, parseClusterNodes, uncoveredSlots, type ClusterNodeEntry, type SlotRange } from './info.js';
import type { RedisNodes, Topology } from './topology.js';

/** One node's `CLUSTER NODES`, or why it could not be read. */
export interface ClusterView {
  node: string;
  entries?: ClusterNodeEntry[];
  error?: string;
}

export interface ClusterCheckResult {
  check: 'nodes-reachable' | 'slots-covered' | 'nodes-agree' | 'open-slots' | 'failed-nodes' | 'replicas';
  status: CheckStatus;
  detail: string;
  remedy?: string;
}

const addressOf = (entry: ClusterNodeEntry) => `${entry.host}:${entry.port}`;

/** slot → owning node id, as ranges, for comparing views: `0-5460=abc…;5461-10922=def…`. */
function slotMapSignature(entries: readonly ClusterNodeEntry[]): string {
  return entries
    .filter((entry) => entry.flags.includes('master'))
    .flatMap((entry) => entry.slots.map(([first, last]) => ({ first, last, id: entry.id })))
    .sort((a, b) => a.first - b.first)
    .map((range) => `${range.first}-${range.last}=${range.id}`)
    .join(';');
}

/**
 * Judges a cluster from every node's own view (pure): all nodes answer; the 16384 slots are
 * all served by a primary that is not failed; every node sees the same slot → primary map;
 * no slot is half-way through a migration; no node is marked failed; every primary with slots
 * has at least one replica.
 */
export function evaluateCluster(views: readonly ClusterView[]): ClusterCheckResult[] {
  const results: ClusterCheckResult[] = [];
  const answered = views.filter((view) => view.entries !== undefined);
  const silent = views.filter((view) => view.entries === undefined);
  results.push(silent.length === 0
    ? { check: 'nodes-reachable', status: 'pass', detail: `${views.length} nodes answered CLUSTER NODES` }
    : {
        check: 'nodes-reachable',
        status: 'fail',
        detail: silent.map((view) => `${view.node}: ${view.error ?? 'no answer'}`).join('; '),
        remedy: 'bring the node back or remove it (CLUSTER FORGET on every other node)',
      });
  const reference = answered[0];
  if (reference === undefined) return results;
  const entries = reference.entries!;

  // Each node judges slots by its own view: a node that lost slots (CLUSTER DELSLOTS, a failed
  // primary it knows about) refuses commands for them even if its peers still route there.
  const gapsByText = new Map<string, { gaps: SlotRange[]; nodes: string[] }>();
  for (const view of answered) {
    const served: SlotRange[] = view.entries!.filter((e) => e.flags.includes('master') && !e.flags.includes('fail')).flatMap((e) => e.slots);
    const gaps = uncoveredSlots(served);
    if (gaps.length === 0) continue;
    const text = formatSlotRanges(gaps);
    const seen = gapsByText.get(text) ?? { gaps, nodes: [] };
    seen.nodes.push(view.node);
    gapsByText.set(text, seen);
  }
  results.push(gapsByText.size === 0
    ? { check: 'slots-covered', status: 'pass', detail: 'all 16384 slots served by a live primary' }
    : {
        check: 'slots-covered',
        status: 'fail',
        detail: [...gapsByText.entries()]
          .map(([text, { gaps, nodes }]) => `${countSlots(gaps)} slots not served by a live primary: ${text} (as ${nodes.join(', ')} see${nodes.length === 1 ? 's' : ''} it)`)
          .join('; '),
        remedy: 'assign them (redis-cli --cluster fix <node>, or CLUSTER ADDSLOTSRANGE on a primary), or bring their primary back',
      });

  const signature = slotMapSignature(entries);
  const disagree = answered.slice(1).filter((view) => slotMapSignature(view.entries!) !== signature);
  results.push(disagree.length === 0
    ? { check: 'nodes-agree', status: 'pass', detail: `${answered.length} nodes report the same slot map` }
    : {
        check: 'nodes-agree',
        status: 'fail',
        detail: `${disagree.map((view) => view.node).join(', ')} see${disagree.length === 1 ? 's' : ''} a different slot map than ${reference.node}`,
        remedy: 'wait a few seconds for gossip to converge; if it persists, run redis-cli --cluster fix <node>',
      });

  const open: string[] = [];
  for (const view of answered) {
    const myself = view.entries!.find((entry) => entry.flags.includes('myself'));
    if (myself === undefined) continue;
    for (const { slot, nodeId } of myself.migrating) open.push(`slot ${slot} migrating from ${view.node} to ${nodeLabel(entries, nodeId)}`);
    for (const { slot, nodeId } of myself.importing) open.push(`slot ${slot} importing into ${view.node} from ${nodeLabel(entries, nodeId)}`);
  }
  results.push(open.length === 0
    ? { check: 'open-slots', status: 'pass', detail: 'no slot is migrating or importing' }
    : {
        check: 'open-slots',
        status: 'fail',
        detail: open.join('; '),
        remedy: 'finish or roll back the resharding (redis-cli --cluster fix <node> closes open slots)',
      });

  const failed = new Map<string, string>();
  for (const view of answered) {
    for (const entry of view.entries!) {
      const flag = entry.flags.find((f) => f === 'fail' || f === 'fail?');
      if (flag !== undefined && !failed.has(entry.id)) failed.set(entry.id, `${addressOf(entry) || entry.id.slice(0, 8)} ${flag === 'fail' ? 'failed' : 'suspected (PFAIL)'} according to ${view.node}`);
    }
  }
  results.push(failed.size === 0
    ? { check: 'failed-nodes', status: 'pass', detail: 'no node is marked failed' }
    : {
        check: 'failed-nodes',
        status: 'fail',
        detail: [...failed.values()].join('; '),
        remedy: 'restart the node; once back it rejoins as a replica of its promoted replica',
      });

  const primaries = entries.filter((e) => e.flags.includes('master') && e.slots.length > 0);
  const counts = primaries.map((primary) => ({
    primary,
    replicas: entries.filter((e) => e.primaryId === primary.id && !e.flags.includes('fail')).length,
  }));
  const alone = counts.filter((count) => count.replicas === 0);
  const summary = counts.map((count) => `${addressOf(count.primary)}: ${count.replicas}`).join(', ');
  results.push(alone.length === 0
    ? { check: 'replicas', status: 'pass', detail: `replicas per primary: ${summary}` }
    : {
        check: 'replicas',
        status: 'warn',
        detail: `${alone.map((count) => addressOf(count.primary)).join(', ')} ha${alone.length === 1 ? 's' : 've'} no replica: a failure loses their slots (${summary})`,
        remedy: 'add a replica: redis-cli --cluster add-node <new> <existing> --cluster-slave --cluster-master-id <id>',
      });
  return results;
}

function nodeLabel(entries: readonly ClusterNodeEntry[], id: string): string {
  const entry = entries.find((candidate) => candidate.id === id);
  return entry === undefined ? id.slice(0, 8) : addressOf(entry);
}

/** Reads every node's `CLUSTER NODES` (concurrently) and judges them; a usage error when not a cluster. */
export async function checkCluster(nodes: RedisNodes, topology: Topology, configKey: string): Promise<ClusterCheckResult[]> {
  if (topology.mode !== 'cluster') {
    throw new OpsError('USAGE', `the profile's Redis is ${topology.mode === 'sentinel' ? 'a Sentinel deployment' : 'a standalone server'}, not a cluster`, {
      hint: `cluster check needs ${configKey}.mode: cluster; use \`opsctl redis health\` for this topology`,
    });
  }
  const views = await Promise.all(
    topology.nodes.map(async (node): Promise<ClusterView> => {
      try {
        const text = (await nodes.run(node, 'data', (client) => client.call('CLUSTER', 'NODES'))) as string;
        return { node: node.id, entries: parseClusterNodes(text) };
      } catch (error) {
        return { node: node.id, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return evaluateCluster(views);
}
