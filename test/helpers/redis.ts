import { afterAll, beforeAll } from 'vitest';
import { Cluster } from 'ioredis';
import { startRedis, startRedisCluster, type RedisClusterTopology, type RedisServer, type StartRedisClusterOptions, type StartRedisOptions } from '../../src/testing/index.js';

export { startRedis, freePort, type RedisServer } from '../../src/testing/index.js';

/**
 * One redis-server for the whole test file: started in beforeAll, stopped in afterAll.
 * Call at the top level of a file or describe block; the getter is valid inside tests.
 *
 * @example
 * const redis = useRedis();
 * it('pings', async () => { const client = new Redis(redis().url); … });
 */
export function useRedis(options: StartRedisOptions = {}): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('useRedis(): the server is only available inside tests and hooks');
    return server;
  };
}

/**
 * One Redis Cluster (3 primaries with a replica each, unless `options` say otherwise) for the
 * describe block or file, with an ioredis Cluster client on it; both closed in afterAll.
 */
export function useRedisCluster(options: StartRedisClusterOptions = {}): () => { topology: RedisClusterTopology; client: Cluster } {
  let topology: RedisClusterTopology | undefined;
  let client: Cluster | undefined;
  beforeAll(async () => {
    topology = await startRedisCluster(options);
    client = new Cluster(topology.seeds);
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await topology?.stop();
  });
  return () => {
    if (topology === undefined || client === undefined) throw new Error('useRedisCluster(): the cluster is only available inside tests and hooks');
    return { topology, client };
  };
}
