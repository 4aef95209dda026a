import { describe, expect, it } from 'vitest';
import { createHashRing, ringMoves, ringShares } from '../../src/ratelimit/ring.js';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `{opsctl:rl:user:${i}}`);

function owners(nodes: string[]) {
  const ring = createHashRing(nodes);
  return KEYS.map((key) => ring.nodeFor(key));
}

describe('consistent-hash ring', () => {
  it('balances keys over the nodes (160 virtual nodes each)', () => {
    const nodes = ['a', 'b', 'c', 'd'];
    const counts = new Map<string, number>();
    for (const node of owners(nodes)) counts.set(node, (counts.get(node) ?? 0) + 1);
    const mean = KEYS.length / nodes.length;
    for (const node of nodes) expect(Math.abs(counts.get(node)! - mean) / mean).toBeLessThan(0.2);
  });

  it('adding a fifth node moves about 1/5 of the keys, all of them to the new node', () => {
    const before = owners(['a', 'b', 'c', 'd']);
    const after = owners(['a', 'b', 'c', 'd', 'e']);
    const moved = before.filter((node, i) => node !== after[i]);
    expect(moved.length / KEYS.length).toBeGreaterThan(0.15);
    expect(moved.length / KEYS.length).toBeLessThan(0.25);
    expect(after.filter((node, i) => node !== before[i]).every((node) => node === 'e')).toBe(true);
  });

  it('removing a node moves only its own keys, spread over the others', () => {
    const before = owners(['a', 'b', 'c', 'd']);
    const after = owners(['a', 'b', 'd']);
    const changed = before.map((node, i) => [node, after[i]] as const).filter(([from, to]) => from !== to);
    expect(changed.every(([from]) => from === 'c')).toBe(true);
    expect(changed.length).toBe(before.filter((node) => node === 'c').length);
    expect(new Set(changed.map(([, to]) => to))).toEqual(new Set(['a', 'b', 'd']));
  });

  it('is the same in every process (order of nodes does not matter) and rejects an empty ring', () => {
    const one = createHashRing(['x', 'y', 'z']);
    const two = createHashRing(['z', 'x', 'y']);
    expect(KEYS.slice(0, 500).every((key) => one.nodeFor(key) === two.nodeFor(key))).toBe(true);
    expect(() => createHashRing([])).toThrow(/at least one node/);
  });
});

describe('ring shares and planned moves (hash space, exact)', () => {
  it('shares sum to 1 and follow the keys; a plan for adding a node matches the keys that move', () => {
    const before = createHashRing(['a', 'b', 'c', 'd']);
    const after = createHashRing(['a', 'b', 'c', 'd', 'e']);
    const shares = ringShares(before);
    expect(Object.values(shares).reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 9);
    for (const node of before.nodes) {
      const held = KEYS.filter((key) => before.nodeFor(key) === node).length / KEYS.length;
      expect(Math.abs(held - shares[node]!)).toBeLessThan(0.02);
    }
    const moves = ringMoves(before, after);
    expect(moves.every((move) => move.to === 'e')).toBe(true);
    const movedShare = moves.reduce((sum, move) => sum + move.share, 0);
    expect(movedShare).toBeCloseTo(ringShares(after).e!, 9);
    const movedKeys = KEYS.filter((key) => before.nodeFor(key) !== after.nodeFor(key)).length / KEYS.length;
    expect(Math.abs(movedKeys - movedShare)).toBeLessThan(0.02);
    expect(ringMoves(before, before)).toEqual([]);
  });
});
