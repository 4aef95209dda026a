import { describe, expect, it } from 'vitest';
import { profileSchema } from '../../src/config/schema.js';
import {
  DEFAULT_HEALTH_THRESHOLDS,
  evaluateBlockedClients,
  evaluateClusterInfo,
  evaluateEvictions,
  evaluateFragmentation,
  evaluateQuorum,
  evaluateRejectedConnections,
  evaluateReplication,
  latencyVerdict,
  memoryVerdict,
  resolveHealthThresholds,
  worst,
} from '../../src/redis/health.js';

const MiB = 1024 * 1024;
const defaults = resolveHealthThresholds(profileSchema.parse({}), 'profiles.p');

describe('resolveHealthThresholds', () => {
  it('uses the defaults and names redis.health keys', () => {
    expect(defaults.values).toEqual(DEFAULT_HEALTH_THRESHOLDS);
    expect(defaults.keys.latencyFailMs).toBe('profiles.p.redis.health.latencyFail');
    expect(defaults.keys.replicaLagBytesWarn).toBe('profiles.p.redis.health.replicaLagBytesWarn');
  });

  it('reads redis.health, parsing durations and sizes', () => {
    const resolved = resolveHealthThresholds(profileSchema.parse({
      redis: { url: 'redis://x', health: { latencyWarn: '5ms', latencyFail: '1s', memoryFailRatio: 0.9, replicaLagBytesWarn: '4MiB', replicaLagSecondsWarn: 3, blockedClientsWarn: 2 } },
    }), 'profiles.p');
    expect(resolved.values).toMatchObject({ latencyWarnMs: 5, latencyFailMs: 1000, memoryFailRatio: 0.9, replicaLagBytesWarn: 4 * MiB, replicaLagSecondsWarn: 3, blockedClientsWarn: 2 });
  });

  it('falls back to the older doctor.* keys, and redis.health wins over them', () => {
    const legacy = resolveHealthThresholds(profileSchema.parse({ doctor: { redisLatencyWarn: '20ms', redisMemoryWarnRatio: 0.7 } }), 'profiles.p');
    expect(legacy.values).toMatchObject({ latencyWarnMs: 20, memoryWarnRatio: 0.7 });
    expect(legacy.keys.latencyWarnMs).toBe('profiles.p.doctor.redisLatencyWarn');
    expect(legacy.keys.memoryWarnRatio).toBe('profiles.p.doctor.redisMemoryWarnRatio');
    const both = resolveHealthThresholds(profileSchema.parse({ redis: { url: 'redis://x', health: { latencyWarn: '7ms' } }, doctor: { redisLatencyWarn: '20ms' } }), 'profiles.p');
    expect(both.values.latencyWarnMs).toBe(7);
    expect(both.keys.latencyWarnMs).toBe('profiles.p.redis.health.latencyWarn');
  });

  it('rejects invalid thresholds in the schema', () => {
    expect(() => profileSchema.parse({ redis: { url: 'redis://x', health: { replicaLagBytesWarn: 'lots' } } })).toThrow();
    expect(() => profileSchema.parse({ redis: { url: 'redis://x', health: { fragmentationWarn: 0.5 } } })).toThrow();
    expect(() => profileSchema.parse({ redis: { url: 'redis://x', health: { latencyWran: '5ms' } } })).toThrow();
  });
});

