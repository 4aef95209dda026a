import type { ErrorCode } from '../core/error-codes.js';

/** Outcome of one check. `skip`: not run because a prerequisite failed or is not configured. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** The overall verdict, in the words of the `application/health+json` draft. */
export type HealthStatus = 'pass' | 'warn' | 'fail';

/** What a check measured, when it measured something (the draft's observedValue/observedUnit). */
export interface Observed {
  value: string | number | boolean;
  unit?: string;
}

/** One check's result: plain data, rendered as a table row or a health+json entry. */
export interface Check {
  /** `component:measurement`, e.g. `redis:latency` (the draft's check key). */
  name: string;
  status: CheckStatus;
  /** One line: what was found. */
  message: string;
  /** One line: what to do, for warn/fail. */
  remedy?: string;
  /** Time spent on the probe behind this check. */
  durationMs: number;
  observed?: Observed;
  componentType: 'datastore' | 'component' | 'system';
  /** Which instance: `127.0.0.1:6379`, a Cluster node, a program path. */
  componentId?: string;
  /** When the check finished (ISO 8601). */
  time: string;
  /** The OpsError code behind a failure, when there was one. */
  code?: ErrorCode;
}

/**
 * The doctor's report: checks grouped by name (a Cluster yields one entry per node under the
 * same name), the overall status, and which dependencies answered.
 */
export interface DoctorReport {
  status: HealthStatus;
  /** The profile checked, when the configuration could be loaded. */
  profile?: string;
  checks: Record<string, Check[]>;
  /** Per dependency: true reachable, false configured but unreachable, absent when not configured or not tried. */
  reachable: { redis?: boolean; postgres?: boolean };
}
