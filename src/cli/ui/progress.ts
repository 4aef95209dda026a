import type { Ora } from 'ora';
import type { Clock } from '../../core/clock.js';
import { formatBytes, formatDuration } from '../../core/parse.js';
import type { ProgressReporter, ProgressTask, ProgressUnit } from '../../core/progress.js';
import type { IOStreams } from './io.js';

/** What a task knows at one moment; everything shown is computed from it. */
export interface ProgressState {
  label: string;
  unit: ProgressUnit;
  done: number;
  total: number | undefined;
  /** Units per second over the recent window, undefined until measurable. */
  rate: number | undefined;
  elapsedMs: number;
  detail: string | undefined;
}

const BAR_WIDTH = 20;
// Rate over the last few seconds: steadier than instantaneous, fresher than the overall average.
const RATE_WINDOW_MS = 5000;

function amount(value: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? formatBytes(value) : value.toLocaleString('en-US');
}

function rateText(rate: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? `${formatBytes(rate)}/s` : `${Math.round(rate).toLocaleString('en-US')} items/s`;
}

/** The terminal line: `label ▕█████░░░░░▏ 48%  12.0 MiB / 25.0 MiB  8.0 MiB/s  ETA 2s · detail`. */
export function formatProgressBar(state: ProgressState): string {
  const parts = [state.label];
  if (state.total !== undefined && state.total > 0) {
    const fraction = Math.min(1, state.done / state.total);
    const filled = Math.round(fraction * BAR_WIDTH);
    parts.push(`▕${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}▏ ${Math.floor(fraction * 100)}%`);
    parts.push(`${amount(state.done, state.unit)} / ${amount(state.total, state.unit)}`);
  } else {
    parts.push(amount(state.done, state.unit));
  }
  if (state.rate !== undefined) parts.push(rateText(state.rate, state.unit));
  const eta = etaMs(state);
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  const line = parts.join('  ');
  return state.detail === undefined ? line : `${line} · ${state.detail}`;
}

/** The cron/CI line: `label: 48% (12.0 MiB of 25.0 MiB, 8.0 MiB/s, ETA 2s)`. */
export function formatProgressLine(state: ProgressState): string {
  const facts: string[] = [];
  if (state.total !== undefined && state.total > 0) {
    facts.push(`${amount(state.done, state.unit)} of ${amount(state.total, state.unit)}`);
  } else {
    facts.push(amount(state.done, state.unit));
  }
  if (state.rate !== undefined) facts.push(rateText(state.rate, state.unit));
  const eta = etaMs(state);
  if (eta !== undefined) facts.push(`ETA ${formatDuration(eta)}`);
  const percent = state.total !== undefined && state.total > 0 ? `${Math.floor(Math.min(1, state.done / state.total) * 100)}% ` : '';
  return `${state.label}: ${percent}(${facts.join(', ')})${state.detail === undefined ? '' : ` ${state.detail}`}`;
}

function etaMs(state: ProgressState): number | undefined {
  if (state.total === undefined || state.rate === undefined || state.rate <= 0) return undefined;
  return (Math.max(0, state.total - state.done) / state.rate) * 1000;
}

export interface TerminalProgressOptions {
  io: IOStreams;
  clock: Clock;
  quiet: boolean;
  /** How often a line is printed when stderr is not a terminal. */
  lineIntervalMs?: number;
}

/**
 * The one progress renderer: a spinner (size unknown) or a bar (size known) with rate and ETA
 * on a terminal's stderr; a plain line every few seconds elsewhere; nothing with --quiet.
 * Never touches stdout, so piping data stays clean.
 */
export function terminalProgress(options: TerminalProgressOptions): ProgressReporter {
  const interval = options.lineIntervalMs ?? 5000;
  return {
    start(label, startOptions = {}) {
      const unit = startOptions.unit ?? 'items';
      const started = options.clock.monotonic();
      const samples: { at: number; done: number }[] = [{ at: started, done: 0 }];
      const state: ProgressState = { label, unit, done: 0, total: startOptions.total, rate: undefined, elapsedMs: 0, detail: undefined };
      let spinner: Ora | undefined;
      let lastLine = started;
      let finished = false;

      const refresh = () => {
        const now = options.clock.monotonic();
        state.elapsedMs = now - started;
        samples.push({ at: now, done: state.done });
        while (samples.length > 2 && now - samples[0]!.at > RATE_WINDOW_MS) samples.shift();
        const first = samples[0]!;
        state.rate = now - first.at >= 250 ? ((state.done - first.done) / (now - first.at)) * 1000 : state.rate;
        if (options.quiet) return;
        if (options.io.stderrIsTTY) {
          if (spinner !== undefined) spinner.text = formatProgressBar(state);
        } else if (now - lastLine >= interval) {
          lastLine = now;
          options.io.stderr.write(`${formatProgressLine(state)}\n`);
        }
      };

      if (!options.quiet && options.io.stderrIsTTY) {
        // ora is loaded only when a spinner is really drawn.
        void import('ora').then(({ default: ora }) => {
          if (finished) return;
          spinner = ora({
            text: formatProgressBar(state),
            stream: options.io.stderr as NodeJS.WritableStream,
            isEnabled: true,
            discardStdin: false, // Ctrl-C stays a signal for main's handler
          }).start();
        });
      }

      const task: ProgressTask = {
        update(done, detail) {
          state.done = done;
          if (detail !== undefined) state.detail = detail;
          refresh();
        },
        advance(delta, detail) {
          task.update(state.done + delta, detail);
        },
        setTotal(total) {
          state.total = total;
          refresh();
        },
        finish(ok = true, message) {
          if (finished) return;
          finished = true;
          refresh();
          if (options.quiet) return;
          const summary = message ?? `${label}: ${amount(state.done, unit)} in ${formatDuration(state.elapsedMs)}`;
          if (spinner !== undefined) {
            if (ok) spinner.succeed(summary);
            else spinner.fail(summary);
          } else {
            options.io.stderr.write(`${ok ? '' : 'failed: '}${summary}\n`);
          }
        },
      };
      return task;
    },
  };
}
