import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { OpsError, isOpsError } from '../core/errors.js';
import { parseClientList, parseInfoSections, parseSlowlog, type ClientInfo, type SlowlogEntry } from './info.js';
import type { NodeRole, RedisNodes, TopologyNode } from './topology.js';
import { describeCommand } from './trace.js';

// ---- ping ---------------------------------------------------------------------------------

export interface PingResult {
  node: string;
  role: NodeRole;
  ok: boolean;
  /** Round trip of one PING after connecting, in ms. */
  ms?: number;
  error?: string;
  code?: string;
}

/** One PING to every node (concurrently); a node that fails is reported, not thrown. */
export async function pingNodes(nodes: RedisNodes, list: readonly TopologyNode[], clock: Clock): Promise<PingResult[]> {
  return Promise.all(
    list.map(async (node): Promise<PingResult> => {
      try {
        const ms = await nodes.run(node, node.role === 'sentinel' ? 'sentinel' : 'data', async (client) => {
          const before = clock.monotonic();
          await client.ping();
          return clock.monotonic() - before;
        });
        return { node: node.id, role: node.role, ok: true, ms: Math.round(ms * 1000) / 1000 };
      } catch (error) {
        return {
          node: node.id,
          role: node.role,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
          ...(isOpsError(error) ? { code: error.code } : {}),
        };
      }
    }),
  );
}

// ---- latency ------------------------------------------------------------------------------

/** Upper bounds (ms) of the histogram buckets; the last bucket is everything slower. */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000] as const;

export interface LatencyStats {
  samples: number;
  minMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Non-empty range of buckets: `upToMs` null is the overflow bucket. */
  histogram: { upToMs: number | null; count: number }[];
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** min/p50/p99/max/mean and a histogram (from the first to the last non-empty bucket). */
export function latencyStats(samplesMs: readonly number[]): LatencyStats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  for (const value of sorted) {
    const index = LATENCY_BUCKETS_MS.findIndex((bound) => value <= bound);
    counts[index === -1 ? LATENCY_BUCKETS_MS.length : index]! += 1;
  }
  const first = counts.findIndex((count) => count > 0);
  const last = counts.length - 1 - [...counts].reverse().findIndex((count) => count > 0);
  const histogram = first === -1
    ? []
    : counts.slice(first, last + 1).map((count, i) => ({ upToMs: LATENCY_BUCKETS_MS[first + i] ?? null, count }));
  return {
    samples: sorted.length,
    minMs: round3(sorted[0] ?? Number.NaN),
    p50Ms: round3(percentile(sorted, 50)),
    p99Ms: round3(percentile(sorted, 99)),
    maxMs: round3(sorted.at(-1) ?? Number.NaN),
    meanMs: round3(sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length)),
    histogram,
  };
}

/**
 * `samples` PINGs, one after the other (each waiting `intervalMs` after the previous answer, as
 * `redis-cli --latency` does), timed on the clock. Stops early when `signal` aborts.
 */
