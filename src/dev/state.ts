import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OpsError } from '../core/errors.js';

/** Marks `.opsctl/dev/state.json` as ours; anything else in that directory is foreign. */
export const STATE_KIND = 'opsctl-dev-stack';
export const STATE_VERSION = 1;

/** What `dev up` remembers between runs: the ports (reused) and where PostgreSQL's files are. */
export interface DevState {
  kind: typeof STATE_KIND;
  version: typeof STATE_VERSION;
  createdAt: string;
  redis: { port: number; version?: string };
  postgres: {
    port: number;
    /**
     * Directory holding `data/` and the server log: `.opsctl/dev/postgres`, or a directory
     * under the system temp dir when the `postgres` OS user cannot reach the project (root
     * running in /root).
     */
    dir: string;
    version?: string;
  };
}

/** The files of a dev stack rooted at a project directory. */
export interface DevLayout {
  /** `<root>/.opsctl/dev` */
  dir: string;
  stateFile: string;
  redisDir: string;
  redisPidFile: string;
  redisLog: string;
}

export function devLayout(root: string): DevLayout {
  const dir = join(root, '.opsctl', 'dev');
  const redisDir = join(dir, 'redis');
  return {
    dir,
    stateFile: join(dir, 'state.json'),
    redisDir,
    redisPidFile: join(redisDir, 'redis.pid'),
    redisLog: join(redisDir, 'redis.log'),
  };
}

/** PostgreSQL's paths inside its directory. */
export function postgresPaths(dir: string): { dataDir: string; log: string } {
  return { dataDir: join(dir, 'data'), log: join(dir, 'postgres.log') };
}

/**
 * Reads the state. `undefined` when there is no dev stack yet (no directory, or an empty one);
 * DEV_DIR_FOREIGN when the directory holds anything that is not ours, so nothing of it is touched.
 */
export async function readState(layout: DevLayout): Promise<DevState | undefined> {
  const entries = await readdir(layout.dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    if (error.code === 'ENOTDIR') throw foreign(layout, 'it is not a directory');
    throw error;
  });
  if (entries === undefined || entries.length === 0) return undefined;
  const text = await readFile(layout.stateFile, 'utf8').catch(() => undefined);
  if (text === undefined) throw foreign(layout, 'it has no state.json');
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    throw foreign(layout, 'its state.json is not JSON');
  }
  if (!isDevState(state)) throw foreign(layout, `its state.json is not an opsctl dev stack marker (kind: "${STATE_KIND}")`);
  return state;
}

/** Writes the state atomically (temp file + rename), creating the directory. */
export async function writeState(layout: DevLayout, state: DevState): Promise<void> {
  await mkdir(layout.dir, { recursive: true });
  const temp = `${layout.stateFile}.${randomUUID()}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await rename(temp, layout.stateFile);
}

function isDevState(value: unknown): value is DevState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<DevState>;
  return (
    state.kind === STATE_KIND &&
    state.version === STATE_VERSION &&
    isPort(state.redis?.port) &&
    isPort(state.postgres?.port) &&
    typeof state.postgres?.dir === 'string'
  );
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536;
}

function foreign(layout: DevLayout, reason: string): OpsError {
  return new OpsError('DEV_DIR_FOREIGN', `${layout.dir} exists but was not created by opsctl dev (${reason})`, {
    hint: 'move that directory away; opsctl will not touch it',
    details: { dir: layout.dir },
  });
}
