import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSchema, type RedisConfig } from '../../src/config/schema.js';
import { createRedisClient } from '../../src/redis/connection.js';
import { redisQuery, startRedisCluster, startRedisSentinel, type RedisClusterTopology, type RedisSentinelTopology } from '../../src/testing/index.js';
import { runningProcesses } from '../../src/testing/managed-process.js';

const configKey = 'profiles.test.redis';
const PASSWORD = 'topology-pass-4Kz';

function config(input: Record<string, unknown>): RedisConfig {
  return redisSchema.parse({ connectTimeout: '3s', commandTimeout: '2s', ...input });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startRedisSentinel', () => {
  let topology: RedisSentinelTopology;
  beforeAll(async () => {
    topology = await startRedisSentinel({ password: PASSWORD });
  });
  afterAll(async () => {
    await topology?.stop();
  });

  it('starts a primary, an in-sync replica and three Sentinels that agree on the master', async () => {
    expect(topology.replicas).toHaveLength(1);
    expect(topology.sentinels).toHaveLength(3);
    expect(topology.sentinelNodes).toEqual(topology.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })));
    for (const sentinel of topology.sentinels) {
      const address = await redisQuery(sentinel.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster']);
      expect(address).toEqual(['127.0.0.1', String(topology.primary.port)]);
      expect(await redisQuery(sentinel.port, ['SENTINEL', 'CKQUORUM', 'mymaster'])).toMatch(/^OK 3 usable Sentinels/);
    }
    const info = String(await redisQuery(topology.replicas[0]!.port, ['INFO', 'replication'], { password: PASSWORD }));
    expect(info).toMatch(/role:slave/);
    expect(info).toMatch(/master_link_status:up/);
  });

  it('serves a sentinel-mode client from the config, writes reaching the replica', async () => {
    const client = await createRedisClient(
      config({ mode: 'sentinel', password: PASSWORD, sentinel: { name: topology.masterName, nodes: topology.sentinelNodes } }),
      { configKey },
    );
    try {
      await client.set('opsctl:topology:k', 'v');
      await client.call('WAIT', '1', '2000');
      expect(await redisQuery(topology.replicas[0]!.port, ['GET', 'opsctl:topology:k'], { password: PASSWORD })).toBe('v');
    } finally {
      client.disconnect();
    }
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisClusterTopology;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts 3 primaries and 3 replicas covering every slot', async () => {
    expect(cluster.nodes).toHaveLength(6);
    const info = String(await redisQuery(cluster.nodes[0]!.port, ['CLUSTER', 'INFO']));
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_slots_assigned:16384/);
    expect(info).toMatch(/cluster_size:3/);
    const nodes = String(await redisQuery(cluster.nodes[0]!.port, ['CLUSTER', 'NODES']));
    expect(nodes.match(/\bmaster\b/g)).toHaveLength(3);
    expect(nodes.match(/\bslave\b/g)).toHaveLength(3);
  });

  it('serves a cluster-mode client from one seed, across slots on every primary', async () => {
    const client = await createRedisClient(config({ mode: 'cluster', cluster: { nodes: [cluster.seeds[0]!] } }), { configKey });
    try {
      for (let i = 0; i < 30; i += 1) await client.set(`opsctl:topology:${i}`, String(i));
      for (let i = 0; i < 30; i += 1) expect(await client.get(`opsctl:topology:${i}`)).toBe(String(i));
      const owners = new Set<number>();
      for (let i = 0; i < 30; i += 1) {
        const slot = Number(await client.call('CLUSTER', 'KEYSLOT', `opsctl:topology:${i}`));
        owners.add(Math.floor(slot / 5462));
      }
      expect(owners.size).toBe(3);
    } finally {
      client.disconnect();
    }
  });
});

describe('teardown', () => {
  it('leaves no process behind once a topology is stopped', async () => {
    const topology = await startRedisSentinel({ sentinels: 1, replicas: 1 });
    const pids = [topology.primary, ...topology.replicas, ...topology.sentinels].map((s) => s.pid);
    expect(pids.every(processAlive)).toBe(true);
    await topology.stop();
    expect(pids.filter(processAlive)).toEqual([]);
    expect(runningProcesses().filter((p) => pids.includes(p.pid))).toEqual([]);
  });
});
