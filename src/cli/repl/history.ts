import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** `$XDG_STATE_HOME/opsctl/history` (default `~/.local/state/opsctl/history`). */
export function historyPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME !== undefined && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(env.HOME ?? os.homedir(), '.local', 'state');
  return path.join(base, 'opsctl', 'history');
}

/**
 * The shell history: one line per command, oldest first, appended as each line is entered (so
 * two shells never overwrite each other's lines). Files that grow past twice `max` lines are
 * trimmed to the newest `max` when a shell starts.
 */
export class History {
  constructor(
    readonly file: string,
    readonly max = 1000,
  ) {}

  /** The newest `max` lines, oldest first; nothing when there is no file yet. */
  async load(): Promise<string[]> {
    let lines: string[];
    try {
      lines = (await readFile(this.file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    } catch {
      return [];
    }
    const kept = lines.slice(-this.max);
    if (lines.length > 2 * this.max) {
      const temp = `${this.file}.${process.pid}.tmp`;
      await writeFile(temp, `${kept.join('\n')}\n`, { mode: 0o600 })
        .then(() => rename(temp, this.file))
        .catch(() => undefined);
    }
    return kept;
  }

  /**
   * Appends one entered line. Lines starting with a blank are not kept (bash's ignorespace: a
   * way to type a command with a secret in it).
   */
  async append(line: string): Promise<void> {
    if (line.trim() === '' || /^\s/.test(line) || line.includes('\n')) return;
    try {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      await appendFile(this.file, `${line}\n`, { mode: 0o600 });
    } catch {
      // An unwritable history must not stop the shell.
    }
  }
}
