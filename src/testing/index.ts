/**
 * `opsctl/testing`: real, throwaway Redis and PostgreSQL servers for integration tests, on free
 * loopback ports in temporary directories. Every server is stopped and its directory removed
 * by `stop()`, and also when the test process exits or is interrupted (SIGINT/SIGTERM/SIGHUP).
 *
 * @example
 * const redis = await startRedis();
 * const pg = await startPostgres({ settings: { wal_level: 'replica' } });
 * // … use redis.url and pg.url …
 * await Promise.all([redis.stop(), pg.stop()]);
 */
export { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
export { startPostgres, type PostgresServer, type StartPostgresOptions } from './postgres.js';
export { freePort } from './ports.js';
export { stopAll } from './managed-process.js';
