#!/usr/bin/env node
// WAL archiving benchmark: a steady pgbench write load on a WAL-archiving PostgreSQL, with
// archive_command = `opsctl backup wal-push` (one Node process pushes each segment) against
// `wal-push --async` (archive_command only collects what a long-running pusher archived ahead,
// two segments at a time). Samples the archiver's backlog (.ready files in pg_wal/archive_status)
// and pg_stat_archiver every 250 ms. Interleaved rounds (sync, async, sync, …), medians.
// Target (issue 9): pg_wal never backs up under a steady write load.
//
// First, the cost of one archive_command call (16 MiB segment, half random, half text): the
// ordinary path (repository from the configuration), the fast path (--repo) and --async with the
// segment already archived ahead by the pusher; `node -e 0` for scale. --calls-only stops there.
//
//   npm run build && node bench/backup-wal.js [--mbps 40] [--seconds 30] [--runs 3] [--calls 5] [--calls-only] [--json]
//
// Needs the PostgreSQL server programs, pgbench and zstd on PATH; starts its own server.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { generateIdentity } from '../dist/backup/age.js';
import { Repository } from '../dist/backup/repository.js';
import { LocalStorage } from '../dist/backup/storage.js';
import { pgServerUser } from '../dist/postgres/tools.js';
import { startPostgres } from '../dist/testing/index.js';
import { makeTempDir } from '../dist/testing/managed-process.js';
import { flag, log, median, opsctlBin as bin, option } from './lib.js';

const mbps = option('--mbps', 40);
const seconds = option('--seconds', 30);
const runs = option('--runs', 3);
const calls = option('--calls', 5);
const SEGMENT = 16 * 2 ** 20;

