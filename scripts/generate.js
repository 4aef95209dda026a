#!/usr/bin/env node
// Writes the generated files from the built tree (run `npm run build` first; the npm scripts do):
//   node scripts/generate.js docs          docs/commands.md, docs/troubleshooting.md
//   node scripts/generate.js completions   completions/opsctl.bash, _opsctl, opsctl.fish
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const kind = process.argv[2];
if (kind !== 'docs' && kind !== 'completions') {
  console.error('usage: node scripts/generate.js docs|completions');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const { generatedFiles } = await import('../dist/cli/docs-gen.js');
for (const [file, content] of Object.entries(await generatedFiles(kind))) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), content);
  console.log(`wrote ${file}`);
}
