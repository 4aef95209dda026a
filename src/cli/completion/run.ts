import { parseDuration } from '../../core/parse.js';
import { targetGroup } from '../argv.js';
import type { Runtime, RedisClient } from '../context.js';
import { completionCacheDir, CompletionCache } from './cache.js';
import { runDynamic, SERVER_BUDGET_MS } from './completers.js';
import { probeConfig } from './config-probe.js';
import { complete } from './engine.js';
import type { CompletionGlobals, CompletionResult } from './types.js';

/**
 * `opsctl __complete <words…>`: what the shell scripts call on Tab (cobra's protocol). The
 * words are those after `opsctl`, the last one being completed (empty after a space). Prints
 * one `value<TAB>description` line per candidate, then `:<directive>`. Never fails: a broken
 * configuration or an unreachable server just offers nothing.
 * `OPSCTL_COMPLETE_DEBUG=1` prints why a dynamic completion offered nothing, on stderr.
 */
export async function runComplete(runtime: Runtime, words: readonly string[]): Promise<number> {
  const { buildProgram } = await import('../program.js');
  // Like main: only the group the finished words address is loaded (none at the top level),
  // so a Tab press costs what `opsctl <group> --help` costs.
  const group = targetGroup(words.slice(0, -1));
  const program = await buildProgram(runtime, { load: group === undefined ? [] : [group] });
  const clients: RedisClient[] = [];
  let finished = false;
  const debug = runtime.env.OPSCTL_COMPLETE_DEBUG === '1';
  try {
    const result = await complete(program, words.length === 0 ? [''] : words, {
      runDynamic: (completer, prefix, globals) =>
        runDynamic(completer, prefix, globals, {
          env: runtime.env,
          cwd: runtime.cwd,
          cache: new CompletionCache(completionCacheDir(runtime.env)),
          probe: (g) => probeConfig(runtime.cwd, runtime.env, g),
          redis: async (g, signal) => {
            const client = await shortLivedRedis(runtime, g);
            // Connected after the budget ran out (or after the answer was printed): a client
            // nobody closes would keep the process alive.
            if (finished || signal.aborted) {
              client.disconnect();
              throw new Error('the completion budget ran out while connecting');
            }
            clients.push(client);
            return client;
          },
          onError: (error) => {
            if (debug) runtime.io.stderr.write(`opsctl __complete: ${error instanceof Error ? error.message : String(error)}\n`);
          },
        }),
    });
    runtime.io.stdout.write(formatCompletion(result));
  } finally {
    finished = true;
    for (const client of clients) client.disconnect();
  }
  return 0;
}

/** The wire format of `__complete`: `value\tdescription` lines and `:<directive>`. */
export function formatCompletion(result: CompletionResult): string {
  const clean = (text: string) => text.replace(/[\t\r\n]+/g, ' ');
  const lines = result.candidates.map((c) => (c.description === undefined ? clean(c.value) : `${clean(c.value)}\t${clean(c.description)}`));
  return `${[...lines, `:${result.directive}`].join('\n')}\n`;
}

/** A connection for one Tab press: the profile's settings, but no retries and a short connect timeout. */
async function shortLivedRedis(runtime: Runtime, globals: CompletionGlobals): Promise<RedisClient> {
  const { loadConfig, selectProfile } = await import('../../config/loader.js');
  const loaded = await loadConfig({ configPath: globals.config, cwd: runtime.cwd, env: runtime.env });
  const selected = selectProfile(loaded, { profile: globals.profile, env: runtime.env });
  const redis = selected.profile.redis;
  if (redis === undefined) throw new Error(`profile "${selected.name}" has no redis section`);
  const { createRedisClient } = await import('../../redis/connection.js');
  return createRedisClient(
    { ...redis, connectTimeout: Math.min(SERVER_BUDGET_MS, parseDuration(redis.connectTimeout) ?? SERVER_BUDGET_MS), retry: { ...redis.retry, maxAttempts: 0 } },
    { configKey: `profiles.${selected.name}.redis` },
  );
}
