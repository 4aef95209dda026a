import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { testIO } from '../../src/cli/ui/io.js';
import { formatProgressBar, formatProgressLine, terminalProgress, type ProgressState } from '../../src/cli/ui/progress.js';

const MiB = 1024 * 1024;

function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return { now: () => now, monotonic: () => now, advance: (ms) => (now += ms) };
}

describe('progress lines', () => {
  const state: ProgressState = { label: 'pg_dump app', unit: 'bytes', done: 12 * MiB, total: 25 * MiB, rate: 8 * MiB, elapsedMs: 1500, detail: 'table users' };

  it('draws a bar with percent, amounts, rate and ETA', () => {
    expect(formatProgressBar(state)).toBe('pg_dump app  ▕██████████░░░░░░░░░░▏ 48%  12.0 MiB / 25.0 MiB  8.0 MiB/s  ETA 1.6s · table users');
  });

  it('says the same in a plain line for logs', () => {
    expect(formatProgressLine(state)).toBe('pg_dump app: 48% (12.0 MiB of 25.0 MiB, 8.0 MiB/s, ETA 1.6s) table users');
  });

  it('shows an amount and rate without a total, and no ETA', () => {
    expect(formatProgressLine({ ...state, unit: 'items', total: undefined, done: 1234, rate: 250, detail: undefined })).toBe('pg_dump app: (1,234, 250 items/s)');
  });
});

describe('terminalProgress off a terminal', () => {
  it('prints a line every interval and a summary, all on stderr', () => {
    const io = testIO({ tty: false });
    const clock = fakeClock();
    const task = terminalProgress({ io, clock, quiet: false, lineIntervalMs: 5000 }).start('scan', { total: 100 });
    clock.advance(1000);
    task.update(10);
    clock.advance(4000);
    task.update(50);
    clock.advance(1000);
    task.update(60);
    clock.advance(4000);
    task.update(100);
    task.finish();
    expect(io.out()).toBe('');
    expect(io.err().split('\n')).toEqual([
      'scan: 50% (50 of 100, 10 items/s, ETA 5s)',
      'scan: 100% (100 of 100, 10 items/s, ETA 0ms)',
      'scan: 100 in 10s',
      '',
    ]);
  });

  it('prints nothing with --quiet', () => {
    const io = testIO({ tty: false });
    const clock = fakeClock();
    const task = terminalProgress({ io, clock, quiet: true, lineIntervalMs: 1 }).start('scan');
    clock.advance(10);
    task.update(5);
    task.finish(false);
    expect(io.err()).toBe('');
  });
});
