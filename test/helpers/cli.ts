import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { testIO } from '../../src/cli/ui/io.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Pretend stdin/stdout/stderr are terminals. */
  tty?: boolean;
  color?: boolean;
  signal?: AbortSignal;
}

/** Runs the CLI in-process (fast): same code path as the binary, streams captured. */
export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const io = testIO({ tty: options.tty ?? false, color: options.color ?? false });
  const code = await main(argv, {
    io,
    env: options.env ?? { PATH: process.env.PATH, HOME: process.env.HOME },
    cwd: options.cwd ?? process.cwd(),
    signal: options.signal,
  });
  return { code, stdout: io.out(), stderr: io.err() };
}

export const BIN = fileURLToPath(new URL('../../bin/opsctl.js', import.meta.url));

/** Runs the built binary (`npm run build` first) as a separate process, as users do. */
export function spawnCli(argv: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...argv],
      { cwd: options.cwd, env: options.env ?? { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
