import type { CompletionCache } from './cache.js';
import type { ConfigProbe } from './config-probe.js';
import type { RedisClient } from '../context.js';
import { Directive, type Candidate, type CompleterContext, type CompletionGlobals, type CompletionResult, type DynamicCompleter, type ProfileSummary } from './types.js';

/**
 * The dynamic completers. A command attaches one to an option or argument with
 * `completeWith(…)`, or is listed in COMPLETERS_BY_PATH; later features add theirs here
 * (rate-limit policy names) or beside their command. Nothing in this file may import ioredis or
 * pg at the top: the Tab press for a static word must stay as cheap as `--help`.
 */

/** Profile names from the configuration file (read, not validated: cheap). */
export const profileCompleter: DynamicCompleter = {
  name: 'profile',
  server: false,
  ttlMs: 0,
  async complete(context) {
    const profiles = await context.profiles();
    return { candidates: profiles.map(profileCandidate), directive: Directive.NoFileComp };
  },
};

function profileCandidate(profile: ProfileSummary): Candidate {
  const parts = [profile.protected ? 'protected' : undefined, profile.description].filter((part) => part !== undefined);
  return { value: profile.name, ...(parts.length > 0 ? { description: parts.join(': ') } : {}) };
}

/**
 * Dotted key paths of the configuration file (`config get|set|unset <path>`), one level at a
 * time: `profiles.` → `profiles.dev.`, `profiles.prod.` … Mappings and lists end with a dot and
 * keep the cursor in the word.
 */
export const configPathCompleter: DynamicCompleter = {
  name: 'config-path',
  server: false,
  ttlMs: 0,
  async complete(context) {
    const cut = context.prefix.lastIndexOf('.');
    const parent = cut < 0 ? [] : context.prefix.slice(0, cut).split('.');
    let node = await context.configData();
    for (const segment of parent) {
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[segment] : undefined;
    }
    if (node === null || typeof node !== 'object') return { candidates: [], directive: Directive.NoFileComp };
    const base = cut < 0 ? '' : `${context.prefix.slice(0, cut)}.`;
    const candidates = Object.entries(node as Record<string, unknown>).map(([key, value]) => {
      const container = value !== null && typeof value === 'object';
      return { value: `${base}${key}${container ? '.' : ''}`, ...(container ? {} : { description: describeValue(key, value) }) };
    });
    const continues = candidates.some((c) => c.value.endsWith('.'));
    return { candidates, directive: Directive.NoFileComp | (continues ? Directive.NoSpace : 0) };
  },
};

function describeValue(key: string, value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // A Tab press shows what is in the file, but never a secret written in it.
  if (/password|passphrase|secret|token|key$/i.test(key) || /:\/\/[^/@\s]*:[^@/\s]+@/.test(text)) return '(hidden)';
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/**
 * Backup ids: the directories of `<repository>/backups/` that hold a manifest (a backup without
 * one does not exist). The repository is `--repo` when given, else the profile's
 * `backup.repository` (relative to the configuration file), as `opsctl backup` resolves it.
 */
export const backupIdCompleter: DynamicCompleter = {
  name: 'backup-id',
  server: false,
  ttlMs: 0,
  async complete(context) {
    const [{ access, readdir }, path] = await Promise.all([import('node:fs/promises'), import('node:path')]);
    const repo = context.globals.options?.['--repo'];
    let location: string | undefined;
    if (repo !== undefined) {
      location = path.resolve(context.cwd, repo);
    } else {
      const probe = await context.config();
      const name = context.globals.profile || context.env.OPSCTL_PROFILE || probe?.defaultProfile || (probe?.profiles.length === 1 ? probe.profiles[0]!.name : undefined);
      const profiles = (probe?.data as { profiles?: Record<string, { backup?: { repository?: unknown } }> } | undefined)?.profiles;
      const configured = name === undefined ? undefined : profiles?.[name]?.backup?.repository;
      if (probe !== undefined && typeof configured === 'string') location = path.resolve(path.dirname(probe.file), configured);
    }
    if (location === undefined) return { candidates: [], directive: Directive.NoFileComp };
    const dir = path.join(location, 'backups');
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const ids: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !entry.name.startsWith(context.prefix)) continue;
      if (await access(path.join(dir, entry.name, 'manifest.json')).then(() => true, () => false)) ids.push(entry.name);
    }
    // Newest first: ids start with their UTC time.
    return { candidates: ids.sort().reverse().map((value) => ({ value })), directive: Directive.NoFileComp };
  },
};

