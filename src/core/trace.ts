import { secrets } from './redact.js';

/**
 * What `--debug` shows: every Redis command, SQL statement and child process with its timing.
 * Domain code receives a Tracer and never decides where the lines go.
 */
export type TraceKind = 'redis' | 'sql' | 'exec' | 'config' | 'phase';

export interface Tracer {
  readonly enabled: boolean;
  /** Records one finished operation. `detail` is redacted before it is written. */
  record(kind: TraceKind, detail: string, durationMs?: number): void;
}

export const silentTracer: Tracer = { enabled: false, record: () => undefined };

/** A tracer that writes `debug redis   1.2ms  GET key` lines to a stream (stderr). */
export function streamTracer(write: (line: string) => void): Tracer {
  return {
    enabled: true,
    record(kind, detail, durationMs) {
      const time = durationMs === undefined ? '' : `${durationMs.toFixed(1)}ms`;
      write(`debug ${kind.padEnd(6)} ${time.padStart(9)}  ${secrets.redact(detail)}\n`);
    },
  };
}

/** Sends every record to each tracer that is enabled (`--debug` and `--timings` together). */
export function teeTracer(...tracers: Tracer[]): Tracer {
  const active = tracers.filter((tracer) => tracer.enabled);
  if (active.length === 0) return silentTracer;
  if (active.length === 1) return active[0]!;
  return { enabled: true, record: (kind, detail, ms) => active.forEach((tracer) => tracer.record(kind, detail, ms)) };
}

export interface TimingRow {
  phase: string;
  count: number;
  totalMs: number;
}

/**
 * What `--timings` prints: each named phase in the order it ended, then the Redis commands, SQL
 * statements and child processes summed by kind (their count and total time).
 */
export class TimingCollector implements Tracer {
  readonly enabled = true;
  readonly #phases: TimingRow[] = [];
  readonly #totals = new Map<TraceKind, TimingRow>();

  record(kind: TraceKind, detail: string, durationMs?: number): void {
    if (durationMs === undefined) return;
    if (kind === 'phase') {
      this.#phases.push({ phase: detail, count: 1, totalMs: durationMs });
      return;
    }
    const label = { redis: 'Redis commands', sql: 'SQL statements', exec: 'child processes', config: 'configuration file reads', phase: '' }[kind];
    const row = this.#totals.get(kind) ?? { phase: label, count: 0, totalMs: 0 };
    row.count += 1;
    row.totalMs += durationMs;
    this.#totals.set(kind, row);
  }

  rows(): TimingRow[] {
    return [...this.#phases, ...this.#totals.values()];
  }
}

/** Runs `work` and records it as a phase of that name. */
export async function tracePhase<T>(tracer: Tracer, name: string, work: () => Promise<T>): Promise<T> {
  if (!tracer.enabled) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    tracer.record('phase', name, performance.now() - started);
  }
}
