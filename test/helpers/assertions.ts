import { expect } from 'vitest';
import { OpsError } from '../../src/core/errors.js';
import type { Tracer } from '../../src/core/trace.js';

/** Awaits a promise that must reject with an OpsError, and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<OpsError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OpsError);
    return error as OpsError;
  }
  throw new Error('expected a rejection');
}

/** A tracer that keeps every line it is given (`kind detail 1.2ms`), for assertions. */
export function recordingTracer(): Tracer & { lines: string[] } {
  const lines: string[] = [];
  return { enabled: true, lines, record: (kind, detail, ms) => lines.push(`${kind} ${detail}${ms === undefined ? '' : ` ${ms.toFixed(1)}ms`}`) };
}