export async function samplePings(client: Redis, options: { samples: number; intervalMs: number; clock: Clock; signal?: AbortSignal }): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < options.samples; i += 1) {
    if (options.signal?.aborted) break;
    const before = options.clock.monotonic();
    await client.ping();
    samples.push(options.clock.monotonic() - before);
    if (options.intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  return samples;
}

// ---- keys ---------------------------------------------------------------------------------

export interface KeyRow {
  key: string;
  node: string;
  /** With `details`, or known from the `type` filter. */
  type?: string;
  /** With `details`: seconds to live; -1 without expiry, -2 gone since SCAN saw it. */
  ttl?: number;
}

export interface ScanOptions {
  /** SCAN MATCH glob (default `*`). */
  pattern?: string;
  /** SCAN TYPE filter (string, list, set, zset, hash, stream), applied by the server. */
  type?: string;
  /** Stop after this many keys in total. */
  limit?: number;
  /** SCAN COUNT hint per call (default 1000). */
  count?: number;
  /**
   * Also fetch each key's TYPE and TTL (one pipeline per SCAN reply). Two more commands per
   * key: about 10× the time of the SCAN alone, so off unless asked for.
   */
  details?: boolean;
  signal?: AbortSignal;
}

/**
 * SCAN (never KEYS) over each given primary in turn, yielding one batch per SCAN reply. Memory
 * stays bounded by one batch whatever the size of the keyspace. Stops after `limit` keys or when
 * `signal` aborts (the generator then returns).
 */
export async function* scanKeys(nodes: RedisNodes, primaries: readonly TopologyNode[], options: ScanOptions = {}): AsyncGenerator<KeyRow[]> {
  let remaining = options.limit ?? Number.POSITIVE_INFINITY;
  for (const node of primaries) {
    const client = await nodes.connect(node, 'data');
    let cursor = '0';
    do {
      if (options.signal?.aborted || remaining <= 0) return;
      const args: (string | number)[] = [cursor, 'MATCH', options.pattern ?? '*', 'COUNT', options.count ?? 1000];
      if (options.type !== undefined) args.push('TYPE', options.type);
      const [next, keys] = await nodes.run(node, 'data', (c) => c.call('SCAN', ...args) as Promise<[string, string[]]>);
      cursor = next;
      const batch = keys.slice(0, Number.isFinite(remaining) ? remaining : undefined);
      if (batch.length === 0) continue;
      let rows: KeyRow[];
      if (options.details === true) {
        const pipeline = client.pipeline();
        for (const key of batch) pipeline.type(key).ttl(key);
        const replies = (await nodes.run(node, 'data', () => pipeline.exec())) ?? [];
        rows = batch.map((key, i) => ({
          key,
          node: node.id,
          type: String(replies[i * 2]?.[1] ?? 'none'),
          ttl: Number(replies[i * 2 + 1]?.[1] ?? -2),
        }));
      } else {
        rows = batch.map((key) => ({ key, node: node.id, ...(options.type === undefined ? {} : { type: options.type }) }));
      }
      remaining -= rows.length;
      yield rows;
    } while (cursor !== '0');
  }
}

// ---- memory -------------------------------------------------------------------------------

export interface KeyMemory {
  key: string;
  type: string;
  bytes: number;
  node: string;
}

export interface MemoryScanResult {
  /** The biggest keys, largest first. */
  top: KeyMemory[];
  /** Keys measured. */
  scanned: number;
  /** Sum of MEMORY USAGE over the keys measured. */
  totalBytes: number;
  /** False when interrupted before the whole keyspace was seen. */
  complete: boolean;
}

/**
 * The `top` biggest keys by MEMORY USAGE over a SCAN of every primary, like
 * `redis-cli --memkeys`: `samples` is MEMORY USAGE's SAMPLES (nested values sampled in
 * aggregates; 0 = all). Keeps only the current top list in memory.
 */
export async function biggestKeys(
  nodes: RedisNodes,
  primaries: readonly TopologyNode[],
  options: { top: number; samples?: number; pattern?: string; signal?: AbortSignal; onProgress?: (scanned: number) => void },
): Promise<MemoryScanResult> {
  const top: KeyMemory[] = [];
  let scanned = 0;
  let totalBytes = 0;
  for await (const batch of scanKeys(nodes, primaries, { pattern: options.pattern, signal: options.signal })) {
    const node = primaries.find((candidate) => candidate.id === batch[0]!.node)!;
    const client = await nodes.connect(node, 'data');
    const pipeline = client.pipeline();
    for (const row of batch) pipeline.call('MEMORY', 'USAGE', row.key, 'SAMPLES', options.samples ?? 5).type(row.key);
    const replies = (await nodes.run(node, 'data', () => pipeline.exec())) ?? [];
    batch.forEach((row, i) => {
      const bytes = Number(replies[i * 2]?.[1] ?? 0);
      scanned += 1;
      totalBytes += bytes;
      if (top.length < options.top || bytes > top.at(-1)!.bytes) {
        top.push({ key: row.key, type: String(replies[i * 2 + 1]?.[1] ?? 'none'), bytes, node: row.node });
        top.sort((a, b) => b.bytes - a.bytes);
        if (top.length > options.top) top.pop();
      }
    });
    options.onProgress?.(scanned);
  }
  return { top, scanned, totalBytes, complete: options.signal?.aborted !== true };
}

// ---- slowlog and clients ------------------------------------------------------------------

export interface SlowlogRow extends Omit<SlowlogEntry, 'args'> {
  node: string;
  /** The command as a trace line: credentials redacted, long arguments clipped. */
  command: string;
}

/** SLOWLOG GET from each node, newest first per node; arguments redacted like `--debug` traces. */
export async function slowlog(nodes: RedisNodes, list: readonly TopologyNode[], limit: number): Promise<SlowlogRow[]> {
  const perNode = await Promise.all(
    list.map(async (node) => {
      const reply = await nodes.run(node, 'data', (client) => client.call('SLOWLOG', 'GET', limit));
      return parseSlowlog(reply).map(({ args, ...entry }) => ({
        node: node.id,
        ...entry,
        command: args.length === 0 ? '' : describeCommand(args[0]!, args.slice(1)),
      }));
    }),
  );
  return perNode.flat();
}

export interface ClientRow extends ClientInfo {
  node: string;
}

/** CLIENT LIST of each node. */
export async function clients(nodes: RedisNodes, list: readonly TopologyNode[]): Promise<ClientRow[]> {
  const perNode = await Promise.all(
    list.map(async (node) => {
      const text = (await nodes.run(node, 'data', (client) => client.call('CLIENT', 'LIST'))) as string;
      return parseClientList(text).map((client) => ({ node: node.id, ...client }));
    }),
  );
  return perNode.flat();
}

// ---- info ---------------------------------------------------------------------------------

export interface NodeInfo {
  node: string;
  role: NodeRole;
  sections: Record<string, Record<string, string>>;
}

/**
 * INFO [section] of each node, parsed into sections. Nodes without the section (Sentinels have no
 * `replication` or `memory`) are left out; a section no node knows is a usage error.
 */
export async function nodeInfo(nodes: RedisNodes, list: readonly TopologyNode[], section: string | undefined): Promise<NodeInfo[]> {
  const infos = await Promise.all(
    list.map(async (node) => {
      const kind = node.role === 'sentinel' ? 'sentinel' : 'data';
      const text = await nodes.run(node, kind, (client) => (section === undefined ? client.info() : client.info(section)));
      return { node: node.id, role: node.role, sections: parseInfoSections(text) };
    }),
  );
  const answered = infos.filter((info) => Object.keys(info.sections).length > 0);
  if (section !== undefined && answered.length === 0) {
    throw new OpsError('USAGE', `no node has an INFO section "${section}"`, {
      hint: 'sections: server, clients, memory, persistence, stats, replication, cpu, commandstats, errorstats, cluster, keyspace (or all, everything)',
    });
  }
  return answered;
}
