import { OpsError } from '../core/errors.js';

/**
 * A consistent-hash ring with virtual nodes, for deployments with several independent Redis
 * primaries (no Cluster): each node owns `virtualNodes` points on a 32-bit circle and a key
 * belongs to the first point at or after its hash. Adding or removing one of N nodes moves
 * about 1/N of the keys. Keys are hashed by their hash tag (`{<prefix>:<key>}`), so every
 * counter of one client key lands on one node, as in a Cluster.
 */
export interface HashRing {
  readonly nodes: readonly string[];
  nodeFor(hashTag: string): string;
  /** The node owning a point of the circle (a key whose hash32 is `hash`). */
  ownerOfHash(hash: number): string;
  /** The virtual node points, ascending. */
  readonly points: Uint32Array;
}

const CIRCLE = 2 ** 32;

/**
 * Walks the arcs between the points of both rings (every hash in one arc has the same owner in
 * each ring) and calls `visit` with the arc's share of the circle and its owner before and after.
 */
function walkArcs(before: HashRing, after: HashRing, visit: (share: number, from: string, to: string) => void): void {
  const points = [...new Set([...before.points, ...after.points])].sort((a, b) => a - b);
  points.forEach((point, i) => {
    const length = i === 0 ? point + CIRCLE - points[points.length - 1]! : point - points[i - 1]!;
    visit(length / CIRCLE, before.ownerOfHash(point), after.ownerOfHash(point));
  });
}

/** Each node's share of the hash space (0..1): the expected share of the keys it holds. */
export function ringShares(ring: HashRing): Record<string, number> {
  const shares: Record<string, number> = Object.fromEntries(ring.nodes.map((node) => [node, 0]));
  walkArcs(ring, ring, (share, owner) => (shares[owner]! += share));
  return shares;
}

export interface RingMove {
  from: string;
  to: string;
  /** Share of the hash space (0..1) moving from `from` to `to`. */
  share: number;
}

/** What changing `before` into `after` moves: the share of the hash space by (old owner, new owner). */
export function ringMoves(before: HashRing, after: HashRing): RingMove[] {
  const moves = new Map<string, RingMove>();
  walkArcs(before, after, (share, from, to) => {
    if (from === to) return;
    const move = moves.get(`${from}\0${to}`) ?? { from, to, share: 0 };
    move.share += share;
    moves.set(`${from}\0${to}`, move);
  });
  return [...moves.values()].sort((a, b) => b.share - a.share);
}

/** FNV-1a (32 bit) followed by a murmur3 finaliser: fast, and well spread for short keys. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function createHashRing(nodes: readonly string[], options: { virtualNodes?: number } = {}): HashRing {
  const virtualNodes = options.virtualNodes ?? 160;
  const unique = [...new Set(nodes)];
  if (unique.length === 0) {
    throw new OpsError('RATELIMIT_BAD_INPUT', 'a hash ring needs at least one node', { hint: 'Pass at least one Redis primary in `shards`.' });
  }
  const points: { at: number; node: string }[] = [];
  for (const node of unique) for (let i = 0; i < virtualNodes; i++) points.push({ at: hash32(`${node}#${i}`), node });
  // Ties (vanishingly rare) are broken by node name so every process builds the same ring.
  points.sort((a, b) => a.at - b.at || a.node.localeCompare(b.node));
  const at = Uint32Array.from(points, (point) => point.at);
  const owner = points.map((point) => point.node);
  function ownerOfHash(h: number): string {
    let low = 0;
    let high = at.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (at[mid]! < h) low = mid + 1;
      else high = mid;
    }
    return owner[low === at.length ? 0 : low]!;
  }
  return { nodes: unique, points: at, ownerOfHash, nodeFor: (hashTag) => ownerOfHash(hash32(hashTag)) };
}
