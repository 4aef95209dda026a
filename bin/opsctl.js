#!/usr/bin/env node
// Launcher: everything lives in dist/ (built by `npm run build`).
import('../dist/cli/main.js').then(
  (m) => m.run(),
  (error) => {
    process.stderr.write(`error: opsctl is not built (${error.message})\nhint: run \`npm run build\` in the opsctl checkout\n`);
    process.exitCode = 1;
  },
);
