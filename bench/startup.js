#!/usr/bin/env node
// Start-up benchmark: `opsctl --version`, `--help` and `config validate` against bare `node -e 0`,
// run interleaved (A B A B …) so drift in machine speed hits both sides alike. Prints medians and
// ratios; target (issue: foundation) is --version and --help within 1.5× of `node -e 0`.
//
//   node bench/startup.js [--runs 21] [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 21;
const json = args.includes('--json');
const bin = fileURLToPath(new URL('../bin/opsctl.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'opsctl-bench-'));
writeFileSync(
  join(dir, 'opsctl.config.yaml'),
  'version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "redis://127.0.0.1:6379" }\n    postgres: { url: "postgres://postgres@127.0.0.1:5432/postgres" }\n',
);

const cases = [
  { name: 'opsctl --version', argv: [bin, '--version'] },
  { name: 'opsctl --help', argv: [bin, '--help'] },
  { name: 'opsctl config validate', argv: [bin, 'config', 'validate'] },
];
const baseline = { name: 'node -e 0', argv: ['-e', '0'] };

function time(argv) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

try {
  // Warm the file cache once for each command.
  for (const c of [baseline, ...cases]) time(c.argv);
  const results = [];
  for (const c of cases) {
    const mine = [];
    const base = [];
    for (let i = 0; i < runs; i += 1) {
      mine.push(time(c.argv));
      base.push(time(baseline.argv));
    }
    results.push({ command: c.name, medianMs: median(mine), baselineMs: median(base), ratio: median(mine) / median(base) });
  }
  if (json) {
    console.log(JSON.stringify({ node: process.version, cpus: cpus().length, runs, results }, null, 2));
  } else {
    console.log(`node ${process.version}, ${cpus().length} cores, ${runs} interleaved runs each, medians`);
    console.log(`${'command'.padEnd(26)} ${'median'.padStart(9)} ${'node -e 0'.padStart(10)} ${'ratio'.padStart(6)}`);
    for (const r of results) {
      console.log(`${r.command.padEnd(26)} ${r.medianMs.toFixed(1).padStart(7)}ms ${r.baselineMs.toFixed(1).padStart(8)}ms ${r.ratio.toFixed(2).padStart(5)}×`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
