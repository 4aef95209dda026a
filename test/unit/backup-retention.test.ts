import { describe, expect, it } from 'vitest';
import { planRetention, planWalPrune } from '../../src/backup/retention.js';
import type { Manifest } from '../../src/backup/types.js';

function backup(id: string, kind: string, startedAt: string, dependsOn?: string[]): Manifest {
  return {
    format: 'opsctl-backup-manifest',
    version: 1,
    id,
    kind: kind as Manifest['kind'],
    type: 'full',
    repository: 'r',
    startedAt,
    finishedAt: startedAt,
    durationMs: 1,
    host: 'h',
    source: { server: 's', serverVersion: '1' },
    ...(dependsOn === undefined
      ? {}
      : { physical: { systemIdentifier: '1', timeline: 1, startLsn: '0/0', stopLsn: '0/0', walStart: 'a', walStop: 'b', dependsOn, blockSize: 8192, files: 1 } }),
    objects: [],
    totals: { objects: 0, sizeStored: 0, sizeLogical: 0 },
  };
}

const kept = (plan: ReturnType<typeof planRetention>) => plan.filter((decision) => decision.action === 'keep').map((decision) => decision.id);

describe('planRetention', () => {
  const daily = ['01', '02', '03', '04', '05'].flatMap((day) => [
    backup(`d${day}a`, 'redis', `2026-11-${day}T01:00:00.000Z`),
    backup(`d${day}b`, 'redis', `2026-11-${day}T13:00:00.000Z`),
  ]);

  it('keeps the newest N with keepLast', () => {
    expect(kept(planRetention(daily, { policies: { redis: { keepLast: 3 } } }))).toEqual(['d04b', 'd05a', 'd05b']);
  });

  it('keeps the newest backup of each of the last N days', () => {
    expect(kept(planRetention(daily, { policies: { redis: { daily: 3 } } }))).toEqual(['d03b', 'd04b', 'd05b']);
  });

  it('keeps one per ISO week and per month', () => {
    const list = [
      backup('w1', 'vault', '2026-10-05T00:00:00.000Z'),
      backup('w2', 'vault', '2026-10-12T00:00:00.000Z'),
      backup('w2b', 'vault', '2026-10-13T00:00:00.000Z'),
      backup('m11', 'vault', '2026-11-20T00:00:00.000Z'),
    ];
    expect(kept(planRetention(list, { policies: { vault: { weekly: 2 } } }))).toEqual(['w2b', 'm11']);
    expect(kept(planRetention(list, { policies: { vault: { monthly: 2 } } }))).toEqual(['w2b', 'm11']);
  });

  it('never deletes the newest verified backup, and keeps kinds without a policy', () => {
    const list = [...daily, backup('pg1', 'pg-logical', '2026-11-01T00:00:00.000Z')];
    const plan = planRetention(list, { policies: { redis: {} }, verified: (manifest) => manifest.id !== 'd05b' });
    expect(kept(plan)).toEqual(['pg1', 'd05a']);
    expect(plan.find((decision) => decision.id === 'd05a')!.reasons).toEqual(['newest verified']);
    expect(plan.find((decision) => decision.id === 'pg1')!.reasons).toEqual(['no policy for this kind']);
  });

  it('keeps the backups a kept physical backup reads blocks from', () => {
    const list = [
      backup('full', 'pg-physical', '2026-11-01T00:00:00.000Z', ['full']),
      backup('full2', 'pg-physical', '2026-11-02T00:00:00.000Z', ['full2']),
      backup('incr', 'pg-physical', '2026-11-03T00:00:00.000Z', ['full', 'incr']),
    ];
    const plan = planRetention(list, { policies: { 'pg-physical': { keepLast: 1 } } });
    expect(kept(plan)).toEqual(['full', 'incr']);
    expect(plan.find((decision) => decision.id === 'full')!.reasons).toEqual(['needed by incr']);
    expect(plan.find((decision) => decision.id === 'full2')!).toMatchObject({ action: 'delete', reasons: ['no rule keeps it'] });
  });
});

describe('planWalPrune', () => {
  const sha = 'a'.repeat(64);
  const key = (name: string) => `wal/${name.slice(0, 16)}/${name}-${sha}.zst.age`;
  const withWal = (id: string, walStart: string) => ({ ...backup(id, 'pg-physical', '2026-11-01T00:00:00.000Z', [id]), physical: { ...backup(id, 'pg-physical', '', [id]).physical!, walStart } });
  const keys = [
    key('000000010000000000000003'),
    key('000000010000000000000004.00000028.backup'),
    key('000000010000000000000005'),
    key('00000002000000000000000A'),
    'wal/timelines/00000002.history-' + sha + '.zst.age',
  ];

  it('deletes WAL older than the oldest kept physical backup, on any timeline, never history files', () => {
    expect(planWalPrune([withWal('b', '000000010000000000000005'), withWal('c', '00000002000000000000000A')], keys)).toEqual([keys[0], keys[1]]);
  });

  it('deletes nothing without a kept physical backup', () => {
    expect(planWalPrune([], keys)).toEqual([]);
  });
});

