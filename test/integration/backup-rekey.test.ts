import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-rekey-'));
const repoDir = join(root, 'repo');
const oldKey = join(root, 'old-key.txt');
const newKey = join(root, 'new-key.txt');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const cli = (argv: string[]) => runCli(argv, { cwd: root, env, tty: false });

interface Shown {
  keys: string[];
  objects: { path: string; keyId: string }[];
}

async function show(id: string): Promise<Shown> {
  const result = await cli(['backup', 'show', id, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Shown;
}

async function vaultBackup(): Promise<string> {
  const result = await cli(['backup', 'run', 'vault', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

async function deepStatuses(keyFile: string): Promise<Record<string, string>> {
  const result = await cli(['backup', 'verify', '--all', '--deep', '--key-file', keyFile, '--json']);
  const checks = JSON.parse(result.stdout) as { backup: string; status: string }[];
  return Object.fromEntries(checks.map((check) => [check.backup, check.status]));
}

let before = '';
let after = '';

beforeAll(async () => {
  mkdirSync(join(root, 'secrets'));
  writeFileSync(join(root, 'secrets', 'a.env'), 'A=1\n');
  writeFileSync(
    join(root, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    backup:\n      repository: repo\n      keyFile: old-key.txt\n      vault:\n        sources:\n          - path: secrets\n`,
  );
  expect((await cli(['backup', 'init', '--generate-key'])).code).toBe(0);
  before = await vaultBackup();
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backup rekey', () => {
  it('--dry-run changes nothing', async () => {
    const repoJson = readFileSync(join(repoDir, 'repo.json'), 'utf8');
    const result = await cli(['backup', 'rekey', '--new-key-file', newKey, '--generate-key', '--dry-run']);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(repoDir, 'repo.json'), 'utf8')).toBe(repoJson);
  });

  it('adds the key and makes it active; old backups keep needing the old key', async () => {
    const result = await cli(['backup', 'rekey', '--new-key-file', newKey, '--generate-key', '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { activeKey: string; added: boolean };
    expect(out.added).toBe(true);
    const repo = JSON.parse(readFileSync(join(repoDir, 'repo.json'), 'utf8')) as { encryption: { activeKey: string; keys: { id: string }[] } };
    expect(repo.encryption.keys).toHaveLength(2);
    expect(repo.encryption.activeKey).toBe(out.activeKey);
    after = await vaultBackup();
    const [oldId] = (await show(before)).keys;
    expect(oldId).not.toBe(out.activeKey);
    expect((await show(after)).keys).toEqual([out.activeKey]);
    expect(await deepStatuses(oldKey)).toEqual({ [before]: 'ok', [after]: 'decrypt-failed' });
    expect(await deepStatuses(newKey)).toEqual({ [before]: 'decrypt-failed', [after]: 'ok' });
  });

  it('--rewrap moves old objects to the new key without changing their content', async () => {
    const old = await show(before);
    const manifestBefore = JSON.parse(readFileSync(join(repoDir, 'backups', before, 'manifest.json'), 'utf8')) as { objects: { sha256Content: string }[] };
    const result = await cli(['backup', 'rekey', '--new-key-file', newKey, '--rewrap', '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { rewrapped: number; added: boolean })).toMatchObject({ rewrapped: 1, added: false });
    const rewrapped = await show(before);
    expect(rewrapped.keys).toEqual((await show(after)).keys);
    expect(rewrapped.objects[0]!.path).toBe(old.objects[0]!.path.replace(/\.age$/, `.${rewrapped.keys[0]}.age`));
    // The old object is gone (verification.json is the last verify's record, not backup content).
    expect(readdirSync(join(repoDir, 'backups', before)).filter((name) => name !== 'verification.json').sort()).toEqual(['manifest.json', rewrapped.objects[0]!.path]);
    const manifestAfter = JSON.parse(readFileSync(join(repoDir, 'backups', before, 'manifest.json'), 'utf8')) as { objects: { sha256Content: string }[] };
    expect(manifestAfter.objects[0]!.sha256Content).toBe(manifestBefore.objects[0]!.sha256Content);
    expect(await deepStatuses(newKey)).toEqual({ [before]: 'ok', [after]: 'ok' });
  });

  it('refuses a new key file that is not an age identity', async () => {
    writeFileSync(join(root, 'bad.txt'), 'not a key\n');
    const result = await cli(['backup', 'rekey', '--new-key-file', join(root, 'bad.txt'), '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not an age X25519 identity/);
  });
});