const user = await pgServerUser();
const root = await makeTempDir(user);
const repoDir = join(root, 'repo');
await Repository.init(new LocalStorage(repoDir), { scheme: 'age', key: generateIdentity() });
if (user !== undefined) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, repoDir]);
// Durable like production (the test helper's fsync=off would flatter both modes alike).
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Milliseconds of one CLI call (a new Node process, as archive_command starts it). */
function timeCall(argv, cwd) {
  const start = process.hrtime.bigint();
  execFileSync(process.execPath, argv, { cwd, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Run by this process's user, so into a repository of its own (the server's must stay the server user's). */
async function perCallCosts() {
  const dir = join(root, 'calls');
  const walDir = join(dir, 'pg_wal');
  const spool = join(dir, 'spool');
  const repo = join(dir, 'repo');
  mkdirSync(join(walDir, 'archive_status'), { recursive: true });
  await Repository.init(new LocalStorage(repo), { scheme: 'age', key: generateIdentity() });
  writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: p\nprofiles:\n  p:\n    backup:\n      repository: ${repo}\n`);
  const segment = join(dir, 'segment');
  writeFileSync(segment, Buffer.concat([randomBytes(SEGMENT / 2), Buffer.alloc(SEGMENT / 2, 'some wal text here 12345\n')]));
  const times = { 'node -e 0': [], 'wal-push (repository from the configuration)': [], 'wal-push --repo (fast path)': [], 'wal-push --async (archived ahead)': [] };
  const name = (n) => `00000002${'0'.repeat(8)}${n.toString(16).toUpperCase().padStart(8, '0')}`;
  for (let i = 0; i < calls; i += 1) {
    const [a, b, c] = [name(3 * i + 1), name(3 * i + 2), name(3 * i + 3)];
    for (const file of [a, b, c]) copyFileSync(segment, join(walDir, file));
    times['node -e 0'].push(timeCall(['-e', '0'], dir));
    times['wal-push (repository from the configuration)'].push(timeCall([bin, 'backup', 'wal-push', join(walDir, a)], dir));
    times['wal-push --repo (fast path)'].push(timeCall([bin, 'backup', 'wal-push', '--repo', repo, join(walDir, b)], dir));
    writeFileSync(join(walDir, 'archive_status', `${c}.ready`), '');
    const push = () => timeCall([bin, 'backup', 'wal-push', '--async', '--spool', spool, '--repo', repo, join(walDir, c)], dir);
    // The first call starts the pusher; later segments are archived ahead (unless it stopped, idle).
    const until = Date.now() + 10_000;
    while (i > 0 && !existsSync(join(spool, 'ack', `${c}.ok`)) && Date.now() < until) await sleep(20);
    if (existsSync(join(spool, 'ack', `${c}.ok`))) times['wal-push --async (archived ahead)'].push(push());
    else push();
  }
  stopPusher(spool);
  return Object.fromEntries(Object.entries(times).map(([label, list]) => [label, median(list)]));
}

/** The pusher stops by itself after 10 s idle; stopped now, before its repository goes. */
function stopPusher(spool) {
  const lock = join(spool, 'pusher.pid');
  if (existsSync(lock)) process.kill(Number(readFileSync(lock, 'utf8')), 'SIGTERM');
}

const callCosts = await perCallCosts();
for (const [label, ms] of Object.entries(callCosts)) log(`one call, median of ${calls}: ${label} ${ms.toFixed(0)} ms`);
if (flag('--calls-only')) {
  if (flag('--json')) process.stdout.write(`${JSON.stringify({ callCosts }, null, 2)}\n`);
  else for (const [label, ms] of Object.entries(callCosts)) process.stdout.write(`${label.padEnd(48)} ${ms.toFixed(0)} ms\n`);
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

const server = await startPostgres({ settings: { archive_mode: 'on', archive_command: '/bin/true', fsync: 'on', max_wal_size: '4GB' } });
const pool = new pg.Pool({ connectionString: server.url, max: 2 });
const one = async (sql) => (await pool.query(sql)).rows[0];

const commands = {
  sync: `${process.execPath} ${bin} backup wal-push --repo ${repoDir} %p`,
  async: `${process.execPath} ${bin} backup wal-push --async --spool ${join(root, 'spool')} --repo ${repoDir} %p`,
};

async function setArchiveCommand(command) {
  await pool.query(`alter system set archive_command = '${command.replaceAll("'", "''")}'`);
  await pool.query('select pg_reload_conf()');
  while ((await one("select current_setting('archive_command') as c")).c !== command) await sleep(50);
}

const backlog = async () => Number((await one("select count(*) as n from pg_ls_archive_statusdir() where name like '%.ready'")).n);
const archived = async () => Number((await one('select archived_count as n from pg_stat_archiver')).n);
const lsn = async () => BigInt((await one("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint as b")).b);

async function drain() {
  await pool.query('select pg_switch_wal()');
  while ((await backlog()) > 0) await sleep(200);
}

// One transaction of the load: 2 000 rows of random text, about 0.5 MiB of WAL (calibrated below).
const script = join(root, 'load.sql');
writeFileSync(script, "insert into load select g, md5(random()::text) || md5(random()::text) || repeat('x', 40) from generate_series(1, 2000) g;\n");
await pool.query('create table load (id int, v text)');
const before = await lsn();
for (let i = 0; i < 20; i += 1) await pool.query("insert into load select g, md5(random()::text) || md5(random()::text) || repeat('x', 40) from generate_series(1, 2000) g");
const walPerTx = Number((await lsn()) - before) / 20;
const rate = Math.max(1, Math.round((mbps * 2 ** 20) / walPerTx));
log(`load: ${rate} tx/s × ${(walPerTx / 1024).toFixed(0)} KiB of WAL ≈ ${mbps} MiB/s for ${seconds} s`);

async function round(mode) {
  await setArchiveCommand(commands[mode]);
  await drain();
  await pool.query('truncate load');
  const startCount = await archived();
  const startLsn = await lsn();
  const samples = [];
  const bench = spawn(join(server.binDir, 'pgbench'), ['-n', '-c', '2', '-j', '2', '-R', String(rate), '-T', String(seconds), '-f', script, server.url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let benchErr = '';
  bench.stderr.on('data', (chunk) => (benchErr += chunk));
  const ended = new Promise((resolve) => bench.on('close', resolve));
  let running = true;
  ended.then(() => (running = false));
  const started = Date.now();
  while (running) {
    samples.push(await backlog());
    await sleep(250);
  }
  if ((await ended) !== 0) throw new Error(`pgbench failed: ${benchErr}`);
  const loadMs = Date.now() - started;
  const walBytes = Number((await lsn()) - startLsn);
  const duringLoad = (await archived()) - startCount;
  const endBacklog = await backlog();
  const drainStart = Date.now();
  await drain();
  const drainMs = Date.now() - drainStart;
  const total = (await archived()) - startCount;
  return {
    mode,
    walMiBps: walBytes / 2 ** 20 / (loadMs / 1000),
    segmentsPerSecond: duringLoad / (loadMs / 1000),
    maxBacklog: Math.max(...samples),
    medianBacklog: median(samples),
    endBacklog,
    drainMs,
    // The archiver's capacity: the backlog left at the end, drained with no load running.
    drainSegmentsPerSecond: endBacklog > 2 ? (total - duringLoad) / (drainMs / 1000) : undefined,
    segments: total,
    walSegments: walBytes / SEGMENT,
  };
}

const results = { sync: [], async: [] };
try {
  for (let run = 0; run < runs; run += 1) {
    for (const mode of run % 2 === 0 ? ['sync', 'async'] : ['async', 'sync']) {
      const result = await round(mode);
      results[mode].push(result);
      log(`round ${run + 1} ${mode}: WAL ${result.walMiBps.toFixed(1)} MiB/s, archived ${result.segmentsPerSecond.toFixed(2)} seg/s, backlog max ${result.maxBacklog} (median ${result.medianBacklog}, at the end ${result.endBacklog}), drained in ${(result.drainMs / 1000).toFixed(1)} s`);
    }
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([mode, list]) => [
      mode,
      {
        walMiBps: median(list.map((r) => r.walMiBps)),
        segmentsPerSecond: median(list.map((r) => r.segmentsPerSecond)),
        maxBacklog: median(list.map((r) => r.maxBacklog)),
        endBacklog: median(list.map((r) => r.endBacklog)),
        drainSeconds: median(list.map((r) => r.drainMs / 1000)),
        drainSegmentsPerSecond: median(list.map((r) => r.drainSegmentsPerSecond ?? Number.NaN)),
      },
    ]),
  );
  if (flag('--json')) process.stdout.write(`${JSON.stringify({ callCosts, mbps, seconds, runs, summary, results }, null, 2)}\n`);
  else {
    process.stdout.write(`one archive_command call, median of ${calls}:\n`);
    for (const [label, ms] of Object.entries(callCosts)) process.stdout.write(`  ${label.padEnd(48)} ${ms.toFixed(0)} ms\n`);
    process.stdout.write(`steady load ${mbps} MiB/s of WAL for ${seconds} s, median of ${runs}\n`);
    process.stdout.write('mode   WAL MiB/s  archived seg/s  backlog max  backlog at end  drain s  drain seg/s\n');
    for (const [mode, s] of Object.entries(summary)) {
      process.stdout.write(
        `${mode.padEnd(6)} ${s.walMiBps.toFixed(1).padStart(9)}  ${s.segmentsPerSecond.toFixed(2).padStart(14)}  ${String(s.maxBacklog).padStart(11)}  ${String(s.endBacklog).padStart(14)}  ${s.drainSeconds.toFixed(1).padStart(7)}  ${Number.isNaN(s.drainSegmentsPerSecond) ? '-'.padStart(11) : s.drainSegmentsPerSecond.toFixed(2).padStart(11)}\n`,
      );
    }
  }
} finally {
  stopPusher(join(root, 'spool'));
  await pool.end();
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
