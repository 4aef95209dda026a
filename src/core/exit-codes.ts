/**
 * Process exit codes. Scripts and cron jobs branch on these, so they never change meaning.
 * Documented in README.md ("Exit codes").
 */
export const ExitCode = {
  Ok: 0,
  /** The operation was attempted and failed. */
  Failed: 1,
  /** Bad command line, bad config, or input that is needed but may not be asked for. */
  Usage: 2,
  /** A check ran and found problems (doctor, scan, verify, compliance). */
  CheckFailed: 3,
  /** A dependency (Redis, PostgreSQL, a tool) could not be reached. */
  Unreachable: 4,
  /** Interrupted by SIGINT/SIGTERM. */
  Interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
