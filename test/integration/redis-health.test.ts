import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema } from '../../src/config/schema.js';
import { createRedisClient } from '../../src/redis/connection.js';
import { parseClusterNodes } from '../../src/redis/info.js';
import {
  redisQuery,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterTopology,
  type RedisSentinelTopology,
} from '../../src/testing/index.js';
import { runCli } from '../helpers/cli.js';

const dirs: string[] = [];

async function project(redisYaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'opsctl-redis-topo-'));
  dirs.push(dir);
  await writeFile(join(dir, 'opsctl.config.yaml'), `version: 2\nprofiles:\n  t:\n    redis:\n${redisYaml.replace(/^/gm, '      ')}\n`);
  return dir;
}

const nodesYaml = (nodes: { host: string; port: number }[]) => nodes.map((node) => `  - { host: ${node.host}, port: ${node.port} }`).join('\n');

async function runIn(yaml: string, argv: string[]) {
  const dir = await project(yaml);
  return runCli(argv, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });
}

interface Check { name: string; node: string; role: string; status: string; message: string }

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('opsctl redis on a Sentinel deployment', () => {
  let sentinel: RedisSentinelTopology;
  const yaml = (name = 'mymaster') =>
    `mode: sentinel\nconnectTimeout: 2s\ncommandTimeout: 2s\nsentinel:\n  name: ${name}\n  nodes:\n${nodesYaml(sentinel.sentinelNodes)}`;
  const run = (argv: string[], name?: string) => runIn(yaml(name), argv);
  const id = (server: { port: number }) => `127.0.0.1:${server.port}`;

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
  });
  afterAll(async () => {
    await sentinel?.stop();
  });

  it('ping reaches the primary, the replica and the three Sentinels', async () => {
    const result = await run(['redis', 'ping', '--json']);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as { node: string; role: string; ok: boolean }[];
    expect(rows.map((row) => [row.role, row.node, row.ok])).toEqual([
      ['primary', id(sentinel.primary), true],
      ['replica', id(sentinel.replicas[0]!), true],
      ...sentinel.sentinels.map((s) => ['sentinel', id(s), true]),
    ]);
  });

  it('topology draws the primary, its replica and the Sentinels', async () => {
    const result = await run(['redis', 'topology']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe([
      'sentinel "mymaster" (quorum 2)',
      `├── primary ${id(sentinel.primary)}`,
      `│   └── replica ${id(sentinel.replicas[0]!)}`,
      '└── sentinels',
      ...sentinel.sentinels.map((s, i) => `    ${i === sentinel.sentinels.length - 1 ? '└' : '├'}── ${id(s)}`),
      '',
    ].join('\n'));
  });

  it('health checks replication on both data nodes and the quorum on every Sentinel', async () => {
    const result = await run(['redis', 'health', '--json']);
    const report = JSON.parse(result.stdout) as { status: string; mode: string; checks: Check[] };
    expect(report.mode).toBe('sentinel');
    const replication = report.checks.filter((check) => check.name === 'redis:replication');
    expect(replication.map((check) => [check.node, check.status])).toEqual([
      [id(sentinel.primary), 'pass'],
      [id(sentinel.replicas[0]!), 'pass'],
    ]);
    expect(replication[0]!.message).toBe('primary, 1 replica online');
    expect(replication[1]!.message).toMatch(new RegExp(`^link up, .* behind ${id(sentinel.primary)}$`));
    const quorum = report.checks.filter((check) => check.name === 'redis:sentinel');
    expect(quorum).toHaveLength(3);
    for (const check of quorum) expect(check).toMatchObject({ role: 'sentinel', status: 'pass', message: expect.stringContaining('3 usable Sentinels') });
    expect(result.code).toBe(0);
  });

  it('doctor gains the Sentinel quorum check, one entry per Sentinel', async () => {
    const result = await run(['doctor', '--json']);
    const document = JSON.parse(result.stdout) as { checks: Record<string, { componentId: string; status: string; output: string }[]> };
    expect(document.checks['redis:sentinel']!.map((entry) => [entry.componentId, entry.status])).toEqual(sentinel.sentinels.map((s) => [id(s), 'pass']));
    expect(document.checks['redis:replication']![0]).toMatchObject({ status: 'pass', output: 'primary, 1 replica online' });
    expect(document.checks['redis:cluster']).toBeUndefined();
  });

  it('info: a section the Sentinels lack lists the data nodes only', async () => {
    const result = await run(['redis', 'info', 'replication', '--json']);
    expect(result.code).toBe(0);
    const infos = JSON.parse(result.stdout) as { node: string; role: string; sections: Record<string, Record<string, string>> }[];
    expect(infos.map((info) => [info.role, info.sections.replication!.role])).toEqual([['primary', 'master'], ['replica', 'slave']]);
  });

  it('a master name the Sentinels do not know: exit 4 naming the names they do know', async () => {
    const result = await run(['redis', 'ping'], 'nosuchmaster');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('do not know a master named "nosuchmaster"');
    expect(result.stderr).toContain('set profiles.t.redis.sentinel.name to one of the names they monitor: mymaster');
  });

  it('failover: --dry-run changes nothing, no --yes off a terminal is refused, --yes promotes the replica', async () => {
    const dry = await run(['redis', 'failover', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, mode: 'sentinel', from: id(sentinel.primary), command: 'SENTINEL FAILOVER mymaster' });
    expect(String(await redisQuery(sentinel.primary.port, ['ROLE']).then((r) => (r as unknown[])[0]))).toBe('master');

    const refused = await run(['redis', 'failover']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');

    const done = await run(['--yes', 'redis', 'failover', '--json']);
    expect(done.code).toBe(0);
    const result = JSON.parse(done.stdout) as { newPrimary: string; from: string; ms: number };
    expect(result).toMatchObject({ from: id(sentinel.primary), newPrimary: id(sentinel.replicas[0]!) });
    const topology = await run(['redis', 'topology', '--json']);
    const primary = (JSON.parse(topology.stdout) as { nodes: { id: string; role: string }[] }).nodes.find((node) => node.role === 'primary');
    expect(primary?.id).toBe(id(sentinel.replicas[0]!));
  });

  it('with two of three Sentinels gone the quorum check fails (exit 3)', async () => {
    await Promise.all(sentinel.sentinels.slice(1).map((s) => s.stop()));
    // The survivor counts them out only after down-after-milliseconds (1 s here).
    const quorumChecks = async () => {
      const result = await run(['redis', 'health', '--json']);
      expect(result.code).toBe(3);
      return (JSON.parse(result.stdout) as { checks: Check[] }).checks.filter((check) => check.name === 'redis:sentinel');
    };
    let checks = await quorumChecks();
    for (let i = 0; i < 20 && checks[0]!.status === 'pass'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      checks = await quorumChecks();
    }
    expect(checks[0]).toMatchObject({ node: id(sentinel.sentinels[0]!), status: 'fail' });
    expect(checks[0]!.message).toMatch(/NOQUORUM|usable Sentinels/i);
    expect(checks.slice(1).every((check) => check.status === 'fail' && /cannot connect/.test(check.message))).toBe(true);
  });
});

