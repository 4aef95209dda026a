// Small helpers every benchmark uses: command-line options, medians, sizes, the built CLI.
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);

/** `--name N` as a number, or `fallback`. */
export const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
/** Whether `--name` was given. */
export const flag = (name) => args.includes(name);
/** The built CLI (`npm run build` first). */
export const opsctlBin = fileURLToPath(new URL('../bin/opsctl.js', import.meta.url));
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
/** Progress for people, on stderr (stdout carries the results). */
export const log = (text) => process.stderr.write(`${text}\n`);