/** How long one Redis key completion may SCAN. */
export const SCAN_BUDGET_MS = 100;
/** At most this many key names are offered (a Tab press is not a listing). */
export const SCAN_MAX_KEYS = 200;

/**
 * Redis key names starting with the typed prefix: SCAN with MATCH, stopped after SCAN_BUDGET_MS
 * or SCAN_MAX_KEYS names (a partial answer is offered but not cached). In a Cluster every master
 * is scanned.
 */
export const redisKeyCompleter: DynamicCompleter = {
  name: 'redis-key',
  server: true,
  ttlMs: 10_000,
  async complete(context) {
    const client = await context.redis();
    const deadline = performance.now() + SCAN_BUDGET_MS;
    const match = `${escapeGlob(context.prefix)}*`;
    const found = new Set<string>();
    const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
    let finished = true;
    for (const node of nodes) {
      let cursor = '0';
      do {
        if (performance.now() > deadline || context.signal.aborted || found.size >= SCAN_MAX_KEYS) {
          finished = false;
          break;
        }
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        for (const key of keys) found.add(key);
        cursor = next;
      } while (cursor !== '0');
      if (!finished) break;
    }
    const candidates = [...found].sort().slice(0, SCAN_MAX_KEYS).map((value) => ({ value }));
    return { candidates, directive: Directive.NoFileComp, partial: !finished || found.size > SCAN_MAX_KEYS };
  },
};

/** Redis glob metacharacters in a typed prefix are matched literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Rate limit policy names of the selected profile (`ratelimit.policies`), read from the file as
 * written (no validation, no Redis), with their algorithm and rate as description.
 */
/**
 * Names under one map of the selected profile (read from the file, not validated: cheap), such as
 * `ratelimit.policies` or `cache.namespaces`, each described by `describe(entry)`.
 */
function profileEntriesCompleter(
  name: string,
  path: readonly string[],
  describe: (entry: Record<string, unknown>) => string,
  always: readonly string[] = [],
): DynamicCompleter {
  return {
    name,
    server: false,
    ttlMs: 0,
    async complete(context) {
      const probe = await context.config();
      const profileName = context.globals.profile || context.env.OPSCTL_PROFILE || probe?.defaultProfile || (probe?.profiles.length === 1 ? probe.profiles[0]!.name : undefined);
      const profiles = (probe?.data as { profiles?: Record<string, unknown> } | undefined)?.profiles;
      let section: unknown = profileName === undefined ? undefined : profiles?.[profileName];
      for (const key of path) section = (section as Record<string, unknown> | undefined)?.[key];
      const entries = Object.entries((section ?? {}) as Record<string, Record<string, unknown> | undefined>);
      const names = [...always.filter((value) => !entries.some(([entry]) => entry === value)).map((value) => [value, {}] as const), ...entries];
      const candidates = names
        .filter(([entry]) => entry.startsWith(context.prefix))
        .map(([entry, spec]) => {
          const description = describe(spec ?? {});
          return description === '' ? { value: entry } : { value: entry, description };
        });
      return { candidates, directive: Directive.NoFileComp };
    },
  };
}

/** Rate limit policy names, with their algorithm and rate. */
export const rateLimitPolicyCompleter = profileEntriesCompleter('ratelimit-policy', ['ratelimit', 'policies'], (spec) =>
  `${String(spec.algorithm ?? '?')} ${String(spec.rate ?? '')}`.trim(),
);