describe('opsctl redis on a Cluster', () => {
  let cluster: RedisClusterTopology;
  const yaml = () => `mode: cluster\nconnectTimeout: 2s\ncommandTimeout: 2s\ncluster:\n  nodes:\n${nodesYaml(cluster.seeds.slice(0, 2))}`;
  const run = (argv: string[]) => runIn(yaml(), argv);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    // 300 keys spread over the three primaries by their hash slots.
    const client = await createRedisClient(redisSchema.parse({ mode: 'cluster', cluster: { nodes: cluster.seeds } }), { configKey: 'test' });
    try {
      for (let i = 0; i < 300; i += 1) await client.set(`spread:${i}`, String(i));
    } finally {
      client.disconnect();
    }
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('ping reaches all six nodes; topology shows 3 primaries with their slots and replicas', async () => {
    const ping = await run(['redis', 'ping', '--json']);
    expect(ping.code).toBe(0);
    const rows = JSON.parse(ping.stdout) as { role: string; ok: boolean }[];
    expect(rows.filter((row) => row.role === 'primary' && row.ok)).toHaveLength(3);
    expect(rows.filter((row) => row.role === 'replica' && row.ok)).toHaveLength(3);

    const topology = await run(['redis', 'topology']);
    expect(topology.stdout).toMatch(/^cluster \(3 primaries, 3 replicas, 16384\/16384 slots\)$/m);
    expect(topology.stdout).toMatch(/^├── primary 127\.0\.0\.1:\d+ slots 0-5460 \(5461\) id [0-9a-f]{8}$/m);
    expect(topology.stdout.match(/└── replica 127\.0\.0\.1:\d+/g)).toHaveLength(3);
  });

  it('health: cluster_state ok on every node; cluster check passes (exit 0)', async () => {
    const health = await run(['redis', 'health', '--json']);
    expect(health.code).toBe(0);
    const checks = (JSON.parse(health.stdout) as { checks: Check[] }).checks.filter((check) => check.name === 'redis:cluster');
    expect(checks).toHaveLength(6);
    for (const check of checks) expect(check).toMatchObject({ status: 'pass', message: 'cluster_state ok, 16384/16384 slots assigned, 6 nodes known' });

    const check = await run(['redis', 'cluster', 'check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^slots-covered\s+PASS\s+all 16384 slots served by a live primary$/m);
    expect(check.stdout).toMatch(/^replicas\s+PASS\s+replicas per primary: .*: 1, .*: 1, .*: 1$/m);
  });

  it('doctor gains cluster_state per primary', async () => {
    const result = await run(['doctor', '--json']);
    const document = JSON.parse(result.stdout) as { checks: Record<string, { status: string; output: string }[]> };
    expect(document.checks['redis:cluster']).toHaveLength(3);
    for (const entry of document.checks['redis:cluster']!) expect(entry).toMatchObject({ status: 'pass', output: expect.stringContaining('cluster_state ok') });
    expect(document.checks['redis:sentinel']).toBeUndefined();
  });

  it('keys scans every primary and finds each key once', async () => {
    const result = await run(['redis', 'keys', '--pattern', 'spread:*', '--json']);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as { key: string; node: string }[];
    expect(new Set(rows.map((row) => row.key)).size).toBe(300);
    expect(rows).toHaveLength(300);
    expect(new Set(rows.map((row) => row.node)).size).toBe(3);
  });

  it('failover --to a replica promotes it; --to is required and must name a replica', async () => {
    const missing = await run(['redis', 'failover', '--dry-run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --to <replica>');
    const topology = JSON.parse((await run(['redis', 'topology', '--json'])).stdout) as { nodes: { id: string; role: string; primary?: string }[] };
    const replica = topology.nodes.find((node) => node.role === 'replica')!;
    const primary = topology.nodes.find((node) => node.role === 'primary')!;
    const wrong = await run(['redis', 'failover', '--to', primary.id, '--dry-run']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is a primary, not a replica');

    const done = await run(['--yes', 'redis', 'failover', '--to', replica.id, '--json']);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ mode: 'cluster', from: replica.primary, newPrimary: replica.id });
    const port = Number(replica.id.split(':')[1]);
    expect((await redisQuery(port, ['ROLE']) as unknown[])[0]).toBe('master');
  });

  it('a node paused (SIGSTOP) fails with a timeout naming it, within the configured timeouts; the others answer', async () => {
    const paused = cluster.nodes.at(-1)!;
    paused.kill('SIGSTOP');
    try {
      const started = performance.now();
      const ping = await run(['redis', 'ping', '--json']);
      expect(performance.now() - started).toBeLessThan(8000);
      expect(ping.code).toBe(4);
      const rows = JSON.parse(ping.stdout) as { node: string; ok: boolean; error?: string; code?: string }[];
      const bad = rows.filter((row) => !row.ok);
      expect(bad).toEqual([expect.objectContaining({ node: `127.0.0.1:${paused.port}`, code: 'REDIS_TIMEOUT', error: `Redis at 127.0.0.1:${paused.port} did not answer within 2s` })]);
      expect(rows.filter((row) => row.ok)).toHaveLength(5);
    } finally {
      paused.kill('SIGCONT');
    }
  });

  it('cluster check names unassigned slots (exit 3), and health fails cluster_state', async () => {
    const entries = parseClusterNodes(String(await redisQuery(cluster.seeds[0]!.port, ['CLUSTER', 'NODES'])));
    const owner = entries.find((entry) => entry.flags.includes('master') && entry.slots.some(([first]) => first === 0))!;
    await redisQuery(owner.port, ['CLUSTER', 'DELSLOTSRANGE', '0', '99']);
    const check = await run(['redis', 'cluster', 'check', '--json']);
    expect(check.code).toBe(3);
    const results = JSON.parse(check.stdout) as { check: string; status: string; detail: string }[];
    const slots = results.find((result) => result.check === 'slots-covered')!;
    expect(slots.status).toBe('fail');
    expect(slots.detail).toContain(`100 slots not served by a live primary: 0-99 (as 127.0.0.1:${owner.port} sees it)`);
    expect(results.find((result) => result.check === 'nodes-agree')!.status).toBe('fail');

    const health = await run(['redis', 'health', '--json']);
    expect(health.code).toBe(3);
    const failed = (JSON.parse(health.stdout) as { checks: Check[] }).checks.find((c) => c.name === 'redis:cluster' && c.status === 'fail');
    expect(failed).toMatchObject({ node: `127.0.0.1:${owner.port}` });
    expect(failed!.message).toContain('16284/16384 slots assigned');
  });
});
