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
