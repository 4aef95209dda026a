#!/usr/bin/env node
// Launcher: everything lives in dist/ (built by `npm run build`).
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // The most frequent scripted call is answered before any module graph loads (see
  // docs/benchmarks.md); main() gives the same answer through the same package.json.
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  import('../dist/cli/main.js').then(
    (m) => m.run(),
    (error) => {
      process.stderr.write(`error: opsctl is not built (${error.message})\nhint: run \`npm run build\` in the opsctl checkout\n`);
      process.exitCode = 1;
    },
  );
}
