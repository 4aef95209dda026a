import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { livePusher, runPusher, spoolState, takeAcknowledgement } from '../../src/backup/wal-spool.js';
import { parseWalPushArgs } from '../../src/cli/wal-push-fast.js';
import { OpsError } from '../../src/core/errors.js';

const dirs: string[] = [];
function scratch(): string {
  const dir = join(tmpdir(), `opsctl-spool-test-${process.pid}-${dirs.length}`);
  mkdirSync(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('wal-push fast path arguments', () => {
  it('takes what archive_command passes and declines everything else', () => {
    expect(parseWalPushArgs(['--async', '--repo', '/srv/b', '--parallel=3', 'pg_wal/000000010000000000000001'])).toMatchObject({
      path: 'pg_wal/000000010000000000000001',
      repo: '/srv/b',
      async: true,
      parallel: 3,
      timeoutMs: 60_000,
    });
    expect(parseWalPushArgs(['--help'])).toBeUndefined();
    expect(parseWalPushArgs(['-o', 'yaml', 'x'])).toBeUndefined();
    expect(parseWalPushArgs(['--repo'])).toBeUndefined();
    expect(parseWalPushArgs(['--parallel', '0', 'x'])).toBeUndefined();
    expect(parseWalPushArgs(['a', 'b'])).toBeUndefined();
  });
});

describe('the spool', () => {
  it('the pusher archives .ready files oldest first, history first, in parallel, and acknowledges each', async () => {
    const dir = scratch();
    const walDir = join(dir, 'pg_wal');
    const names = ['000000010000000000000003', '000000010000000000000002', '00000002.history'];
    for (const name of names) {
      writeFileSync(join(walDir, name), name);
      writeFileSync(join(walDir, 'archive_status', `${name}.ready`), '');
    }
    const order: string[] = [];
    let running = 0;
    let peak = 0;
    const summary = await runPusher({
      spool: join(dir, 'spool'),
      walDir,
      parallel: 2,
      idleMs: 100,
      push: async (path) => {
        const name = path.slice(walDir.length + 1);
        order.push(name);
        peak = Math.max(peak, (running += 1));
        await new Promise((resolve) => setTimeout(resolve, 30));
        running -= 1;
        if (name.endsWith('03')) throw new OpsError('BACKUP_WAL_CONFLICT', `${name} is already archived with other content`);
        return { name, status: 'archived', key: `wal/x/${name}`, size: name.length, sizeStored: 1 };
      },
    });
    expect(summary).toEqual({ ran: true, pushed: 2, failed: 1 });
    expect(order).toEqual(['00000002.history', '000000010000000000000002', '000000010000000000000003']);
    expect(peak).toBe(2);
    const spool = join(dir, 'spool');
    expect(await takeAcknowledgement(spool, join(walDir, '000000010000000000000002'))).toMatchObject({ status: 'archived', key: 'wal/x/000000010000000000000002' });
    await expect(takeAcknowledgement(spool, join(walDir, '000000010000000000000003'))).rejects.toMatchObject({ code: 'BACKUP_WAL_CONFLICT' });
    // Consumed: the next call asks again.
    expect(await takeAcknowledgement(spool, join(walDir, '000000010000000000000003'))).toBeUndefined();
    expect(await spoolState(spool)).toMatchObject({ pusher: undefined, queued: 0, acknowledged: 1, failed: [] });
  });

  it('an acknowledgement of another file under the same name is not taken', async () => {
    const dir = scratch();
    const walDir = join(dir, 'pg_wal');
    const path = join(walDir, '000000010000000000000005');
    writeFileSync(path, 'first');
    writeFileSync(join(walDir, 'archive_status', '000000010000000000000005.ready'), '');
    const spool = join(dir, 'spool');
    await runPusher({ spool, walDir, parallel: 1, idleMs: 50, push: async () => ({ name: 'x', status: 'archived', key: 'k', size: 5, sizeStored: 1 }) });
    writeFileSync(path, 'other');
    utimesSync(path, new Date(), new Date(Date.now() + 5_000));
    expect(await takeAcknowledgement(spool, path)).toBeUndefined();
    expect(readdirSync(join(spool, 'ack'))).toEqual([]);
  });

  it('a lock whose process is gone or whose heartbeat stopped is no live pusher', async () => {
    const spool = join(scratch(), 'spool');
    mkdirSync(spool);
    writeFileSync(join(spool, 'pusher.pid'), `${process.pid}\n`);
    expect(await livePusher(spool)).toBe(process.pid);
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(spool, 'pusher.pid'), old, old);
    expect(await livePusher(spool)).toBeUndefined();
    writeFileSync(join(spool, 'pusher.pid'), '999999999\n');
    expect(await livePusher(spool)).toBeUndefined();
  });
});
