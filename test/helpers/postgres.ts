import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type PostgresServer, type StartPostgresOptions } from '../../src/testing/index.js';

export { startPostgres, freePort, type PostgresServer } from '../../src/testing/index.js';

/**
 * One PostgreSQL cluster for the whole test file: initdb + start in beforeAll, stopped and
 * deleted in afterAll. Call at the top level of a file or describe block.
 *
 * @example
 * const pg = usePostgres({ settings: { wal_level: 'replica' } });
 * it('queries', async () => { const pool = new Pool({ connectionString: pg().url }); … });
 */
export function usePostgres(options: StartPostgresOptions = {}): () => PostgresServer {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    server = await startPostgres(options);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('usePostgres(): the server is only available inside tests and hooks');
    return server;
  };
}
