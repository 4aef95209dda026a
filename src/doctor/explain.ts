import type { ExplainStep } from '../core/explain.js';
import type { ProfileConfig } from '../config/schema.js';
import { psqlInvocation } from '../postgres/explain.js';
import { redisVerbSteps } from '../redis/explain.js';

/** What `opsctl doctor` asks each server, as redis-cli / psql lines (`--explain`). */
export function doctorSteps(profile: ProfileConfig, keyBase: string): ExplainStep[] {
  const steps: ExplainStep[] = [];
  if (profile.redis !== undefined) steps.push(...redisVerbSteps.health(profile.redis, `${keyBase}.redis`));
  if (profile.postgres !== undefined) {
    const config = profile.postgres;
    const key = `${keyBase}.postgres`;
    steps.push({ note: 'reachability and version', pipeline: [psqlInvocation(config, key, "select current_setting('server_version_num'), current_setting('server_version')")] });
    for (const tool of ['pg_dump', 'pg_restore']) {
      steps.push({ note: `${tool} found on PATH or in the PostgreSQL installations, not older than the server`, pipeline: [{ tool, args: ['--version'] }] });
    }
  }
  return steps;
}
