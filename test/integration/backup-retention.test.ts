import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-prune-'));
const repoDir = join(root, 'repo');
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const cli = (argv: string[]) => runCli(argv, { cwd: root, env, tty: false });
const ids: string[] = [];

beforeAll(async () => {
  mkdirSync(join(root, 'secrets'));
  writeFileSync(join(root, 'secrets', 'a.env'), 'A=1\n');
  writeFileSync(
    join(root, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    backup:\n      repository: repo\n      keyFile: key.txt\n      vault:\n        sources:\n          - path: secrets\n      retention:\n        keepLast: 2\n`,
  );
  expect((await cli(['backup', 'init', '--generate-key'])).code).toBe(0);
  for (let i = 0; i < 4; i += 1) {
    const result = await cli(['backup', 'run', 'vault', '--json']);
    expect(result.code, result.stderr).toBe(0);
    ids.push((JSON.parse(result.stdout) as { id: string }).id);
  }
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('backup prune', () => {
  it('--dry-run shows what would go and deletes nothing', async () => {
    const result = await cli(['backup', 'prune', '--dry-run', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as { id: string; action: string; reasons: string }[];
    expect(plan.map((decision) => decision.action)).toEqual(['delete', 'delete', 'keep', 'keep']);
    expect(plan[3]!.reasons).toBe('last 2; newest (none verified yet)');
    expect(readdirSync(join(repoDir, 'backups'))).toHaveLength(4);
  });

  it('asks for --yes when not on a terminal', async () => {
    const result = await cli(['backup', 'prune']);
    expect(result.code).toBe(2);
    expect(readdirSync(join(repoDir, 'backups'))).toHaveLength(4);
  });

  it('deletes the backups no rule keeps', async () => {
    const result = await cli(['backup', 'prune', '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/deleted 2 backup\(s\)/);
    expect(readdirSync(join(repoDir, 'backups')).sort()).toEqual(ids.slice(2).sort());
    const again = await cli(['backup', 'prune', '--yes']);
    expect(again.stderr).toMatch(/nothing to delete/);
  });

  it('stats sums logical and stored sizes per kind', async () => {
    const result = await cli(['backup', 'stats', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { kind: string; backups: number; sizeLogical: number; sizeStored: number; savingsPercent: number }[];
    expect(rows.map((row) => [row.kind, row.backups])).toEqual([['vault', 2], ['total', 2]]);
    expect(rows[0]!.sizeLogical).toBeGreaterThan(rows[0]!.sizeStored);
    expect(rows[0]!.savingsPercent).toBeGreaterThan(0);
  });
});

describe('incremental verification and the newest verified backup', () => {
  type Check = { object: string; status: string; detail: string };
  type Decision = { id: string; reasons: string };

  it('reads an object again only when it changed since it passed, or with --full', async () => {
    const first = await cli(['backup', 'verify', ids[2]!, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/unchanged/);
    const second = await cli(['backup', 'verify', ids[2]!, '--json']);
    expect((JSON.parse(second.stdout) as Check[]).every((check) => check.status === 'ok' && check.detail.startsWith('unchanged since'))).toBe(true);
    expect(second.stderr).toMatch(/1 unchanged since they passed, not read again/);
    const full = await cli(['backup', 'verify', ids[2]!, '--full', '--json']);
    expect(full.code).toBe(0);
    expect(full.stderr).not.toMatch(/unchanged/);
    // A deep check always reads (it proves the key too).
    const deep = await cli(['backup', 'verify', ids[2]!, '--deep', '--json']);
    expect(deep.code, deep.stderr).toBe(0);
    expect(deep.stderr).not.toMatch(/unchanged/);
  });

  it('prune keeps the newest verified backup; a damaged object is read again and fails', async () => {
    const plan = JSON.parse((await cli(['backup', 'prune', '--dry-run', '--json'])).stdout) as Decision[];
    expect(plan.find((decision) => decision.id === ids[2])!.reasons).toBe('last 2; newest verified');

    const dir = join(repoDir, 'backups', ids[2]!);
    const object = readdirSync(dir).find((name) => name.endsWith('.age'))!;
    const bytes = readFileSync(join(dir, object));
    bytes[bytes.length - 100]! ^= 0xff;
    writeFileSync(join(dir, object), bytes);
    const damaged = await cli(['backup', 'verify', ids[2]!, '--json']);
    expect(damaged.code).toBe(3);
    expect((JSON.parse(damaged.stdout) as Check[])[0]!.status).toBe('hash-mismatch');
    const after = JSON.parse((await cli(['backup', 'prune', '--dry-run', '--json'])).stdout) as Decision[];
    expect(after.find((decision) => decision.id === ids[3])!.reasons).toBe('last 2; newest (none verified yet)');
  });
});

