import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';

/**
 * Whether a process with this pid exists (EPERM: it exists but belongs to another user). A
 * zombie (exited, not yet reaped by its parent or init) counts as gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    // No /proc (macOS): kill(0) is all we know.
    return true;
  }
}

/** What we can learn about a process to decide whether it is really ours before signalling it. */
export interface ProcessInfo {
  /** Its command line, arguments joined by spaces (servers may rewrite it: `redis-server 127.0.0.1:6379`). */
  commandLine: string;
  /** Its working directory, where the OS tells us (Linux /proc); servers chdir into their data dir. */
  cwd: string | undefined;
}

/** Undefined when the process does not exist. Linux reads /proc; elsewhere `ps`. */
export async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
    return { commandLine: cmdline.split('\0').filter((part) => part !== '').join(' '), cwd };
  }
  const commandLine = await new Promise<string | undefined>((resolve) => {
    execFile('ps', ['-o', 'command=', '-p', String(pid)], (error, stdout) => resolve(error === null ? stdout.trim() : undefined));
  });
  return commandLine === undefined || commandLine === '' ? undefined : { commandLine, cwd: undefined };
}
