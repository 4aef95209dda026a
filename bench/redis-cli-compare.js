#!/usr/bin/env node
// `opsctl redis latency` and `opsctl redis keys` against redis-cli on the same throwaway server
// (issue 4): latency figures must be of the same order as `redis-cli --latency`, and
// `redis keys` must find the same keys as `redis-cli --scan`. Uses the built CLI (npm run build).
//
//   node bench/redis-cli-compare.js [--keys 100000] [--runs 5] [--json]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { redisQuery, startRedis } from '../dist/testing/index.js';
import { option, opsctlBin as bin, median } from './lib.js';

const args = process.argv.slice(2);
const keyCount = option('--keys', 100_000);
const runs = option('--runs', 5);
const json = args.includes('--json');
// GNU time reports the peak RSS of a child (%M, KiB): the bounded-memory claim, measured.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const server = await startRedis({ args: ['--enable-debug-command', 'local'] });
const dir = mkdtempSync(join(tmpdir(), 'opsctl-bench-redis-'));
try {
  writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\nprofiles:\n  b:\n    redis:\n      url: redis://127.0.0.1:${server.port}\n`);
  await redisQuery(server.port, ['DEBUG', 'POPULATE', String(keyCount), 'bench'], { timeoutMs: 60_000 });

  const run = (command, argv) => {
    const full = gnuTime === undefined ? [command, ...argv] : [gnuTime, '-f', '%M', command, ...argv];
    const start = process.hrtime.bigint();
    const result = spawnSync(full[0], full.slice(1), { cwd: dir, env: { PATH: process.env.PATH, HOME: dir }, maxBuffer: 1 << 30, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`${command} ${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
    const rssKiB = gnuTime === undefined ? undefined : Number(result.stderr.trim().split('\n').at(-1));
    return { ms, stdout: result.stdout, rssKiB };
  };
  
  // ---- latency: redis-cli --latency -i 1 (one line: min max avg samples, PINGs 10 ms apart) --
  const cli = [];
  const ours = [];
  const oursPaced = [];
  for (let i = 0; i < runs; i += 1) {
    const [min, max, avg, samples] = run('redis-cli', ['-p', String(server.port), '--latency', '-i', '1']).stdout.trim().split(/\s+/).map(Number);
    cli.push({ min, max, avg, samples });
    // Paced like redis-cli (10 ms between PINGs, ~100 samples), then back to back (2000 samples).
    oursPaced.push(JSON.parse(run(process.execPath, [bin, 'redis', 'latency', '--samples', '100', '--interval', '10ms', '--json']).stdout)[0]);
    ours.push(JSON.parse(run(process.execPath, [bin, 'redis', 'latency', '--samples', '2000', '--json']).stdout)[0]);
  }
  const latency = {
    redisCli: { avgMs: median(cli.map((r) => r.avg)), maxMs: median(cli.map((r) => r.max)), samples: median(cli.map((r) => r.samples)) },
    opsctlPaced: { meanMs: median(oursPaced.map((r) => r.meanMs)), p50Ms: median(oursPaced.map((r) => r.p50Ms)), p99Ms: median(oursPaced.map((r) => r.p99Ms)), maxMs: median(oursPaced.map((r) => r.maxMs)), samples: 100 },
    opsctlBackToBack: { meanMs: median(ours.map((r) => r.meanMs)), p50Ms: median(ours.map((r) => r.p50Ms)), p99Ms: median(ours.map((r) => r.p99Ms)), maxMs: median(ours.map((r) => r.maxMs)), samples: 2000 },
  };

  // ---- keys: redis-cli --scan (SCAN without COUNT: 10 per call; redis-cli 7.0 has no --count)
  // vs opsctl redis keys (SCAN COUNT 1000), and with --details (TYPE + TTL of each key) --------
  const count = (stdout, header) => new Set(stdout.trim().split('\n').slice(header ? 1 : 0).map((line) => line.split(',')[0])).size;
  const scan = [];
  const keys = [];
  const detailed = [];
  const keysRss = [];
  let cliCount = 0;
  let ourCount = 0;
  let detailedCount = 0;
  for (let i = 0; i < runs; i += 1) {
    const a = run('redis-cli', ['-p', String(server.port), '--scan', '--pattern', 'bench:*']);
    cliCount = count(a.stdout, false);
    scan.push(a.ms);
    const b = run(process.execPath, [bin, 'redis', 'keys', '--pattern', 'bench:*', '-o', 'csv']);
    ourCount = count(b.stdout, true);
    keys.push(b.ms);
    if (b.rssKiB !== undefined) keysRss.push(b.rssKiB);
    const c = run(process.execPath, [bin, 'redis', 'keys', '--pattern', 'bench:*', '--details', '-o', 'csv']);
    detailedCount = count(c.stdout, true);
    detailed.push(c.ms);
  }
  const keysResult = {
    keys: keyCount,
    redisCliFound: cliCount,
    opsctlFound: ourCount,
    opsctlDetailsFound: detailedCount,
    redisCliMs: median(scan),
    opsctlMs: median(keys),
    opsctlDetailsMs: median(detailed),
    ratio: median(keys) / median(scan),
    detailsRatio: median(detailed) / median(scan),
    opsctlPeakRssMiB: keysRss.length === 0 ? undefined : median(keysRss) / 1024,
  };

  const machine = { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString().slice(0, 10) };
  if (json) {
    console.log(JSON.stringify({ machine, runs, latency, keys: keysResult }, null, 2));
  } else {
    console.log(`machine: ${machine.cpus} cores (${machine.model}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.date}; medians of ${runs} runs`);
    console.log('\nlatency (ms)                          mean/avg   p50     p99     max');
    console.log(`redis-cli --latency -i 1 (~${latency.redisCli.samples} PINGs) ${latency.redisCli.avgMs.toFixed(3).padStart(8)}   -       -       ${latency.redisCli.maxMs}`);
    for (const [name, r] of [['opsctl redis latency --interval 10ms', latency.opsctlPaced], ['opsctl redis latency (back to back)', latency.opsctlBackToBack]]) {
      console.log(`${name.padEnd(37)} ${r.meanMs.toFixed(3).padStart(8)}   ${r.p50Ms.toFixed(3)}   ${r.p99Ms.toFixed(3)}   ${r.maxMs.toFixed(3)}`);
    }
    console.log(`\nkeys: ${keyCount} keys`);
    console.log(`redis-cli --scan                  found ${cliCount} in ${keysResult.redisCliMs.toFixed(0)} ms`);
    console.log(`opsctl redis keys                 found ${ourCount} in ${keysResult.opsctlMs.toFixed(0)} ms (${keysResult.ratio.toFixed(2)}×)${keysResult.opsctlPeakRssMiB === undefined ? '' : `, peak RSS ${keysResult.opsctlPeakRssMiB.toFixed(0)} MiB`}`);
    console.log(`opsctl redis keys --details       found ${detailedCount} in ${keysResult.opsctlDetailsMs.toFixed(0)} ms (${keysResult.detailsRatio.toFixed(2)}×)`);
  }
  if (cliCount !== keyCount || ourCount !== keyCount || detailedCount !== keyCount) {
    console.error(`key counts differ: expected ${keyCount}, redis-cli ${cliCount}, opsctl ${ourCount}, with --details ${detailedCount}`);
    process.exitCode = 1;
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