describe('verdicts', () => {
  it('latency: pass, warn, fail with the key of the threshold crossed', () => {
    expect(latencyVerdict([0.2, 0.3, 0.4], defaults).status).toBe('pass');
    expect(latencyVerdict([60, 70, 80], defaults)).toMatchObject({ status: 'warn', remedy: expect.stringContaining('health.latencyWarn') });
    expect(latencyVerdict([600, 700, 800], defaults)).toMatchObject({ status: 'fail', remedy: expect.stringContaining('health.latencyFail') });
  });

  it('memory: warn above 80%, fail above 95% of maxmemory', () => {
    const info = (used: number) => ({ used_memory: String(used * MiB), maxmemory: String(100 * MiB) });
    expect(memoryVerdict(info(50), defaults).status).toBe('pass');
    expect(memoryVerdict(info(85), defaults).status).toBe('warn');
    expect(memoryVerdict(info(97), defaults)).toMatchObject({ status: 'fail', remedy: expect.stringContaining('health.memoryFailRatio') });
  });

  it('fragmentation: judged only with a sizeable excess; swapping warns', () => {
    const key = 'k';
    expect(evaluateFragmentation({ mem_fragmentation_ratio: '9.5', used_memory: String(MiB), used_memory_rss: String(9.5 * MiB), mem_fragmentation_bytes: String(8.5 * MiB) }, 1.5, key).status).toBe('pass');
    expect(evaluateFragmentation({ mem_fragmentation_ratio: '2', used_memory: String(100 * MiB), used_memory_rss: String(200 * MiB), mem_fragmentation_bytes: String(100 * MiB) }, 1.5, key))
      .toMatchObject({ status: 'warn', remedy: expect.stringContaining('activedefrag') });
    expect(evaluateFragmentation({ mem_fragmentation_ratio: '0.6', used_memory: String(100 * MiB), used_memory_rss: String(60 * MiB) }, 1.5, key))
      .toMatchObject({ status: 'warn', message: expect.stringContaining('swapped out') });
    expect(evaluateFragmentation({}, 1.5, key).status).toBe('skip');
  });

  it('evictions, rejected connections, blocked clients against their thresholds', () => {
    expect(evaluateEvictions({ evicted_keys: '0', uptime_in_seconds: '60' }, 0, 'k').status).toBe('pass');
    expect(evaluateEvictions({ evicted_keys: '12', uptime_in_seconds: '3600', maxmemory_policy: 'allkeys-lru' }, 0, 'k'))
      .toMatchObject({ status: 'warn', message: '12 keys evicted in 1h of uptime (policy allkeys-lru)' });
    expect(evaluateRejectedConnections({ rejected_connections: '3', connected_clients: '10', maxclients: '10' }, 0, 'k'))
      .toMatchObject({ status: 'warn', message: '3 connections refused at maxclients since start; 10 of maxclients 10 connected' });
    expect(evaluateBlockedClients({ blocked_clients: '3' }, 50, 'k').status).toBe('pass');
    expect(evaluateBlockedClients({ blocked_clients: '51' }, 50, 'k').status).toBe('warn');
  });

  it('replication: a primary lists replicas not online; a replica judges its link and lag', () => {
    expect(evaluateReplication({ role: 'master', slave0: 'ip=a,port=1,state=online,offset=5,lag=0' }, undefined, defaults))
      .toMatchObject({ status: 'pass', message: 'primary, 1 replica online' });
    expect(evaluateReplication({ role: 'master', slave0: 'ip=a,port=1,state=send_bulk,offset=0,lag=0' }, undefined, defaults).status).toBe('warn');
    const replica = { role: 'slave', master_host: '10.0.0.1', master_port: '6379', master_link_status: 'up', master_last_io_seconds_ago: '1' };
    expect(evaluateReplication({ ...replica, master_link_status: 'down', master_link_down_since_seconds: '30' }, undefined, defaults))
      .toMatchObject({ status: 'fail', message: 'link to primary 10.0.0.1:6379 is down for 30s' });
    const link = { host: 'a', port: 1, state: 'online', offset: 1000, lagSeconds: 0 };
    expect(evaluateReplication(replica, { primaryOffset: 1000, link }, defaults)).toMatchObject({ status: 'pass', message: 'link up, 0 B and 0s behind 10.0.0.1:6379' });
    expect(evaluateReplication(replica, { primaryOffset: 1000 + 2 * MiB, link }, defaults))
      .toMatchObject({ status: 'warn', remedy: expect.stringContaining('replicaLagBytesWarn') });
    expect(evaluateReplication(replica, { primaryOffset: 1000, link: { ...link, lagSeconds: 30 } }, defaults))
      .toMatchObject({ status: 'warn', remedy: expect.stringContaining('replicaLagSecondsWarn') });
    expect(evaluateReplication({ ...replica, master_sync_in_progress: '1' }, undefined, defaults).status).toBe('warn');
  });

  it('cluster_state and slot assignment', () => {
    const ok = { cluster_state: 'ok', cluster_slots_assigned: '16384', cluster_slots_fail: '0', cluster_slots_pfail: '0', cluster_known_nodes: '6' };
    expect(evaluateClusterInfo(ok)).toMatchObject({ status: 'pass', message: 'cluster_state ok, 16384/16384 slots assigned, 6 nodes known' });
    expect(evaluateClusterInfo({ ...ok, cluster_state: 'fail', cluster_slots_assigned: '16000' })).toMatchObject({ status: 'fail', remedy: expect.stringContaining('cluster check') });
    expect(evaluateClusterInfo({ ...ok, cluster_slots_pfail: '5461' }).status).toBe('warn');
  });

  it('Sentinel quorum', () => {
    expect(evaluateQuorum('OK 3 usable Sentinels. Quorum and failover authorization can be reached', undefined, 'm', 2))
      .toMatchObject({ status: 'pass', message: 'master "m": 3 usable Sentinels. Quorum and failover authorization can be reached' });
    expect(evaluateQuorum(undefined, 'NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the majority', 'm', 2))
      .toMatchObject({ status: 'fail', message: 'master "m": 1 usable Sentinels. Not enough available Sentinels to reach the majority' });
  });

  it('the overall status is the worst one, skips aside', () => {
    expect(worst([{ status: 'pass' }, { status: 'skip' }])).toBe('pass');
    expect(worst([{ status: 'pass' }, { status: 'warn' }])).toBe('warn');
    expect(worst([{ status: 'fail' }, { status: 'warn' }])).toBe('fail');
  });
});
