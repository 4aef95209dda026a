import { describe, expect, it } from 'vitest';
import {
  countSlots,
  flattenInfo,
  formatSlotRanges,
  pairsToRecord,
  parseClientList,
  parseClusterNodes,
  parseInfoSections,
  parseReplicaLinks,
  parseSlowlog,
  uncoveredSlots,
} from '../../src/redis/info.js';
import { evaluateCluster } from '../../src/redis/cluster-check.js';
import { latencyStats, percentile } from '../../src/redis/inspect.js';

describe('INFO parsing', () => {
  const text = '# Server\r\nredis_version:7.0.15\r\ntcp_port:6379\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=1200,lag=0\r\nslave1:ip=10.0.0.3,port=6381,state=wait_bgsave,offset=0,lag=3\r\nmaster_repl_offset:1500\r\n';

  it('keeps sections apart, lower-cased, and flattens them', () => {
    const sections = parseInfoSections(text);
    expect(Object.keys(sections)).toEqual(['server', 'replication']);
    expect(sections.server).toEqual({ redis_version: '7.0.15', tcp_port: '6379' });
    expect(flattenInfo(sections).master_repl_offset).toBe('1500');
  });

  it('reads the replicas a primary lists', () => {
    expect(parseReplicaLinks(flattenInfo(parseInfoSections(text)))).toEqual([
      { host: '10.0.0.2', port: 6380, state: 'online', offset: 1200, lagSeconds: 0 },
      { host: '10.0.0.3', port: 6381, state: 'wait_bgsave', offset: 0, lagSeconds: 3 },
    ]);
  });
});

describe('CLIENT LIST, SLOWLOG and SENTINEL replies', () => {
  it('parses CLIENT LIST lines', () => {
    const [client] = parseClientList('id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=opsctl age=12 idle=3 flags=N db=2 cmd=client|list user=alice\n');
    expect(client).toEqual({ id: '7', addr: '127.0.0.1:5000', name: 'opsctl', user: 'alice', db: 2, ageSeconds: 12, idleSeconds: 3, flags: 'N', cmd: 'client|list' });
  });

  it('parses SLOWLOG GET entries with and without client fields', () => {
    const entries = parseSlowlog([[3, 1700000000, 15000, ['SET', 'k', 'v'], '127.0.0.1:5000', 'opsctl'], [2, 1700000000, 12, ['PING']]]);
    expect(entries[0]).toEqual({ id: 3, time: '2023-11-14T22:13:20.000Z', durationMicros: 15000, args: ['SET', 'k', 'v'], client: '127.0.0.1:5000', clientName: 'opsctl' });
    expect(entries[1]).toMatchObject({ id: 2, client: '', clientName: '' });
  });

  it('turns flat field/value arrays into records', () => {
    expect(pairsToRecord(['name', 'mymaster', 'ip', '10.0.0.1', 'port', '6379'])).toEqual({ name: 'mymaster', ip: '10.0.0.1', port: '6379' });
    expect(pairsToRecord('not an array')).toEqual({});
  });
});

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const R = 'd'.repeat(40);

function nodesText(myself: string, lines: { id: string; port: number; flags: string; primary?: string; slots?: string }[]): string {
  return lines
    .map((line) => `${line.id} 127.0.0.1:${line.port}@1${line.port} ${line.id === myself ? `myself,${line.flags}` : line.flags} ${line.primary ?? '-'} 0 0 1 connected ${line.slots ?? ''}`.trim())
    .join('\n');
}

const healthy = [
  { id: A, port: 7000, flags: 'master', slots: '0-5460' },
  { id: B, port: 7001, flags: 'master', slots: '5461-10922' },
  { id: C, port: 7002, flags: 'master', slots: '10923-16383' },
];

describe('CLUSTER NODES and slot ranges', () => {
  it('parses addresses, flags, primaries, slots and open slots', () => {
    const [entry] = parseClusterNodes(`${A} 10.0.0.1:7000@17000,host-a myself,master - 0 0 3 connected 0-99 200 [300->-${B}] [301-<-${C}]`);
    expect(entry).toMatchObject({ id: A, host: '10.0.0.1', port: 7000, flags: ['myself', 'master'], primaryId: undefined, configEpoch: 3, linkState: 'connected' });
    expect(entry!.slots).toEqual([[0, 99], [200, 200]]);
    expect(entry!.migrating).toEqual([{ slot: 300, nodeId: B }]);
    expect(entry!.importing).toEqual([{ slot: 301, nodeId: C }]);
  });

  it('finds and formats uncovered ranges', () => {
    expect(uncoveredSlots([[0, 5460], [5461, 10922], [10923, 16383]])).toEqual([]);
    const gaps = uncoveredSlots([[100, 5460], [6000, 16383]]);
    expect(formatSlotRanges(gaps)).toBe('0-99,5461-5999');
    expect(countSlots(gaps)).toBe(639);
    expect(formatSlotRanges([[7, 7]])).toBe('7');
  });
});