/** Cache namespace names (`default` always exists), with their TTL. */
export const cacheNamespaceCompleter = profileEntriesCompleter('cache-namespace', ['cache', 'namespaces'], (spec) => (spec.ttl === undefined ? '' : `ttl ${String(spec.ttl)}`), ['default']);

/**
 * Completers for options and arguments of commands that do not attach their own with
 * completeWith, keyed by `<command path> <--option | <argument>>`.
 */
export const COMPLETERS_BY_PATH: Readonly<Record<string, DynamicCompleter>> = {
  'redis keys --pattern': redisKeyCompleter,
  'redis memory --pattern': redisKeyCompleter,
  'config get <path>': configPathCompleter,
  'config set <path>': configPathCompleter,
  'config unset <path>': configPathCompleter,
  'backup show <id>': backupIdCompleter,
  'backup verify <id>': backupIdCompleter,
  'ratelimit status <policy>': rateLimitPolicyCompleter,
  'ratelimit consume <policy>': rateLimitPolicyCompleter,
  'ratelimit reset <policy>': rateLimitPolicyCompleter,
  'ratelimit simulate <policy>': rateLimitPolicyCompleter,
  'ratelimit top --policy': rateLimitPolicyCompleter,
  'cache stats --namespace': cacheNamespaceCompleter,
  'cache keys --namespace': cacheNamespaceCompleter,
  'cache invalidate --namespace': cacheNamespaceCompleter,
  'cache flush --namespace': cacheNamespaceCompleter,
  'session migrate --from': profileCompleter,
  'session migrate --to': profileCompleter,
};

/** The whole time a server-backed completer may take, connecting included. */
export const SERVER_BUDGET_MS = 500;

export interface DynamicRunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Absent: no cache (tests). */
  cache?: CompletionCache;
  /** The configuration file, read cheaply (see config-probe.ts). */
  probe(globals: CompletionGlobals): Promise<ConfigProbe | undefined>;
  redis(globals: CompletionGlobals, signal: AbortSignal): Promise<RedisClient>;
  /** Called with a completer's error (completion itself never fails). */
  onError?: (error: unknown) => void;
}

/**
 * Runs one dynamic completer: through the cache when it asks a server, under SERVER_BUDGET_MS,
 * and never throwing (a Tab press that fails offers nothing).
 */
export async function runDynamic(completer: DynamicCompleter, prefix: string, globals: CompletionGlobals, options: DynamicRunOptions): Promise<CompletionResult> {
  const key = [completer.name, options.cwd, globals.config ?? '', globals.profile ?? options.env.OPSCTL_PROFILE ?? '', prefix].join('\0');
  if (completer.server && options.cache !== undefined) {
    const cached = await options.cache.get(key, completer.ttlMs);
    if (cached !== undefined) return cached;
  }
  const controller = new AbortController();
  const timer = completer.server ? setTimeout(() => controller.abort(), SERVER_BUDGET_MS) : undefined;
  const context: CompleterContext = {
    prefix,
    globals,
    env: options.env,
    cwd: options.cwd,
    signal: controller.signal,
    profiles: () => options.probe(globals).then((probe) => probe?.profiles ?? []),
    configData: () => options.probe(globals).then((probe) => probe?.data),
    config: () => options.probe(globals),
    redis: () => options.redis(globals, controller.signal),
  };
  try {
    const work = completer.complete(context);
    const result = completer.server ? await Promise.race([work, aborted(controller.signal)]) : await work;
    if (completer.server && options.cache !== undefined && result.partial !== true) await options.cache.set(key, { candidates: result.candidates, directive: result.directive });
    return { candidates: result.candidates, directive: result.directive };
  } catch (error) {
    options.onError?.(error);
    return { candidates: [], directive: Directive.NoFileComp };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error(`completion took longer than ${SERVER_BUDGET_MS}ms`)), { once: true }));
}
