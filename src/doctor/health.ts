import type { Check, DoctorReport, HealthStatus } from './types.js';

/**
 * One entry of the `application/health+json` draft (draft-inadarei-api-health-check), plus
 * opsctl's `remedy`, `durationMs` and `code`. The draft knows pass/warn/fail only: a skipped
 * check keeps its entry (so the set of keys is stable) with `skipped: true` and no `status`,
 * which the draft makes optional.
 */
export interface HealthCheckEntry {
  componentId?: string;
  componentType: Check['componentType'];
  observedValue?: string | number | boolean;
  observedUnit?: string;
  status?: HealthStatus;
  skipped?: true;
  time: string;
  output: string;
  remedy?: string;
  durationMs: number;
  code?: string;
}

/** The whole document `opsctl doctor --json` prints. */
export interface HealthDocument {
  status: HealthStatus;
  description: string;
  checks: Record<string, HealthCheckEntry[]>;
}

export function toHealthDocument(report: DoctorReport): HealthDocument {
  const checks: Record<string, HealthCheckEntry[]> = {};
  for (const [name, entries] of Object.entries(report.checks)) checks[name] = entries.map(toEntry);
  return {
    status: report.status,
    description: report.profile === undefined ? 'opsctl doctor' : `opsctl doctor: profile "${report.profile}"`,
    checks,
  };
}

function toEntry(check: Check): HealthCheckEntry {
  return {
    ...(check.componentId === undefined ? {} : { componentId: check.componentId }),
    componentType: check.componentType,
    ...(check.observed === undefined ? {} : { observedValue: check.observed.value }),
    ...(check.observed?.unit === undefined ? {} : { observedUnit: check.observed.unit }),
    ...(check.status === 'skip' ? { skipped: true as const } : { status: check.status }),
    time: check.time,
    output: check.message,
    ...(check.remedy === undefined ? {} : { remedy: check.remedy }),
    durationMs: check.durationMs,
    ...(check.code === undefined ? {} : { code: check.code }),
  };
}
