import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { OpsError } from '../core/errors.js';

/** A PostgreSQL program found on this machine, with the version it reports. */
export interface PgTool {
  name: string;
  path: string;
  version: PgVersion;
}

export interface PgVersion {
  major: number;
  minor: number;
  /** The `--version` line as printed, e.g. `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`. */
  text: string;
}

export interface PgToolSearchOptions {
  /** Environment whose PATH (and OPSCTL_PG_BIN_SEARCH) is searched; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Skip installations older than this major version. */
  minMajor?: number;
}

/**
 * Where PostgreSQL installs its programs besides PATH, newest first within each pattern:
 * Debian/Ubuntu, Homebrew (Intel and Apple silicon), PGDG RPMs.
 * `OPSCTL_PG_BIN_SEARCH` (a PATH-style list of directories or `*` patterns) replaces this list;
 * set it empty to search PATH only.
 */
export const DEFAULT_PG_BIN_SEARCH: readonly string[] = [
  '/usr/lib/postgresql/*/bin',
  '/usr/local/opt/postgresql*/bin',
  '/opt/homebrew/opt/postgresql*/bin',
  '/usr/pgsql-*/bin',
];

const CLIENT_HINT =
  'install PostgreSQL client tools: apt-get install postgresql-client (Debian/Ubuntu), brew install postgresql (macOS)';
const SERVER_HINT =
  'install the PostgreSQL server: apt-get install postgresql (Debian/Ubuntu), brew install postgresql (macOS)';
const SERVER_PROGRAMS = ['initdb', 'pg_ctl', 'postgres'] as const;

/**
 * Parses the first line of `<tool> --version`. Handles `15.14`, pre-10 `9.6.24` (major 9,
 * minor 6), and development builds such as `17beta1` or `18devel` (minor 0).
 */
export function parsePgVersion(output: string): PgVersion | undefined {
  const text = output.split('\n').find((line) => line.trim() !== '')?.trim();
  if (text === undefined) return undefined;
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(text) ?? /\b(\d+)(?:\.(\d+))?/.exec(text);
  if (match === null) return undefined;
  return { major: Number(match[1]), minor: match[2] === undefined ? 0 : Number(match[2]), text };
}

