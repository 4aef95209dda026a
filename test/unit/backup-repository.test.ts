import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/backup/age.js';
import { filterBackups } from '../../src/backup/query.js';
import { Repository } from '../../src/backup/repository.js';
import { LocalStorage } from '../../src/backup/storage.js';
import { parseTocList, tablesOf } from '../../src/backup/toc.js';
import type { Manifest, RunRecord } from '../../src/backup/types.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';
import { rejection } from '../helpers/assertions.js';

const { dir } = useCaseDirs('backup-repo');


function manifest(id: string, overrides: Partial<Manifest> = {}): Manifest {
  return {
    format: 'opsctl-backup-manifest',
    version: 1,
    id,
    kind: 'pg-logical',
    type: 'full',
    repository: 'r',
    startedAt: '2026-11-20T10:00:00.000Z',
    finishedAt: '2026-11-20T10:00:05.000Z',
    durationMs: 5000,
    host: 'h',
    source: { server: 'postgres@127.0.0.1:5432', serverVersion: '15.14', pgDump: 'pg_dump (PostgreSQL) 15.14' },
    objects: [],
    totals: { objects: 0, sizeStored: 0, sizeLogical: 0 },
    ...overrides,
  };
}

describe('LocalStorage', () => {
  it('writes atomically, lists without temp files, reads back', async () => {
    const storage = new LocalStorage(dir());
    expect(await storage.put('a/b/c.bin', Readable.from([Buffer.from('hello '), Buffer.from('world')]))).toBe(11);
    expect((await storage.read('a/b/c.bin'))?.toString()).toBe('hello world');
    expect(await storage.stat('a/b/c.bin')).toMatchObject({ size: 11 });
    writeFileSync(join(dir(), 'a', 'b', '.c.bin.tmp-deadbeef'), 'partial');
    expect(await storage.list('a')).toEqual(['a/b/c.bin']);
    expect((await storage.listTemp('')).map((temp) => temp.key)).toEqual(['a/b/.c.bin.tmp-deadbeef']);
    expect(await storage.read('missing')).toBeUndefined();
    expect(() => storage.get('../escape')).toThrow(/invalid storage key/);
  });

  it('leaves no temp file and no object when the source fails', async () => {
    const storage = new LocalStorage(dir());
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('source broke'));
      },
    });
    await expect(storage.put('x/obj', failing)).rejects.toThrow('source broke');
    expect(readdirSync(join(dir(), 'x'))).toEqual([]);
  });

  it('create() is exclusive', async () => {
    const storage = new LocalStorage(dir());
    expect(await storage.create('locks/a.lock', Buffer.from('1'))).toBe(true);
    expect(await storage.create('locks/a.lock', Buffer.from('2'))).toBe(false);
    expect((await storage.read('locks/a.lock'))?.toString()).toBe('1');
  });
});

