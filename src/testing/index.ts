/**
 * `opsctl/testing`: real, throwaway Redis and PostgreSQL servers for integration tests, on free
 * loopback ports in temporary directories. Every server is stopped and its directory removed
 * by `stop()`, and also when the test process exits or is interrupted (SIGINT/SIGTERM/SIGHUP).
 *
 * @example
 * const redis = await startRedis();
 * const pg = await startPostgres({ settings: { wal_level: 'replica' } });
 * const sentinel = await startRedisSentinel(); // primary + replica + 3 Sentinels
 * const cluster = await startRedisCluster(); // 3 primaries + 3 replicas
 * // … use redis.url, pg.url, sentinel.sentinelNodes, cluster.seeds …
 * await Promise.all([redis.stop(), pg.stop(), sentinel.stop(), cluster.stop()]);
 */
export { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
export {
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterTopology,
  type RedisSentinelTopology,
  type StartRedisClusterOptions,
  type StartRedisSentinelOptions,
} from './redis-topologies.js';
export { startPostgres, type PostgresServer, type StartPostgresOptions } from './postgres.js';
export { freePort } from './ports.js';
export { redisQuery, type RespValue } from './ready.js';
export { stopAll } from './managed-process.js';
