/**
 * Progress as a dependency: long domain work (backups, restores, scans, warming, migrations)
 * reports how far it is through this interface and never decides how it is shown. The CLI
 * renders it (spinner or bar on a terminal, a periodic line in cron/CI, nothing with --quiet);
 * the library default shows nothing.
 */
export type ProgressUnit = 'bytes' | 'items';

export interface ProgressTask {
  /** Sets the amount done so far (absolute), with an optional short detail ("table users"). */
  update(done: number, detail?: string): void;
  /** Adds to the amount done. */
  advance(delta: number, detail?: string): void;
  /** Sets or corrects the total once it is known. */
  setTotal(total: number): void;
  /** Ends the task; `ok: false` marks it failed. */
  finish(ok?: boolean, message?: string): void;
}

export interface ProgressReporter {
  start(label: string, options?: { total?: number; unit?: ProgressUnit }): ProgressTask;
}

const silentTask: ProgressTask = { update: () => undefined, advance: () => undefined, setTotal: () => undefined, finish: () => undefined };

export const noProgress: ProgressReporter = { start: () => silentTask };