describe('Repository', () => {
  it('init writes repo.json with a check block the key opens and another key does not', async () => {
    const key = generateIdentity();
    await Repository.init(new LocalStorage(dir()), { scheme: 'age', key });
    const repo = await Repository.open(new LocalStorage(dir()));
    expect(repo.activeKey?.recipient).toBe(key.recipient);
    await repo.unlock([key]);
    expect(repo.identities).toEqual([key.identity]);
    expect((await rejection(repo.unlock([generateIdentity()]))).code).toBe('BACKUP_WRONG_KEY');
    expect((await rejection(repo.unlock(undefined))).code).toBe('BACKUP_KEY_MISSING');
    expect(readFileSync(join(dir(), 'repo.json'), 'utf8')).not.toContain(key.identity);
  });

  it('a check block copied from another repository is refused', async () => {
    const key = generateIdentity();
    const a = join(dir(), 'a');
    const b = join(dir(), 'b');
    await Repository.init(new LocalStorage(a), { scheme: 'age', key });
    await Repository.init(new LocalStorage(b), { scheme: 'age', key });
    const fileA = JSON.parse(readFileSync(join(a, 'repo.json'), 'utf8'));
    const fileB = JSON.parse(readFileSync(join(b, 'repo.json'), 'utf8'));
    writeFileSync(join(b, 'repo.json'), JSON.stringify({ ...fileB, encryption: { ...fileB.encryption, check: fileA.encryption.check } }));
    expect((await rejection((await Repository.open(new LocalStorage(b))).unlock([key]))).code).toBe('BACKUP_WRONG_KEY');
  });

  it('refuses a missing, damaged or newer repository', async () => {
    expect((await rejection(Repository.open(new LocalStorage(dir())))).code).toBe('BACKUP_REPO_NOT_FOUND');
    writeFileSync(join(dir(), 'repo.json'), '{"format":"opsctl-backup-repository","version":1}');
    expect((await rejection(Repository.open(new LocalStorage(dir())))).code).toBe('BACKUP_REPO_CORRUPT');
    writeFileSync(join(dir(), 'repo.json'), '{"format":"opsctl-backup-repository","version":7,"whatever":true}');
    const newer = await rejection(Repository.open(new LocalStorage(dir())));
    expect(newer.code).toBe('BACKUP_REPO_VERSION');
    expect(newer.exitCode).toBe(2);
  });

  it('ids sort by time', async () => {
    let now = Date.parse('2026-11-24T23:59:59.500Z');
    const repo = await Repository.init(new LocalStorage(dir()), { scheme: 'none' }, { clock: { now: () => now, monotonic: () => 0 } });
    const first = repo.newBackupId('pg-logical');
    now += 1000;
    const second = repo.newBackupId('pg-logical');
    expect(first).toMatch(/^20261124T235959Z-pg-logical-[0-9a-f]{6}$/);
    expect([second, first].sort()).toEqual([first, second]);
  });

  it('locks: a live holder refuses, a dead one on this host is taken over, another host is never', async () => {
    await Repository.init(new LocalStorage(dir()), { scheme: 'none' });
    const repo = await Repository.open(new LocalStorage(dir()));
    const release = await repo.acquireLock('pg-logical', 'b1');
    const error = await rejection(repo.acquireLock('pg-logical', 'b2'));
    expect(error.code).toBe('BACKUP_LOCKED');
    expect(error.message).toContain('b1');
    await release();
    expect(existsSync(join(dir(), 'locks', 'pg-logical.lock'))).toBe(false);

    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    writeFileSync(join(dir(), 'locks', 'pg-logical.lock'), JSON.stringify({ pid: dead.pid, host: repo.self.host, backupId: 'old', startedAt: '' }));
    const again = await repo.acquireLock('pg-logical', 'b3');
    await again();

    writeFileSync(join(dir(), 'locks', 'pg-logical.lock'), JSON.stringify({ pid: dead.pid, host: 'elsewhere', backupId: 'remote', startedAt: '' }));
    const remote = await rejection(repo.acquireLock('pg-logical', 'b4'));
    expect(remote.hint).toContain('remove');
  });

  it('cleanup removes manifest-less backups of dead runs and marks their runs failed, sparing live ones', async () => {
    await Repository.init(new LocalStorage(dir()), { scheme: 'none' });
    const repo = await Repository.open(new LocalStorage(dir()));
    const storage = repo.storage;
    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    const run = (id: string, pid: number): RunRecord => ({ id, kind: 'pg-logical', status: 'running', startedAt: new Date().toISOString(), host: repo.self.host, pid });
    // A complete backup, an abandoned one, and one still being written by a live run.
    await storage.put('backups/complete/db.dump', [Buffer.from('x')]);
    await repo.writeManifest(manifest('complete'));
    await storage.put('backups/abandoned/db.dump', [Buffer.from('x')]);
    writeFileSync(join(dir(), 'backups', 'abandoned', '.db2.dump.tmp-1234'), 'partial');
    await repo.writeRun(run('abandoned', dead.pid!));
    const release = await repo.acquireLock('pg-logical', 'live');
    await storage.put('backups/live/db.dump', [Buffer.from('x')]);
    await repo.writeRun(run('live', process.pid));
    // An old temp file of a run record, and a fresh one (a write in progress).
    writeFileSync(join(dir(), 'runs', '.old.json.tmp-1'), '');
    utimesSync(join(dir(), 'runs', '.old.json.tmp-1'), new Date(0), new Date(0));
    writeFileSync(join(dir(), 'runs', '.new.json.tmp-2'), '');

    const report = await repo.cleanup();
    expect(report.removedBackups).toEqual(['abandoned']);
    expect(report.removedTemp).toEqual(['runs/.old.json.tmp-1']);
    expect(report.failedRuns).toEqual(['abandoned']);
    expect(readdirSync(join(dir(), 'backups')).sort()).toEqual(['complete', 'live']);
    expect((await repo.listRuns()).find((r) => r.id === 'abandoned')).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    expect((await repo.listBackups()).map((m) => m.id)).toEqual(['complete']);
    await release();
  });

  it('init refuses a non-empty directory and an existing repository', async () => {
    writeFileSync(join(dir(), 'file.txt'), 'mine');
    expect((await rejection(Repository.init(new LocalStorage(dir()), { scheme: 'none' }))).code).toBe('BACKUP_REPO_FOREIGN');
    const other = join(dir(), 'repo');
    await Repository.init(new LocalStorage(other), { scheme: 'none' });
    expect((await rejection(Repository.init(new LocalStorage(other), { scheme: 'none' }))).code).toBe('BACKUP_REPO_EXISTS');
  });
});