/** The first executable called `name` on the env's PATH, or undefined. */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of pathDirs(env)) {
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds a PostgreSQL program: PATH first, then the usual installation directories (newest
 * major first). With `minMajor`, older installations are skipped. Throws TOOL_NOT_FOUND
 * naming the program and the package that provides it.
 */
export async function findPgTool(name: string, options: PgToolSearchOptions = {}): Promise<PgTool> {
  const env = options.env ?? process.env;
  const tooOld: PgTool[] = [];
  for (const dir of await searchDirs(env)) {
    const path = join(dir, name);
    if (!(await isExecutableFile(path))) continue;
    const version = await readVersion(path);
    if (version === undefined) continue;
    const tool = { name, path, version };
    if (options.minMajor !== undefined && version.major < options.minMajor) {
      tooOld.push(tool);
      continue;
    }
    return tool;
  }
  const server = (SERVER_PROGRAMS as readonly string[]).includes(name);
  if (tooOld.length > 0) {
    const found = tooOld.map((tool) => `${tool.version.major}.${tool.version.minor} at ${tool.path}`).join(', ');
    throw new OpsError('TOOL_NOT_FOUND', `${name} ${options.minMajor} or newer not found (found ${found})`, {
      hint: server ? SERVER_HINT : CLIENT_HINT,
      details: { tool: name, minMajor: options.minMajor },
    });
  }
  throw new OpsError('TOOL_NOT_FOUND', `${name} not found on PATH or under ${searchRoots(env).join(', ') || 'PATH only'}`, {
    hint: server ? SERVER_HINT : CLIENT_HINT,
    details: { tool: name },
  });
}

/** A directory holding a complete PostgreSQL server installation. */
export interface PgServerBinDir {
  binDir: string;
  version: PgVersion;
}

/**
 * The directory of the server programs (initdb, pg_ctl and postgres together, so they are one
 * version). A directory of symlinks (/usr/local/bin/initdb → /usr/lib/postgresql/15/bin/initdb)
 * resolves to the real installation directory.
 */
export async function findPgServerBinDir(options: PgToolSearchOptions = {}): Promise<PgServerBinDir> {
  const env = options.env ?? process.env;
  for (const dir of await searchDirs(env)) {
    if (!(await hasServerPrograms(dir))) continue;
    const real = dirname(await realpath(join(dir, 'initdb')));
    const binDir = real !== dir && (await hasServerPrograms(real)) ? real : dir;
    const version = await readVersion(join(binDir, 'postgres'));
    if (version === undefined) continue;
    if (options.minMajor !== undefined && version.major < options.minMajor) continue;
    return { binDir, version };
  }
  throw new OpsError(
    'TOOL_NOT_FOUND',
    `PostgreSQL server programs (initdb, pg_ctl, postgres) not found together on PATH or under ${searchRoots(env).join(', ') || 'PATH only'}`,
    { hint: SERVER_HINT, details: { tool: 'initdb' } },
  );
}

/** The OS identity PostgreSQL server processes run as. */
export interface ServerUser {
  uid: number;
  gid: number;
  name: string;
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user
 * (created by the distribution packages). Returns undefined when not root: run as ourselves.
 */
export async function pgServerUser(): Promise<ServerUser | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === 'postgres' && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  throw new OpsError('TOOL_NOT_FOUND', 'PostgreSQL will not run as root and there is no "postgres" OS user', {
    hint: 'create it (useradd --system --user-group postgres) or run opsctl as a normal user',
  });
}

async function hasServerPrograms(dir: string): Promise<boolean> {
  for (const program of SERVER_PROGRAMS) {
    if (!(await isExecutableFile(join(dir, program)))) return false;
  }
  return true;
}

function pathDirs(env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
}

function searchRoots(env: NodeJS.ProcessEnv): string[] {
  const override = env.OPSCTL_PG_BIN_SEARCH;
  if (override === undefined) return [...DEFAULT_PG_BIN_SEARCH];
  return override.split(delimiter).filter((entry) => entry !== '');
}

/** PATH, then every installation directory matching the search roots, deduplicated. */
async function searchDirs(env: NodeJS.ProcessEnv): Promise<string[]> {
  const dirs = [...pathDirs(env)];
  for (const root of searchRoots(env)) dirs.push(...(await expandPattern(root)));
  return [...new Set(dirs)];
}

/**
 * Expands `*` within path segments (`/usr/lib/postgresql/*\/bin`), sorting each expanded
 * segment by the version number in its name, newest first (unversioned names last).
 */
export async function expandPattern(pattern: string): Promise<string[]> {
  const segments = pattern.split('/');
  let prefixes = [segments[0] === '' ? '/' : segments[0]!];
  for (const segment of segments.slice(1)) {
    if (segment === '') continue;
    const next: string[] = [];
    for (const prefix of prefixes) {
      if (!segment.includes('*')) {
        next.push(join(prefix, segment));
        continue;
      }
      const regex = new RegExp(`^${segment.split('*').map(escapeRegex).join('.*')}$`);
      const names = await readdir(prefix).catch(() => [] as string[]);
      next.push(...names.filter((name) => regex.test(name)).sort(byVersionDesc).map((name) => join(prefix, name)));
    }
    prefixes = next;
  }
  const existing: string[] = [];
  for (const dir of prefixes) {
    if (await stat(dir).then((s) => s.isDirectory(), () => false)) existing.push(dir);
  }
  return existing;
}

function byVersionDesc(a: string, b: string): number {
  const va = versionKey(a);
  const vb = versionKey(b);
  if (va === undefined || vb === undefined) return va === vb ? a.localeCompare(b) : va === undefined ? 1 : -1;
  return vb[0] - va[0] || vb[1] - va[1];
}

function versionKey(name: string): [number, number] | undefined {
  const match = /(\d+)(?:\.(\d+))?/.exec(name);
  return match === null ? undefined : [Number(match[1]), Number(match[2] ?? 0)];
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function readVersion(path: string): Promise<PgVersion | undefined> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: 10_000 }, (error, stdout) => {
      resolve(error === null ? parsePgVersion(stdout) : undefined);
    });
  });
}
