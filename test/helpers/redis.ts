import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisServer, type StartRedisOptions } from '../../src/testing/index.js';

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
