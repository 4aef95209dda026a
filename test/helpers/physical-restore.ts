import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { materializePhysicalBackup } from '../../src/backup/pg-physical.js';
import type { Repository } from '../../src/backup/repository.js';
import { findPgServerBinDir, pgServerUser } from '../../src/postgres/tools.js';
import { makeTempDir } from '../../src/testing/managed-process.js';
import { launchPostgres } from '../../src/testing/postgres.js';

export interface RestoredServer {
  client: pg.Client;
  /** The temp dir holding `data` (and anything the caller placed there, such as tablespaces). */
  dir: string;
  dataDir: string;
  files: number;
}

/**
 * Materializes physical backup `id` into a fresh temp dir, checks it with pg_verifybackup (our
 * backup_manifest: every file's size and SHA-256, and the WAL), starts PostgreSQL on it and
 * hands a connected client to `use`; the server and the dir are removed afterwards.
 * `tablespaces` maps original locations to paths relative to the temp dir.
 */
export async function withRestoredServer(
  repo: Repository,
  id: string,
  use: (server: RestoredServer) => Promise<void>,
  options: { tablespaces?: Record<string, string>; prepare?: (dataDir: string) => void } = {},
): Promise<void> {
  const user = await pgServerUser();
  const dir = await makeTempDir(user);
  const dataDir = join(dir, 'data');
  try {
    const tablespaces = Object.fromEntries(Object.entries(options.tablespaces ?? {}).map(([from, to]) => [from, join(dir, to)]));
    const { files } = await materializePhysicalBackup(repo, id, dataDir, { tablespaces });
    options.prepare?.(dataDir);
    if (user !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const { binDir } = await findPgServerBinDir({});
    execFileSync(join(binDir, 'pg_verifybackup'), ['-q', dataDir]);
    const { managed, port } = await launchPostgres({ binDir, dir, dataDir, user, env: { PATH: process.env.PATH } });
    try {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      await client.connect();
      try {
        await use({ client, dir, dataDir, files });
      } finally {
        await client.end();
      }
    } finally {
      await managed.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