describe('evaluateCluster', () => {
  const views = (text: (myself: string) => string) => [A, B, C].map((id, i) => ({ node: `127.0.0.1:${7000 + i}`, entries: parseClusterNodes(text(id)) }));
  const withReplica = [...healthy, { id: R, port: 7003, flags: 'slave', primary: A }];

  it('passes a healthy cluster except for primaries without replicas', () => {
    const results = evaluateCluster(views((me) => nodesText(me, healthy)));
    expect(results.map((r) => [r.check, r.status])).toEqual([
      ['nodes-reachable', 'pass'],
      ['slots-covered', 'pass'],
      ['nodes-agree', 'pass'],
      ['open-slots', 'pass'],
      ['failed-nodes', 'pass'],
      ['replicas', 'warn'],
    ]);
    expect(results[5]!.detail).toContain('127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002 have no replica');
    const replicated = evaluateCluster(views((me) => nodesText(me, withReplica)));
    expect(replicated[5]!.detail).toBe('127.0.0.1:7001, 127.0.0.1:7002 have no replica: a failure loses their slots (127.0.0.1:7000: 1, 127.0.0.1:7001: 0, 127.0.0.1:7002: 0)');
  });

  it('names unassigned slots, disagreeing nodes, open slots, failed and silent nodes', () => {
    const lost = healthy.map((line) => (line.id === A ? { ...line, slots: '100-5460' } : line));
    const results = evaluateCluster([
      { node: '127.0.0.1:7000', entries: parseClusterNodes(nodesText(A, lost).replace(`${A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 100-5460`, `${A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 100-5460 [200->-${B}]`)) },
      { node: '127.0.0.1:7001', entries: parseClusterNodes(nodesText(B, healthy).replace(`${C} 127.0.0.1:7002@17002 master`, `${C} 127.0.0.1:7002@17002 master,fail?`)) },
      { node: '127.0.0.1:7002', error: 'Redis at 127.0.0.1:7002 did not answer within 1s' },
    ]);
    const byCheck = Object.fromEntries(results.map((r) => [r.check, r]));
    expect(byCheck['nodes-reachable']).toMatchObject({ status: 'fail', detail: '127.0.0.1:7002: Redis at 127.0.0.1:7002 did not answer within 1s' });
    expect(byCheck['slots-covered']).toMatchObject({ status: 'fail', detail: '100 slots not served by a live primary: 0-99 (as 127.0.0.1:7000 sees it)' });
    expect(byCheck['nodes-agree']).toMatchObject({ status: 'fail', detail: '127.0.0.1:7001 sees a different slot map than 127.0.0.1:7000' });
    expect(byCheck['open-slots']).toMatchObject({ status: 'fail', detail: 'slot 200 migrating from 127.0.0.1:7000 to 127.0.0.1:7001' });
    expect(byCheck['failed-nodes']).toMatchObject({ status: 'fail', detail: '127.0.0.1:7002 suspected (PFAIL) according to 127.0.0.1:7001' });
  });
});

describe('latency statistics', () => {
  it('computes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
  });

  it('reports min/p50/p99/max/mean and a histogram from the first to the last non-empty bucket', () => {
    const stats = latencyStats([0.2, 0.3, 0.3, 0.4, 3]);
    expect(stats).toMatchObject({ samples: 5, minMs: 0.2, p50Ms: 0.3, p99Ms: 3, maxMs: 3, meanMs: 0.84 });
    expect(stats.histogram).toEqual([
      { upToMs: 0.25, count: 1 },
      { upToMs: 0.5, count: 3 },
      { upToMs: 1, count: 0 },
      { upToMs: 2, count: 0 },
      { upToMs: 5, count: 1 },
    ]);
    expect(latencyStats([2000]).histogram).toEqual([{ upToMs: null, count: 1 }]);
  });
});
