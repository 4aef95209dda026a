import type { Command } from 'commander';
import { ExitCode } from '../../core/exit-codes.js';
import type { Check, DoctorReport } from '../../doctor/types.js';
import type { CommandContext } from '../context.js';
import { withExamples, withExplain, type ActionFactory } from '../command-kit.js';
import type { Theme } from '../ui/theme.js';

/** `opsctl doctor`: a leaf command, a thin adapter over src/doctor/run.ts. */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    `
Checks the configuration, Redis (reachability, latency, version, role, memory, persistence,
eviction policy, fragmentation, evictions, rejected connections, blocked clients, replication,
and cluster state or Sentinel quorum), PostgreSQL (reachability, version) and
pg_dump/pg_restore against the server. Each warning or failure comes with a one-line remedy.
Thresholds: profiles.<name>.redis.health (see docs/redis.md).
Exit codes: 0 all pass, 3 a check warned or failed, 4 nothing configured could be reached.
See docs/doctor.md.`,
  );
  withExamples(
    withExplain(command.action(action(async (ctx) => runDoctorCommand(ctx))), async (ctx) => {
      const [selected, { doctorSteps }] = await Promise.all([ctx.profile(), import('../../doctor/explain.js')]);
      return doctorSteps(selected.profile, `profiles.${selected.name}`);
    }),
    [
      'opsctl doctor',
      'opsctl --profile prod doctor --json    # application/health+json for monitoring',
      'opsctl doctor -q || alert "opsctl doctor failed"    # in cron: exit code 0/3/4',
    ],
  );
}

async function runDoctorCommand(ctx: CommandContext): Promise<void> {
  const [{ runDoctor }, { toHealthDocument }, { findPgTool }] = await Promise.all([
    import('../../doctor/run.js'),
    import('../../doctor/health.js'),
    import('../../postgres/tools.js'),
  ]);
  // Connections take up to connectTimeout: say something at once, on a terminal only.
  if (ctx.out.format === 'table' && ctx.io.stderrIsTTY) ctx.out.message(ctx.theme.dim('checking…'));
  const report = await runDoctor({
    clock: ctx.clock,
    loadProfile: () => ctx.profile(),
    connectRedis: () => ctx.redis(),
    connectPg: () => ctx.pg(),
    findPgTool: (name, options) => findPgTool(name, { env: ctx.env, ...options }),
    redisNodes: () => ctx.redisNodes(),
  });

  switch (ctx.out.format) {
    case 'table':
      ctx.out.text(renderReport(report, ctx.theme));
      break;
    case 'csv':
      ctx.out.list(flatRows(report), [
        { key: 'check' },
        { key: 'status' },
        { key: 'component' },
        { key: 'detail' },
        { key: 'remedy' },
      ]);
      break;
    default:
      ctx.out.object(toHealthDocument(report));
  }
  // Not an exception: the report above is the useful part, the status is for scripts.
  ctx.exitCode = doctorExitCode(report);
}

/**
 * 0 when nothing warned or failed (skips are fine), 4 when every configured dependency was
 * unreachable (nothing could be checked), 3 otherwise.
 */
export function doctorExitCode(report: DoctorReport): number {
  const tried = [report.reachable.redis, report.reachable.postgres].filter((value) => value !== undefined);
  if (tried.length > 0 && tried.every((value) => value === false)) return ExitCode.Unreachable;
  return report.status === 'pass' ? ExitCode.Ok : ExitCode.CheckFailed;
}

interface FlatRow {
  check: string;
  status: Check['status'];
  component: string;
  detail: string;
  remedy: string;
}

function flatRows(report: DoctorReport): FlatRow[] {
  return Object.values(report.checks).flat().map((check) => ({
    check: check.name,
    status: check.status,
    component: check.componentId ?? '',
    detail: check.message,
    remedy: check.remedy ?? '',
  }));
}

const HEADERS = ['CHECK', 'STATUS', 'DETAIL'] as const;
const GAP = '  ';

/**
 * The human report: CHECK, STATUS (words, coloured only when colour is on), DETAIL, and under
 * each warning or failure an arrow line with its remedy; then a one-line summary.
 */
export function renderReport(report: DoctorReport, theme: Theme): string {
  const rows: { name: string; check: Check }[] = [];
  for (const [name, checks] of Object.entries(report.checks)) {
    for (const check of checks) rows.push({ name, check });
  }
  const nameWidth = Math.max(HEADERS[0].length, ...rows.map((row) => row.name.length));
  const statusWidth = Math.max(HEADERS[1].length, 4);
  const indent = ' '.repeat(nameWidth + statusWidth + GAP.length * 2);
  const lines = [theme.heading([HEADERS[0].padEnd(nameWidth), HEADERS[1].padEnd(statusWidth), HEADERS[2]].join(GAP))];
  for (const { name, check } of rows) {
    const several = (report.checks[name]?.length ?? 0) > 1 && check.componentId !== undefined;
    const detail = `${several ? `[${check.componentId}] ` : ''}${check.message}`.split('\n');
    // Pad the plain word, then colour it: escape codes must not count towards the width.
    const status = theme.status(check.status) + ' '.repeat(statusWidth - check.status.length);
    lines.push([name.padEnd(nameWidth), status, detail[0]].join(GAP));
    for (const more of detail.slice(1)) lines.push(`${indent}${more}`);
    if (check.remedy !== undefined && (check.status === 'warn' || check.status === 'fail')) {
      lines.push(`${indent}${theme.dim('→')} ${check.remedy}`);
    }
  }
  const count = (status: Check['status']) => rows.filter((row) => row.check.status === status).length;
  const summary = [
    `${count('pass')} passed`,
    `${count('warn')} warning${count('warn') === 1 ? '' : 's'}`,
    `${count('fail')} failed`,
    `${count('skip')} skipped`,
  ].join(', ');
  lines.push('', `${theme.status(report.status)}: ${summary}`);
  return `${lines.map((line) => line.trimEnd()).join('\n')}\n`;
}
