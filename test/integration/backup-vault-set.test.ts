import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageDecryptBuffer, parseIdentityFile } from '../../src/backup/age.js';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

const redis = useRedis();
const postgres = usePostgres();
const SECRET = 'VAULT-SECRET-3b8e0c';
const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-vault-'));
const repoDir = join(root, 'repo');
const keyFile = join(root, 'key.txt');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const cli = (argv: string[], cwd = root) => runCli(argv, { cwd, env, tty: false });

function writeConfig(dir: string, sections: { repo?: string; vault?: string; services?: boolean }): void {
  const services = sections.services === false ? '' : `    postgres:\n      url: ${postgres().url}\n    redis:\n      url: ${redis().url}\n`;
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n${services}    backup:\n      repository: ${sections.repo ?? repoDir}\n      keyFile: ${keyFile}\n${sections.vault ?? ''}`,
  );
}

const VAULT = `      vault:\n        sources:\n          - path: secrets\n          - command: [cat, ${join(root, 'secrets', 'app.env')}]\n`;

function manifestOf(id: string, dir = repoDir): { kind: string; set?: string; objects: { path: string; format: string }[] } {
  return JSON.parse(readFileSync(join(dir, 'backups', id, 'manifest.json'), 'utf8'));
}

async function plaintextOf(id: string, path: string): Promise<Buffer> {
  const identities = parseIdentityFile(readFileSync(keyFile, 'utf8'), keyFile).map((key) => key.identity);
  const compressed = await ageDecryptBuffer(readFileSync(join(repoDir, 'backups', id, path)), identities);
  return execFileSync('zstd', ['-d', '-c', '-q'], { input: compressed });
}

beforeAll(async () => {
  mkdirSync(join(root, 'secrets', 'nested'), { recursive: true });
  writeFileSync(join(root, 'secrets', 'app.env'), `DB_PASSWORD=${SECRET}\n`);
  writeFileSync(join(root, 'secrets', 'nested', 'token'), 'tok-123\n');
  const client = new Redis(redis().url);
  await client.config('SET', 'repl-diskless-sync-delay', '0');
  await client.set('k', 'v');
  client.disconnect();
  writeConfig(root, { vault: VAULT });
  const init = await cli(['backup', 'init', '--generate-key', '--json']);
  expect(init.code, init.stderr).toBe(0);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backup run vault', () => {
  it('archives path sources with tar and command output, encrypted', async () => {
    const result = await cli(['backup', 'run', 'vault', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const { id } = JSON.parse(result.stdout) as { id: string };
    const manifest = manifestOf(id);
    expect(manifest.objects.map((object) => [object.path, object.format])).toEqual([
      ['vault-1-secrets.tar.zst.age', 'tar'],
      ['vault-2-cat.out.zst.age', 'command-output'],
    ]);
    for (const name of readdirSync(join(repoDir, 'backups', id))) {
      expect(readFileSync(join(repoDir, 'backups', id, name)).includes(SECRET)).toBe(false);
    }
    const out = join(root, 'restored');
    mkdirSync(out);
    execFileSync('tar', ['-xf', '-', '-C', out], { input: await plaintextOf(id, 'vault-1-secrets.tar.zst.age') });
    expect(readFileSync(join(out, 'secrets', 'app.env'), 'utf8')).toBe(`DB_PASSWORD=${SECRET}\n`);
    expect(readFileSync(join(out, 'secrets', 'nested', 'token'), 'utf8')).toBe('tok-123\n');
    expect((await plaintextOf(id, 'vault-2-cat.out.zst.age')).toString()).toBe(`DB_PASSWORD=${SECRET}\n`);
  });

  it('is refused on an unencrypted repository, before anything is written', async () => {
    const dir = mkdtempSync(join(root, 'plain-'));
    const plainRepo = join(dir, 'repo');
    writeConfig(dir, { repo: plainRepo, vault: VAULT.replace('path: secrets', `path: ${join(root, 'secrets')}`) });
    expect((await cli(['backup', 'init', '--no-encryption'], dir)).code).toBe(0);
    const result = await cli(['backup', 'run', 'vault'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not encrypted: a vault backup is refused/);
    expect(readdirSync(plainRepo)).toEqual(['repo.json']);
  });

  it('names a missing source path', async () => {
    const dir = mkdtempSync(join(root, 'missing-'));
    writeConfig(dir, { vault: '      vault:\n        sources:\n          - path: nowhere\n' });
    const result = await cli(['backup', 'run', 'vault'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/nowhere does not exist/);
  });
});

describe('backup run --all', () => {
  it('takes PostgreSQL, Redis and the vault as one set, recorded last', async () => {
    const result = await cli(['backup', 'run', '--all', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { set: string; backups: { kind: string; id: string }[] };
    expect(out.backups.map((backup) => backup.kind)).toEqual(['pg-logical', 'redis', 'vault']);
    for (const backup of out.backups) expect(manifestOf(backup.id).set).toBe(out.set);
    const document = JSON.parse(readFileSync(join(repoDir, 'sets', `${out.set}.json`), 'utf8')) as { format: string; version: number; backups: unknown[] };
    expect(document).toMatchObject({ format: 'opsctl-backup-set', version: 1, backups: out.backups.map(({ kind, id }) => ({ kind, id })) });
    const list = await cli(['backup', 'list', '--json']);
    const rows = JSON.parse(list.stdout) as { id: string; set: string }[];
    expect(rows.filter((row) => row.set === out.set).map((row) => row.id).sort()).toEqual(out.backups.map((backup) => backup.id).sort());
  });

  it('fails without a set document when a member fails, keeping the members taken', async () => {
    const dir = mkdtempSync(join(root, 'fail-'));
    writeConfig(dir, { vault: '      vault:\n        sources:\n          - command: ["false"]\n' });
    const before = readdirSync(join(repoDir, 'sets')).length;
    const result = await cli(['backup', 'run', '--all'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the vault backup failed/);
    expect(result.stderr).toMatch(/kept as single backups: \S+-pg-logical-\S+, \S+-redis-/);
    expect(readdirSync(join(repoDir, 'sets'))).toHaveLength(before);
  });

  it('needs a kind or --all', async () => {
    const result = await cli(['backup', 'run']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/name one kind or pass --all/);
  });
});
