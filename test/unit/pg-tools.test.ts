import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpsError } from '../../src/core/errors.js';
import {
  expandPattern,
  findExecutable,
  findPgServerBinDir,
  findPgTool,
  parsePgVersion,
} from '../../src/postgres/tools.js';

describe('parsePgVersion', () => {
  it.each([
    ['pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)', 15, 14],
    ['psql (PostgreSQL) 16.4 (Homebrew)', 16, 4],
    ['pg_dump (PostgreSQL) 9.6.24', 9, 6],
    ['postgres (PostgreSQL) 17beta1', 17, 0],
    ['pg_ctl (PostgreSQL) 18devel', 18, 0],
    ['\ninitdb (PostgreSQL) 13.1\nextra line', 13, 1],
    ['pg_isready 12.3', 12, 3],
  ])('%j → %i.%i', (output, major, minor) => {
    expect(parsePgVersion(output)).toEqual({ major, minor, text: output.trim().split('\n')[0] });
  });

  it.each(['', '\n', 'no digits here'])('%j → undefined', (output) => {
    expect(parsePgVersion(output)).toBeUndefined();
  });
});

describe('tool discovery', () => {
  let root: string;

  /** A shell script that prints a PostgreSQL-style version line. */
  async function fakeTool(dir: string, name: string, version: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\necho "${name} (PostgreSQL) ${version}"\n`);
    await chmod(path, 0o755);
    return path;
  }

  function env(path: string[], search: string[]): NodeJS.ProcessEnv {
    return { PATH: path.join(delimiter), OPSCTL_PG_BIN_SEARCH: search.join(delimiter) };
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'opsctl-pg-tools-'));
    for (const [major, version] of [['9.6', '9.6.24'], ['14', '14.11'], ['16', '16.2']] as const) {
      const bin = join(root, 'lib/postgresql', major, 'bin');
      for (const name of ['pg_dump', 'initdb', 'pg_ctl', 'postgres']) await fakeTool(bin, name, version);
    }
    await fakeTool(join(root, 'path-bin'), 'pg_dump', '13.3');
    // A PATH dir of symlinks into one installation (like /usr/local/bin here).
    await mkdir(join(root, 'links'));
    for (const name of ['initdb', 'pg_ctl', 'postgres']) {
      await symlink(join(root, 'lib/postgresql/14/bin', name), join(root, 'links', name));
    }
    // A PATH dir with only an initdb wrapper: not a server installation.
    await fakeTool(join(root, 'wrapper-bin'), 'initdb', '16.2');
    // Not executable, and a directory with a tool's name: both skipped.
    await mkdir(join(root, 'noexec'));
    await writeFile(join(root, 'noexec', 'redis-server'), '#!/bin/sh\n');
    await mkdir(join(root, 'dir-named', 'redis-server'), { recursive: true });
    await fakeTool(join(root, 'real'), 'redis-server', '7.0.0');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('expands patterns newest version first (numerically: 16 before 9.6)', async () => {
    expect(await expandPattern(join(root, 'lib/postgresql/*/bin'))).toEqual([
      join(root, 'lib/postgresql/16/bin'),
      join(root, 'lib/postgresql/14/bin'),
      join(root, 'lib/postgresql/9.6/bin'),
    ]);
    expect(await expandPattern(join(root, 'nothing-here/*/bin'))).toEqual([]);
  });

  it('prefers PATH over the installation directories', async () => {
    const tool = await findPgTool('pg_dump', { env: env([join(root, 'path-bin')], [join(root, 'lib/postgresql/*/bin')]) });
    expect(tool).toEqual({
      name: 'pg_dump',
      path: join(root, 'path-bin', 'pg_dump'),
      version: { major: 13, minor: 3, text: 'pg_dump (PostgreSQL) 13.3' },
    });
  });

  it('falls back to the newest installation when PATH has none', async () => {
    const tool = await findPgTool('pg_dump', { env: env([join(root, 'noexec')], [join(root, 'lib/postgresql/*/bin')]) });
    expect(tool.path).toBe(join(root, 'lib/postgresql/16/bin/pg_dump'));
    expect(tool.version.major).toBe(16);
  });

  it('skips installations older than minMajor', async () => {
    const tool = await findPgTool('pg_dump', {
      env: env([join(root, 'path-bin')], [join(root, 'lib/postgresql/9.6/bin'), join(root, 'lib/postgresql/14/bin')]),
      minMajor: 14,
    });
    expect(tool.path).toBe(join(root, 'lib/postgresql/14/bin/pg_dump'));
  });

  it('names what it found when everything is too old', async () => {
    const error = await findPgTool('pg_dump', { env: env([join(root, 'path-bin')], []), minMajor: 17 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsError);
    expect((error as OpsError).code).toBe('TOOL_NOT_FOUND');
    expect((error as OpsError).message).toBe(`pg_dump 17 or newer not found (found 13.3 at ${join(root, 'path-bin', 'pg_dump')})`);
  });

  it('throws TOOL_NOT_FOUND with the install commands when missing', async () => {
    const error = await findPgTool('pg_restore', { env: env([], [join(root, 'lib/postgresql/*/bin')]) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsError);
    expect((error as OpsError).code).toBe('TOOL_NOT_FOUND');
    expect((error as OpsError).exitCode).toBe(4);
    expect((error as OpsError).message).toBe(`pg_restore not found on PATH or under ${join(root, 'lib/postgresql/*/bin')}`);
    expect((error as OpsError).hint).toMatch(/apt-get install postgresql-client.*brew install postgresql/);
  });

  it('uses the default search roots when OPSCTL_PG_BIN_SEARCH is unset', async () => {
    const error = await findPgTool('no-such-pg-tool', { env: { PATH: '' } }).catch((e: unknown) => e);
    expect((error as OpsError).message).toContain('/usr/lib/postgresql/*/bin');
  });

  it('finds the server bin dir through symlinks, skipping partial installations', async () => {
    const found = await findPgServerBinDir({ env: env([join(root, 'wrapper-bin'), join(root, 'links')], [join(root, 'lib/postgresql/*/bin')]) });
    expect(found.binDir).toBe(join(root, 'lib/postgresql/14/bin'));
    expect(found.version.major).toBe(14);
    const newest = await findPgServerBinDir({ env: env([join(root, 'wrapper-bin')], [join(root, 'lib/postgresql/*/bin')]) });
    expect(newest.binDir).toBe(join(root, 'lib/postgresql/16/bin'));
    const error = await findPgServerBinDir({ env: env([join(root, 'wrapper-bin')], []) }).catch((e: unknown) => e);
    expect((error as OpsError).code).toBe('TOOL_NOT_FOUND');
    expect((error as OpsError).hint).toMatch(/apt-get install postgresql /);
  });

  it('findExecutable skips non-executable files and directories', async () => {
    const path = [join(root, 'noexec'), join(root, 'dir-named'), join(root, 'real')];
    expect(await findExecutable('redis-server', { PATH: path.join(delimiter) })).toBe(join(root, 'real', 'redis-server'));
    expect(await findExecutable('redis-server', { PATH: path.slice(0, 2).join(delimiter) })).toBeUndefined();
    expect(await findExecutable('redis-server', {})).toBeUndefined();
  });
});
