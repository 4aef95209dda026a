#!/usr/bin/env node
// Tab-press benchmark: `opsctl __complete …` (what the shell scripts run on every Tab) against
// bare `node -e 0`, interleaved (A B A B …) so drift in machine speed hits both sides alike.
// Prints medians and ratios; target (issue 5): under 150 ms when no server is asked. When
// redis-server is on PATH it also times Redis key-name completion (SCAN over 10,000 keys on a
// private server), without the cache and from it.
//
//   node bench/complete.js [--runs 21] [--json]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { opsctlBin as bin, median } from './lib.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 21;
const json = args.includes('--json');

const dir = mkdtempSync(join(tmpdir(), 'opsctl-bench-complete-'));
writeFileSync(
  join(dir, 'opsctl.config.yaml'),
  'version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "redis://127.0.0.1:6379" }\n  staging:\n    redis: { url: "redis://127.0.0.1:6379" }\n  prod:\n    protected: true\n    redis: { url: "redis://127.0.0.1:6379" }\n',
);

const cases = [
  { name: "__complete ''", argv: [bin, '__complete', ''] },
  { name: "__complete config ''", argv: [bin, '__complete', 'config', ''] },
  { name: "__complete -o ''", argv: [bin, '__complete', '-o', ''] },
  { name: "__complete --profile ''", argv: [bin, '__complete', '--profile', ''] },
  { name: '__complete redis keys --', argv: [bin, '__complete', 'redis', 'keys', '--'] },
];

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

// A private redis-server with 10,000 keys for the server-backed case (skipped without one).
let redis;
if (spawnSync('sh', ['-c', 'command -v redis-server']).status === 0) {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() !== 'PONG'; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const lines = Array.from({ length: 10_000 }, (_, i) => `SET ${i % 2 === 0 ? 'user' : 'session'}:${i} x`).join('\n');
  spawnSync('redis-cli', ['-p', String(port)], { input: lines });
  redis = { child, port };
  writeFileSync(join(dir, 'opsctl.config.yaml'), `version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "redis://127.0.0.1:${port}" }\n  staging:\n    redis: { url: "redis://127.0.0.1:${port}" }\n  prod:\n    protected: true\n    redis: { url: "redis://127.0.0.1:${port}" }\n`);
  cases.push(
    { name: 'redis keys --pattern user:12 (SCAN)', argv: [bin, '__complete', 'redis', 'keys', '--pattern', 'user:12'], env: { XDG_CACHE_HOME: join(dir, 'no-cache') }, fresh: true },
    { name: 'redis keys --pattern user:12 (cached)', argv: [bin, '__complete', 'redis', 'keys', '--pattern', 'user:12'], env: { XDG_CACHE_HOME: join(dir, 'cache') } },
  );
}
const baseline = { name: 'node -e 0', argv: ['-e', '0'] };

function time(argv, extraEnv = {}, fresh = false) {
  // `fresh`: no cache entry from an earlier run may answer.
  if (fresh) rmSync(extraEnv.XDG_CACHE_HOME, { recursive: true, force: true });
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: dir, ...extraEnv } });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}


try {
  for (const c of [baseline, ...cases]) time(c.argv, c.env, c.fresh);
  const results = [];
  for (const c of cases) {
    const mine = [];
    const base = [];
    for (let i = 0; i < runs; i += 1) {
      mine.push(time(c.argv, c.env, c.fresh));
      base.push(time(baseline.argv));
    }
    results.push({ command: `opsctl ${c.name}`, medianMs: median(mine), baselineMs: median(base), ratio: median(mine) / median(base) });
  }
  if (json) {
    console.log(JSON.stringify({ node: process.version, cpus: cpus().length, runs, results }, null, 2));
  } else {
    console.log(`node ${process.version}, ${cpus().length} cores, ${runs} interleaved runs each, medians`);
    console.log(`${'command'.padEnd(48)} ${'median'.padStart(9)} ${'node -e 0'.padStart(10)} ${'ratio'.padStart(6)}`);
    for (const r of results) {
      console.log(`${r.command.padEnd(48)} ${r.medianMs.toFixed(1).padStart(7)}ms ${r.baselineMs.toFixed(1).padStart(8)}ms ${r.ratio.toFixed(2).padStart(5)}×`);
    }
  }
} finally {
  redis?.child.kill();
  rmSync(dir, { recursive: true, force: true });
}
