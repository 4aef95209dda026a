import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Storage } from '../../src/backup/s3-storage.js';
import { runCli } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';

const server = usePostgres();
const root = mkdtempSync(join(tmpdir(), 'opsctl-backup-s3-'));
const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const cli = (argv: string[]) => runCli(argv, { cwd: root, env, tty: false });
const MARKER = 'S3-PLAINTEXT-MARKER-0c4e';
let s3: S3rver;
let storage: S3Storage;

beforeAll(async () => {
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(root, 's3'), configureBuckets: [{ name: 'backups', configs: [] }] });
  const { port } = await s3.run();
  const settings = { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', forcePathStyle: true };
  storage = new S3Storage('backups', 'team/prod/', settings);
  const client = new pg.Client({ connectionString: server().url });
  await client.connect();
  await client.query(`create table notes (id int, body text); insert into notes select g, md5(g::text) from generate_series(1, 2000) g; insert into notes values (0, '${MARKER}')`);
  await client.end();
  writeFileSync(
    join(root, 'opsctl.config.yaml'),
    `version: 2\ndefaultProfile: test\nprofiles:\n  test:\n    postgres:\n      url: ${server().url}\n    backup:\n      repository: s3://backups/team/prod\n      keyFile: key.txt\n      s3:\n        endpoint: ${settings.endpoint}\n        region: us-east-1\n        accessKeyId: S3RVER\n        secretAccessKey: S3RVER\n        forcePathStyle: true\n`,
  );
});

afterAll(async () => {
  storage?.close();
  await s3?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('an S3 repository', () => {
  let id = '';

  it('is created, takes a logical backup and commits it with the manifest object', async () => {
    const init = await cli(['backup', 'init', '--generate-key', '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ repository: 's3://backups/team/prod', encryption: 'age' });
    const run = await cli(['backup', 'run', 'postgres', '--json']);
    expect(run.code, run.stderr).toBe(0);
    id = (JSON.parse(run.stdout) as { id: string }).id;
    const keys = await storage.list('backups');
    expect(keys).toContain(`backups/${id}/manifest.json`);
    expect(keys.filter((key) => key.endsWith('.age')).length).toBeGreaterThanOrEqual(2);
    for (const key of keys) expect((await storage.read(key))!.includes(MARKER)).toBe(false);
    expect(await storage.list('runs')).toEqual([`runs/${id}.json`]);
  });

  it('lists, shows and verifies (fast and deep) the backup', async () => {
    const list = await cli(['backup', 'list', '--table', 'notes', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((row) => row.id)).toEqual([id]);
    for (const args of [[], ['--deep']]) {
      const verify = await cli(['backup', 'verify', '--all', ...args, '--json']);
      expect(verify.code, verify.stderr).toBe(0);
      expect((JSON.parse(verify.stdout) as { status: string }[]).every((check) => check.status === 'ok')).toBe(true);
    }
  });

  it('names a damaged object (exit 3) and a missing one', async () => {
    const key = (await storage.list(`backups/${id}`)).find((name) => name.endsWith('.age'))!;
    const bytes = (await storage.read(key))!;
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5);
    await storage.put(key, [bytes]);
    const verify = await cli(['backup', 'verify', id, '--json']);
    expect(verify.code).toBe(3);
    expect(verify.stderr).toContain(key.split('/').at(-1)!);
    await storage.delete(key);
    const missing = await cli(['backup', 'verify', id, '--json']);
    expect(missing.code).toBe(3);
    expect((JSON.parse(missing.stdout) as { status: string }[]).some((check) => check.status === 'missing')).toBe(true);
  });

  it('streams a large object as a multipart upload, committed only when complete', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const chunks = Array.from({ length: Math.ceil(data.length / 65536) }, (_, index) => data.subarray(index * 65536, (index + 1) * 65536));
    expect(await storage.put('big/object.bin', chunks)).toBe(data.length);
    expect((await storage.stat('big/object.bin'))?.size).toBe(data.length);
    expect((await storage.read('big/object.bin'))!.equals(data)).toBe(true);
    const controller = new AbortController();
    const failing = async function* () {
      yield data.subarray(0, 9 * 1024 * 1024);
      controller.abort();
      yield data.subarray(0, 10);
    };
    await expect(storage.put('big/partial.bin', failing(), { signal: controller.signal })).rejects.toThrow();
    expect(await storage.stat('big/partial.bin')).toBeUndefined();
  });

  it('refuses a repository URL without a bucket', async () => {
    const result = await cli(['backup', 'list', '--repo', 's3://']);
    expect(result.code).toBe(2);
  });
});