describe('table of contents', () => {
  const LIST = `;
; Archive created at 2026-11-24 23:53:00 UTC
;     dbname: app
;
215; 1259 16385 TABLE public users postgres
3350; 0 16385 TABLE DATA public users postgres
216; 1259 16390 SEQUENCE public orders_id_seq postgres
3360; 0 0 SEQUENCE SET public orders_id_seq postgres
3200; 2606 16400 CONSTRAINT public users users_pkey postgres
3210; 2606 16410 FK CONSTRAINT public orders orders_user_id_fkey postgres
3400; 0 0 COMMENT - EXTENSION plpgsql 
217; 1259 16420 TABLE sales items app_owner
`;

  it('parses entries with multi-word types and names with spaces', () => {
    const toc = parseTocList(LIST);
    expect(toc).toHaveLength(8);
    expect(toc[1]).toEqual({ id: 3350, type: 'TABLE DATA', schema: 'public', name: 'users', owner: 'postgres' });
    expect(toc[4]).toEqual({ id: 3200, type: 'CONSTRAINT', schema: 'public', name: 'users users_pkey', owner: 'postgres' });
    expect(toc[5]?.type).toBe('FK CONSTRAINT');
    expect(toc[6]).toEqual({ id: 3400, type: 'COMMENT', schema: '-', name: 'EXTENSION plpgsql', owner: '' });
    expect(tablesOf(toc)).toEqual(['public.users', 'sales.items']);
  });

  it('filters backups by kind, time, database, table and label', () => {
    const toc = parseTocList(LIST);
    const objects = [{ path: 'db-app.dump', role: 'database' as const, database: 'app', format: 'pg_dump-custom' as const, compression: 'zstd' as const, encryption: 'none' as const, sizeStored: 1, sizeLogical: 2, sha256Stored: '', sha256Content: '', toc }];
    const a = manifest('a', { objects, label: 'nightly' });
    const b = manifest('b', { startedAt: '2026-11-23T00:00:00.000Z' });
    expect(filterBackups([a, b], { table: 'users' }).map((m) => m.id)).toEqual(['a']);
    expect(filterBackups([a, b], { table: 'sales.items' }).map((m) => m.id)).toEqual(['a']);
    expect(filterBackups([a, b], { table: 'public.items' })).toEqual([]);
    expect(filterBackups([a, b], { database: 'app', table: 'users' }).map((m) => m.id)).toEqual(['a']);
    expect(filterBackups([a, b], { database: 'shop' })).toEqual([]);
    expect(filterBackups([a, b], { label: 'nightly' }).map((m) => m.id)).toEqual(['a']);
    expect(filterBackups([a, b], { since: Date.parse('2026-11-22T00:00:00Z'), until: Date.parse('2026-11-24T00:00:00Z') }).map((m) => m.id)).toEqual(['b']);
    expect(filterBackups([a, b], { kind: 'pg-logical' })).toHaveLength(2);
  });
});
