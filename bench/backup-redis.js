#!/usr/bin/env node
// Redis backup benchmark: `opsctl backup run redis` (redis-cli --rdb → zstd -3 -T2 → age →
// SHA-256 → repository) against the same snapshot without opsctl: `redis-cli --rdb <file>`
// (plain copy, the floor) and `redis-cli --rdb - | zstd -3 -T2 > file` (compressed, no
// encryption). One redis-server with ~`--mb` MiB of half-compressible values; interleaved
// rounds, medians; repl-diskless-sync-delay is set to 0 so the server's 5 s wait for other
// replicas does not dominate.
//
//   npm run build && flock /tmp/opsctl-bench.lock node bench/backup-redis.js [--mb 200] [--runs 3] [--json]
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from '../dist/testing/index.js';
import { option, opsctlBin as bin, median, mib, log } from './lib.js';

const args = process.argv.slice(2);
const mb = option('--mb', 200);
const runs = option('--runs', 3);
const json = args.includes('--json');

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'opsctl-bench-redis-'));
try {
  const client = new Redis({ host: server.host, port: server.port });
  await client.config('SET', 'repl-diskless-sync-delay', '0');
  const valueSize = 1024;
  const keys = Math.round((mb * 2 ** 20) / valueSize);
  log(`filling ${keys} keys of ${valueSize} bytes (half random hex, half repeated text)…`);
  for (let start = 0; start < keys; start += 5000) {
    const pipeline = client.pipeline();
    for (let i = start; i < Math.min(keys, start + 5000); i += 1) {
      pipeline.set(`bench:${i}`, `${randomBytes(valueSize / 4).toString('hex')}${'user-session-payload '.repeat(valueSize / 2 / 21)}`);
    }
    await pipeline.exec();
  }
  client.disconnect();
  writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: b\nprofiles:\n  b:\n    redis:\n      url: redis://127.0.0.1:${server.port}\n    backup:\n      repository: repo\n      keyFile: key.txt\n`);
  execFileSync(process.execPath, [bin, 'backup', 'init', '--generate-key'], { cwd: dir, stdio: 'ignore' });

  const time = (fn) => {
    const started = process.hrtime.bigint();
    const size = fn();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, size };
  };
  const peers = {
    'redis-cli --rdb file': () => {
      execFileSync('redis-cli', ['-p', String(server.port), '--rdb', join(dir, 'plain.rdb')], { stdio: 'ignore' });
      return statSync(join(dir, 'plain.rdb')).size;
    },
    'redis-cli --rdb - | zstd -3 -T2': () => {
      const result = spawnSync('sh', ['-c', `redis-cli -p ${server.port} --rdb - 2>/dev/null | zstd -q -3 -T2 > ${join(dir, 'plain.rdb.zst')}`]);
      if (result.status !== 0) throw new Error(result.stderr.toString());
      return statSync(join(dir, 'plain.rdb.zst')).size;
    },
    'opsctl backup run redis': () => {
      const out = execFileSync(process.execPath, [bin, 'backup', 'run', 'redis', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
      return JSON.parse(out.toString()).sizeStored;
    },
  };
  const results = Object.fromEntries(Object.keys(peers).map((name) => [name, []]));
  for (let round = 0; round < runs; round += 1) {
    for (const [name, fn] of Object.entries(peers)) results[name].push(time(fn));
    log(`round ${round + 1}/${runs} done`);
  }
  const rdbSize = statSync(join(dir, 'plain.rdb')).size;
  const summary = Object.entries(results).map(([name, list]) => ({ name, ms: Math.round(median(list.map((r) => r.ms))), size: median(list.map((r) => r.size)) }));
  const base = summary[1];
  if (json) {
    process.stdout.write(`${JSON.stringify({ rdbSize, runs, summary }, null, 2)}\n`);
  } else {
    console.log(`RDB ${mib(rdbSize)}; median of ${runs} interleaved rounds`);
    for (const row of summary) {
      console.log(`${row.name.padEnd(34)} ${String(row.ms).padStart(6)} ms  ${mib(row.size).padStart(10)}  ${(row.ms / base.ms).toFixed(2)}× time of redis-cli | zstd`);
    }
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
