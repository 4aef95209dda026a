#!/usr/bin/env node
// Physical backup benchmark: `opsctl backup run postgres-physical` (low-level API, 8 KiB blocks,
// zstd -3 -T2 + age) against pgBackRest (zst, process-max=2, AES-256 encryption) on the issue's
// two data sets — a generated, poorly compressible database (`realistic`, ~3.5:1) and `pgbench -i
// -s 50` (`pgbench`, ~20:1) — each on its own server: full, incremental after a contiguous 1%
// change, and fast verify against `pgbackrest verify`; interleaved rounds, medians. Also the per-segment
// time of `opsctl backup wal-push` (it is exec'd once per 16 MiB segment by archive_command).
// Debian 12's pgBackRest is 2.45, which has no block incremental (that came in 2.46): its incr
// here is file-level, so the incr size ratio compares against more than the issue's 31.5%.
// Targets (issue 9): full at most 0.6× pgBackRest's time at ≤ 1.1× its size; incremental no
// larger than pgBackRest's and under half a full's time; verify at least as fast.
//
//   npm run build && flock /tmp/opsctl-bench.lock node bench/backup-physical.js [--rows 1500000] [--scale 50]
//     [--runs 3] [--set realistic|pgbench] [--full-only] [--json]
//
// --full-only times only the full backups (no incremental, verify or wal-push): for iterating.
//
// Installs Debian's pgbackrest when missing (apt-get install -y pgbackrest); needs zstd and
// the PostgreSQL server programs; starts its own server in a temp dir (as postgres when root).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pgServerUser } from '../dist/postgres/tools.js';
import { makeTempDir } from '../dist/testing/managed-process.js';
import { startPostgres } from '../dist/testing/index.js';
import { flag, option, opsctlBin as bin, median, mib, log } from './lib.js';

const args = process.argv.slice(2);
const rows = option('--rows', 1_500_000);
const scale = option('--scale', 50);
const runs = option('--runs', 3);
const json = flag('--json');
const fullOnly = flag('--full-only');
const only = args.includes('--set') ? args[args.indexOf('--set') + 1] : undefined;


if (spawnSync('pgbackrest', ['version']).status !== 0) {
  log('installing pgbackrest (apt-get install -y pgbackrest)…');
  execFileSync('apt-get', ['install', '-y', '-q', 'pgbackrest'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
const pgbackrestVersion = execFileSync('pgbackrest', ['version']).toString().trim();

const user = await pgServerUser();
/** pgBackRest runs as the server's user (it refuses to back up a cluster it does not own). */
const asServerUser = (command) => (user === undefined ? command : `runuser -u ${user.name} -- ${command}`);

/** Runs a shell command in `cwd` and reads its children's CPU time from bash's `times`. */
function measure(command, cwd) {
  const start = process.hrtime.bigint();
  const result = spawnSync('bash', ['-c', `${command}\ntimes`], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command} exited ${result.status}: ${result.stderr}${result.stdout}`);
  const children = result.stdout.trim().split('\n').at(-1).split(/\s+/).map((value) => {
    const match = /(\d+)m([\d.]+)s/.exec(value);
    return match === null ? 0 : Number(match[1]) * 60 + Number(match[2]);
  });
  return { wallMs, cpuMs: (children[0] + children[1]) * 1000, stdout: result.stdout };
}

/**
 * The two data sets: how each is generated and how 1% of it changes contiguously (a bulk
 * update of one key range, then a checkpoint so the pages are on disk).
 */
const dataSets = {
  realistic: {
    describe: `${rows.toLocaleString('en-US')} generated rows (random hex, numbers, timestamps, some repeated text)`,
    generate: (server, psql) =>
      // As in bench/backup-logical.js: random hex, numbers, timestamps, some repetitive text (~3:1).
      execFileSync(psql, [server.url, '-qc', `create table events (
          id bigint primary key, account text, token text, amount numeric, at timestamptz, kind text, note text);
        insert into events
        select g, 'acct-' || (g % 5000), md5(random()::text), round((random() * 100000)::numeric, 2),
               now() - random() * interval '365 days', (array['order','refund','login','logout','update'])[1 + g % 5],
               'customer ' || (g % 5000) || ' asked for a callback about invoice ' || (g % 977) || ' from the ' || (array['web','mobile','store'])[1 + g % 3] || ' channel'
        from generate_series(1, ${rows}) g;`, '-qc', 'vacuum analyze events', '-qc', 'checkpoint']),
    change: (from, span) => `update events set note = note || ' (updated)', amount = amount + 1 where id between ${from} and ${from + span - 1}`,
    rows,
  },
  pgbench: {
    describe: `pgbench -i -s ${scale}`,
    generate: (server, psql) => {
      execFileSync(join(server.binDir, 'pgbench'), ['-i', '-q', '-s', String(scale), server.url], { stdio: 'ignore' });
      execFileSync(psql, [server.url, '-qc', 'checkpoint']);
    },
    change: (from, span) => `update pgbench_accounts set abalance = abalance + 1 where aid between ${from} and ${from + span - 1}`,
    rows: scale * 100_000,
  },
};

const names = ['opsctl full', 'pgbackrest full', ...(fullOnly ? [] : ['opsctl incr', 'pgbackrest incr', 'opsctl verify (fast, all)', 'pgbackrest verify'])];

/** One data set on its own server and repositories: interleaved rounds, medians and ratios. */
async function benchSet(name, set) {
  const dir = await makeTempDir(user);
  const conf = join(dir, 'pgbackrest.conf');
  const server = await startPostgres({
    settings: {
      archive_mode: 'on',
      archive_command: `pgbackrest --config=${conf} --stanza=bench archive-push %p`,
      max_wal_size: '4GB',
      full_page_writes: 'on',
    },
  });
  try {
    const psql = join(server.binDir, 'psql');
    const socketDir = execFileSync(psql, [server.url, '-Atc', "select split_part(current_setting('unix_socket_directories'), ',', 1)"]).toString().trim();
    writeFileSync(
      conf,
      `[global]\nrepo1-path=${dir}/pgbackrest\nrepo1-retention-full=99\ncompress-type=zst\ncompress-level=3\nprocess-max=2\nstart-fast=y\n` +
        `repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=bench-cipher-pass-0123456789\nlog-path=${dir}/pgbackrest-log\nlock-path=${dir}/pgbackrest-lock\nlog-level-console=warn\n` +
        `[bench]\npg1-path=${server.dataDir}\npg1-port=${server.port}\npg1-socket-path=${socketDir}\n`,
    );
    if (user !== undefined) execFileSync('chown', [`${user.uid}:${user.gid}`, conf]);
    execFileSync('bash', ['-c', asServerUser(`pgbackrest --config=${conf} --stanza=bench stanza-create`)], { cwd: dir });

    log(`${name}: generating ${set.describe}…`);
    set.generate(server, psql);
    const clusterBytes = Number(execFileSync(psql, [server.url, '-Atc', 'select sum(pg_database_size(datname)) from pg_database']).toString().trim());

    writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: bench\nprofiles:\n  bench:\n    postgres:\n      url: ${server.url}\n    backup:\n      repository: ./repo\n      keyFile: ./key.txt\n`);
    execFileSync(process.execPath, [bin, 'backup', 'init', '--generate-key', '-q'], { cwd: dir });

    const pgbr = (type) => asServerUser(`pgbackrest --config=${conf} --stanza=bench --type=${type} backup`);
    const pgbrLastSize = () => {
      const info = JSON.parse(execFileSync('bash', ['-c', asServerUser(`pgbackrest --config=${conf} --stanza=bench info --output=json`)]).toString());
      return info[0].backup.at(-1).info.repository.delta;
    };
    const opsctl = (type) => `node ${bin} backup run postgres-physical --type ${type} -q --json > last.json`;
    const opsctlLast = () => JSON.parse(readFileSync(join(dir, 'last.json'), 'utf8'));
    let change = 0;
    const changeOnePercent = () => {
      const span = Math.floor(set.rows / 100);
      const from = 1 + ((change * span) % (set.rows - span));
      change += 1;
      execFileSync(psql, [server.url, '-qc', set.change(from, span), '-qc', 'checkpoint']);
    };

    const samples = Object.fromEntries(names.map((sample) => [sample, { wall: [], cpu: [], size: [] }]));
    const record = (sample, result, size) => {
      samples[sample].wall.push(result.wallMs);
      samples[sample].cpu.push(result.cpuMs);
      if (size !== undefined) samples[sample].size.push(size);
      log(`  ${sample}: ${(result.wallMs / 1000).toFixed(2)} s${size === undefined ? '' : `, ${mib(size)}`}`);
    };
    for (let round = 1; round <= runs; round += 1) {
      log(`${name}: round ${round}/${runs}`);
      // Alternate who goes first, so neither always gets the warmer cache.
      const fulls = [
        () => record('opsctl full', measure(opsctl('full'), dir), opsctlLast().sizeStored),
        () => record('pgbackrest full', measure(pgbr('full'), dir), pgbrLastSize()),
      ];
      for (const run of round % 2 === 1 ? fulls : fulls.reverse()) run();
      if (fullOnly) continue;
      changeOnePercent();
      const incrs = [
        () => record('opsctl incr', measure(opsctl('incr'), dir), opsctlLast().sizeStored),
        () => record('pgbackrest incr', measure(pgbr('incr'), dir), pgbrLastSize()),
      ];
      for (const run of round % 2 === 1 ? incrs : incrs.reverse()) run();
      record('opsctl verify (fast, all)', measure(`node ${bin} backup verify --all -q > /dev/null`, dir));
      record('pgbackrest verify', measure(asServerUser(`pgbackrest --config=${conf} --stanza=bench verify`), dir));
    }

    // wal-push: one exec per segment, as archive_command runs it; fresh names each time.
    const segment = readdirSync(join(server.dataDir, 'pg_wal')).find((file) => /^[0-9A-F]{24}$/.test(file));
    const pushTimes = [];
    for (let i = 1; i <= (fullOnly ? 0 : 5); i += 1) {
      const file = `000000AA00000000000000${String(i).padStart(2, '0')}`;
      copyFileSync(join(server.dataDir, 'pg_wal', segment), join(dir, file));
      pushTimes.push(measure(`node ${bin} backup wal-push ${file} -q > /dev/null`, dir).wallMs);
    }

    const stat = (sample) => ({
      name: sample,
      wallMs: median(samples[sample].wall),
      cpuMs: median(samples[sample].cpu),
      storedBytes: samples[sample].size.length > 0 ? median(samples[sample].size) : undefined,
    });
    const results = names.map(stat);
    const by = Object.fromEntries(results.map((r) => [r.name, r]));
    const summary = {
      set: name,
      data: set.describe,
      clusterBytes,
      results,
      fullTimeVsPgbackrest: by['opsctl full'].wallMs / by['pgbackrest full'].wallMs,
      fullSizeVsPgbackrest: by['opsctl full'].storedBytes / by['pgbackrest full'].storedBytes,
    };
    summary.targets = { fullTime: summary.fullTimeVsPgbackrest <= 0.6 ? 'met' : 'missed', fullSize: summary.fullSizeVsPgbackrest <= 1.1 ? 'met' : 'missed' };
    if (fullOnly) return summary;
    Object.assign(summary, {
      incrSizeVsPgbackrest: by['opsctl incr'].storedBytes / by['pgbackrest incr'].storedBytes,
      incrSizeVsFull: by['opsctl incr'].storedBytes / by['opsctl full'].storedBytes,
      incrTimeVsFull: by['opsctl incr'].wallMs / by['opsctl full'].wallMs,
      verifyTimeVsPgbackrest: by['opsctl verify (fast, all)'].wallMs / by['pgbackrest verify'].wallMs,
      walPushMs: median(pushTimes),
    });
    Object.assign(summary.targets, {
      incrSize: summary.incrSizeVsPgbackrest <= 1 ? 'met' : 'missed',
      incrTime: summary.incrTimeVsFull < 0.5 ? 'met' : 'missed',
      verify: summary.verifyTimeVsPgbackrest <= 1 ? 'met' : 'missed',
    });
    return summary;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sets = [];
for (const [name, set] of Object.entries(dataSets)) if (only === undefined || only === name) sets.push(await benchSet(name, set));
const machine = `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, Node ${process.version}`;
if (json) {
  process.stdout.write(`${JSON.stringify({ machine, date: new Date().toISOString().slice(0, 10), pgbackrest: pgbackrestVersion, runs, sets }, null, 2)}\n`);
} else {
  process.stdout.write(`${machine}; ${pgbackrestVersion}; median of ${runs}\n`);
  for (const summary of sets) {
    process.stdout.write(`\n${summary.set}: ${summary.data}, cluster ${mib(summary.clusterBytes)}\n\n| method | wall (median) | CPU | stored |\n| --- | --- | --- | --- |\n`);
    for (const r of summary.results) {
      process.stdout.write(`| ${r.name} | ${(r.wallMs / 1000).toFixed(2)} s | ${(r.cpuMs / 1000).toFixed(2)} s | ${r.storedBytes === undefined ? '' : mib(r.storedBytes)} |\n`);
    }
    const t = summary.targets;
    process.stdout.write(
      `\nfull: ${summary.fullTimeVsPgbackrest.toFixed(2)}× pgBackRest's time (target ≤ 0.6: ${t.fullTime}), ${summary.fullSizeVsPgbackrest.toFixed(2)}× its size (≤ 1.1: ${t.fullSize})\n`,
    );
    if (fullOnly) continue;
    process.stdout.write(
      `incr after 1%: ${summary.incrSizeVsPgbackrest.toFixed(2)}× pgBackRest incr's size (≤ 1: ${t.incrSize}), ${(summary.incrSizeVsFull * 100).toFixed(1)}% of a full's size, ${summary.incrTimeVsFull.toFixed(2)}× a full's time (< 0.5: ${t.incrTime})\n` +
        `verify: ${summary.verifyTimeVsPgbackrest.toFixed(2)}× pgbackrest verify (≤ 1: ${t.verify}); wal-push: ${summary.walPushMs.toFixed(0)} ms per 16 MiB segment (median of 5)\n`,
    );
  }
}
