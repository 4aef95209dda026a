import { Option, type Command } from 'commander';
import { TEMPLATE_NAMES } from '../../config/templates.js';
import { OpsError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { withExamples, type ActionFactory } from '../command-kit.js';
import type { Column } from '../ui/output.js';

/**
 * `opsctl config …`: a thin adapter over src/config. Domain modules are imported inside the
 * actions so that `--help` loads neither zod nor cosmiconfig.
 */
export function register(command: Command, action: ActionFactory): void {
  command.addHelpText(
    'after',
    '\nThe file is found by --config, or by searching opsctl.config.*, .opsctlrc* and package.json#opsctl\nfrom the current directory upward. See docs/configuration.md.\n',
  );

  withExamples(
    command
      .command('init')
      .description('Create a configuration file from a template (asks on a terminal)')
      .addOption(new Option('--template <name>', 'template to start from').choices(TEMPLATE_NAMES))
      .option('--path <file>', 'file to create (default: opsctl.config.yaml here; .json writes JSON)')
      .option('--redis-url <url>', 'Redis URL of the default profile (templates that use a URL)')
      .option('--postgres-url <url>', 'PostgreSQL URL of the default profile (templates that use a URL)')
      .option('--force', 'replace an existing file (it is kept in the history)')
      .action(
        action(async (ctx, opts: { template?: string; path?: string; redisUrl?: string; postgresUrl?: string; force?: boolean }) => {
          await initCommand(ctx, opts);
        }),
      ),
    [
      'opsctl config init                        # asks for template and URLs',
      'opsctl config init --template production',
      'opsctl config init --template minimal --redis-url redis://127.0.0.1:6380 --path ci.opsctl.yaml',
    ],
  );

  withExamples(
    command
      .command('validate')
      .description('Check the file against the schema and list every problem with file:line:col (exit 2 on errors)')
      .action(action(async (ctx) => validateCommand(ctx))),
    [
      'opsctl config validate',
      'opsctl config validate --profile prod     # prod\'s ${env:…} variables must be set',
      'opsctl config validate --json',
    ],
  );

  withExamples(
    command
      .command('show')
      .description('Print the configuration with secrets hidden')
      .option('--resolved', 'the selected profile with ${env:…} expanded and defaults applied (secrets still hidden)')
      .action(action(async (ctx, opts: { resolved?: boolean }) => showCommand(ctx, opts))),
    ['opsctl config show', 'opsctl config show --resolved --profile prod', 'opsctl config show --json'],
  );

  withExamples(
    command
      .command('get')
      .description('Print one value by its dotted key path')
      .argument('<path>', 'key path, e.g. profiles.prod.redis.url or profiles.x.redis.cluster.nodes.0.port')
      .action(action(async (ctx, keyPath: string) => getCommand(ctx, keyPath))),
    ['opsctl config get profiles.prod.redis.url', 'opsctl config get profiles.dev.redis --json'],
  );

  withExamples(
    command
      .command('set')
      .description('Set one value (YAML comments are kept; the whole file is validated first; history kept)')
      .argument('<path>', 'key path, e.g. profiles.prod.redis.commandTimeout')
      .argument('<value>', 'the value, read as YAML: 5, true, 2s, [..], {..}; --string keeps it text')
      .option('--string', 'store the value as a string, even when it looks like a number or boolean')
      .action(action(async (ctx, keyPath: string, value: string, opts: { string?: boolean }) => setCommand(ctx, keyPath, value, opts))),
    [
      'opsctl config set profiles.prod.redis.commandTimeout 2s',
      'opsctl config set profiles.prod.protected true',
      "opsctl config set profiles.prod.redis.password '${env:REDIS_PASSWORD}'",
      'opsctl config set profiles.dev.postgres.database 0042 --string',
    ],
  );

  withExamples(
    command
      .command('unset')
      .description('Remove one key or list item (validated first; history kept)')
      .argument('<path>', 'key path')
      .action(action(async (ctx, keyPath: string) => unsetCommand(ctx, keyPath))),
    ['opsctl config unset profiles.staging.doctor'],
  );

  withExamples(
    command
      .command('profiles')
      .description('List the profiles: which is active, default, protected, and where they point')
      .action(action(async (ctx) => profilesCommand(ctx))),
    ['opsctl config profiles', 'opsctl config profiles --json'],
  );

  withExamples(
    command
      .command('history')
      .description('List the kept previous versions of the file, newest first')
      .action(action(async (ctx) => historyCommand(ctx))),
    ['opsctl config history', 'opsctl config history --json'],
  );

  withExamples(
    command
      .command('diff')
      .description('Unified diff between two history entries, or an entry and the current file (default: last entry → current)')
      .argument('[from]', 'history id (or a unique prefix, or "current")')
      .argument('[to]', 'history id or "current" (default: current)')
      .action(action(async (ctx, from: string | undefined, to: string | undefined) => diffCommand(ctx, from, to))),
    ['opsctl config diff', 'opsctl config diff 20250102T030405678Z-1a2b3c4', 'opsctl config diff 1a2b3c4 5d6e7f8'],
  );

  withExamples(
    command
      .command('rollback')
      .description('Restore a history entry (asks first; the current file is kept in the history)')
      .argument('<id>', 'history id, a unique prefix, or its hash part')
      .action(action(async (ctx, id: string) => rollbackCommand(ctx, id))),
    ['opsctl config rollback 1a2b3c4', 'opsctl config rollback 1a2b3c4 --yes'],
  );

  withExamples(
    command
      .command('migrate')
      .description('Upgrade the file to the current schema version (comments kept; history kept)')
      .option('--dry-run', 'print the diff and write nothing')
      .action(action(async (ctx, opts: { dryRun?: boolean }) => migrateCommand(ctx, opts))),
    ['opsctl config migrate --dry-run', 'opsctl config migrate'],
  );

  withExamples(
    command
      .command('schema')
      .description('Print the JSON Schema of the configuration file (for editors), or write it')
      .option('--write <path>', 'write the schema to this file instead of stdout')
      .action(action(async (ctx, opts: { write?: string }) => schemaCommand(ctx, opts))),
    ['opsctl config schema > opsctl.schema.json', 'opsctl config schema --write schema/opsctl.schema.json'],
  );
}

function storeTarget(ctx: CommandContext) {
  return {
    cwd: ctx.cwd,
    env: ctx.env,
    now: ctx.clock.now(),
    ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }),
  };
}

async function fileName(ctx: CommandContext, filepath: string): Promise<string> {
  const { displayPath } = await import('../../config/loader.js');
  return displayPath(filepath, ctx.cwd);
}

// ---- init ------------------------------------------------------------------------------------

async function initCommand(
  ctx: CommandContext,
  opts: { template?: string; path?: string; redisUrl?: string; postgresUrl?: string; force?: boolean },
): Promise<void> {
  const { TEMPLATES, isTemplateName } = await import('../../config/templates.js');
  const store = await import('../../config/store.js');
  const names = TEMPLATES.map((t) => t.name).join(', ');
  if (opts.template === undefined && !ctx.prompter.interactive) {
    throw new OpsError('INPUT_REQUIRED', 'config init needs --template <name> when it cannot ask (no terminal, or --no-input)', {
      hint: `templates: ${names}; e.g. opsctl config init --template minimal`,
    });
  }
  // Fail on an existing file before asking anything.
  await store.assertInitTarget({ cwd: ctx.cwd, ...(opts.path === undefined ? {} : { path: opts.path }), force: opts.force === true });

  const template =
    opts.template ??
    (await ctx.prompter.select(
      'Template',
      TEMPLATES.map((t) => ({ value: t.name, name: t.name, description: t.summary })),
      { default: 'minimal', flag: '--template' },
    ));
  if (!isTemplateName(template)) throw new OpsError('USAGE', `unknown template "${template}"`, { hint: `templates: ${names}` });

  let { redisUrl, postgresUrl } = opts;
  if (ctx.prompter.interactive) {
    const defaults = await store.templateDefaults(template);
    if (redisUrl === undefined && defaults.redisUrl !== undefined) {
      redisUrl = await ctx.prompter.input('Redis URL', { default: defaults.redisUrl, flag: '--redis-url', validate: urlValidator(['redis', 'rediss']) });
    }
    if (postgresUrl === undefined && defaults.postgresUrl !== undefined) {
      postgresUrl = await ctx.prompter.input('PostgreSQL URL', {
        default: defaults.postgresUrl,
        flag: '--postgres-url',
        validate: urlValidator(['postgres', 'postgresql']),
      });
    }
  }
  const { hasEnvReference } = await import('../../config/interpolate.js');
  for (const url of [redisUrl, postgresUrl]) {
    if (url !== undefined && /:\/\/[^:@/]*:([^@/]+)@/.test(url) && !hasEnvReference(url)) {
      ctx.out.warning('the URL holds a literal password; prefer ${env:NAME} in the password position and export NAME');
    }
  }
  const result = await store.initConfig({
    ...storeTarget(ctx),
    template,
    force: opts.force === true,
    ...(opts.path === undefined ? {} : { path: opts.path }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(postgresUrl === undefined ? {} : { postgresUrl }),
  });
  const file = await fileName(ctx, result.filepath);
  if (ctx.out.machineReadable) {
    ctx.out.object({ file: result.filepath, template: result.template, profile: result.profile, replaced: result.replaced, history: result.history?.id ?? null });
    return;
  }
  ctx.out.message(`${result.replaced ? 'replaced' : 'created'} ${file} from the ${template} template (default profile "${result.profile}")`);
  if (result.history !== undefined) ctx.out.message(`the previous file is kept as ${result.history.id}`);
  ctx.out.message('next: opsctl config validate');
}

function urlValidator(schemes: readonly string[]) {
  return (value: string): string | true =>
    schemes.some((scheme) => value.startsWith(`${scheme}://`)) ? true : `expected a ${schemes.map((s) => `${s}://`).join(' or ')} URL`;
}

// ---- validate --------------------------------------------------------------------------------

interface ProblemRow {
  location: string;
  severity: string;
  path: string;
  message: string;
}

async function validateCommand(ctx: CommandContext): Promise<void> {
  const { inspectConfig, displayPath } = await import('../../config/loader.js');
  const inspection = await inspectConfig({
    cwd: ctx.cwd,
    env: ctx.env,
    tracer: ctx.tracer,
    ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }),
    ...(ctx.globals.profile === undefined ? {} : { profile: ctx.globals.profile }),
  });
  const file = displayPath(inspection.filepath, ctx.cwd);
  const errors = inspection.problems.filter((p) => p.severity === 'error').length;
  const warnings = inspection.problems.length - errors;

  if (ctx.out.machineReadable) {
    // One shape for every problem: absent facts are null rather than missing keys.
    const rows = inspection.problems.map((p) => ({
      file: p.file,
      line: p.line ?? null,
      column: p.column ?? null,
      severity: p.severity,
      kind: p.kind,
      path: p.path,
      message: p.message,
      expected: p.expected ?? null,
      found: p.found ?? null,
    }));
    ctx.out.list(rows, [
      { key: 'file' },
      { key: 'line' },
      { key: 'column' },
      { key: 'severity' },
      { key: 'kind' },
      { key: 'path' },
      { key: 'message' },
    ]);
  } else if (inspection.problems.length > 0) {
    const rows = inspection.problems.map((p) => ({
      location: p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`,
      severity: p.severity,
      path: p.path,
      message: p.message,
    }));
    ctx.out.list<ProblemRow>(rows, [
      { key: 'location', header: 'LOCATION' },
      { key: 'severity', header: 'SEVERITY', format: (value) => (value === 'error' ? ctx.theme.fail('error') : ctx.theme.warn('warning')) },
      { key: 'path', header: 'KEY' },
      { key: 'message', header: 'PROBLEM' },
    ]);
  }

  const counts = `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`;
  if (errors > 0) {
    ctx.out.message(`configuration invalid: ${file} (${counts})`);
    ctx.exitCode = 2;
  } else {
    const profiles = `${inspection.profiles.length} profile${inspection.profiles.length === 1 ? '' : 's'}`;
    ctx.out.message(`configuration valid: ${file} (${profiles}${warnings > 0 ? `, ${counts}` : ''})`);
  }
}

// ---- show / get ------------------------------------------------------------------------------

async function showCommand(ctx: CommandContext, opts: { resolved?: boolean }): Promise<void> {
  const { redactConfigText, redactConfigValue } = await import('../../config/display.js');
  const { stringify } = await import('yaml');
  if (opts.resolved === true) {
    const selected = await ctx.profile();
    const profile = redactConfigValue(selected.profile);
    if (ctx.out.format === 'table') {
      ctx.out.text(`# profile "${selected.name}" from ${await fileName(ctx, selected.filepath)} (resolved, secrets hidden)\n${stringify(profile)}`);
    } else {
      ctx.out.object({ name: selected.name, filepath: selected.filepath, profile });
    }
    return;
  }
  const { readConfigSource } = await import('../../config/loader.js');
  const source = await readConfigSource({
    cwd: ctx.cwd,
    env: ctx.env,
    tracer: ctx.tracer,
    ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }),
  });
  if (ctx.out.format === 'table') {
    ctx.out.text(source.format === 'yaml' && source.text !== undefined ? redactConfigText(source.text, 'yaml') : stringify(redactConfigValue(source.data)));
    return;
  }
  const data = redactConfigValue(source.data);
  ctx.out.object(data !== null && typeof data === 'object' ? data : { value: data });
}

async function getCommand(ctx: CommandContext, keyPath: string): Promise<void> {
  const { getConfigValue } = await import('../../config/store.js');
  const { redactConfigValue } = await import('../../config/display.js');
  const result = await getConfigValue(storeTarget(ctx), keyPath);
  // Redact as the value of its own key, so `…password` is hidden like in `config show`.
  const key = keyPath.split('.').at(-1) ?? keyPath;
  const value = redactConfigValue({ [key]: result.value })[key];
  if (result.origin === 'default') ctx.out.message(ctx.theme.dim(`${keyPath} is not written in the file: this is the default`));
  await printValue(ctx, value);
}

async function printValue(ctx: CommandContext, value: unknown): Promise<void> {
  if (ctx.out.format === 'json') {
    ctx.out.text(JSON.stringify(value, null, 2));
  } else if (value !== null && typeof value === 'object') {
    const { stringify } = await import('yaml');
    ctx.out.text(stringify(value));
  } else if (ctx.out.format === 'yaml') {
    const { stringify } = await import('yaml');
    ctx.out.text(stringify(value));
  } else {
    ctx.out.text(String(value));
  }
}

// ---- set / unset -----------------------------------------------------------------------------

async function setCommand(ctx: CommandContext, keyPath: string, raw: string, opts: { string?: boolean }): Promise<void> {
  const { parseValueArgument, setConfigValue } = await import('../../config/store.js');
  const { redactConfigValue } = await import('../../config/display.js');
  const { hasEnvReference } = await import('../../config/interpolate.js');
  const { isSecretKey, secrets } = await import('../../core/redact.js');
  const value = parseValueArgument(raw, opts.string === true);
  const key = keyPath.split('.').at(-1) ?? keyPath;
  const literalSecret = typeof value === 'string' && isSecretKey(key) && value !== '' && !hasEnvReference(value);
  // A literal secret typed on the command line must not come back in any later message.
  if (literalSecret) secrets.add(value);
  const result = await setConfigValue({ ...storeTarget(ctx), command: 'config set', path: keyPath, value });
  const file = await fileName(ctx, result.filepath);
  const shown = redactConfigValue({ [key]: value })[key];
  if (ctx.out.machineReadable) {
    ctx.out.object({ file: result.filepath, path: keyPath, value: shown, changed: result.changed, history: result.history?.id ?? null });
  } else if (result.changed) {
    ctx.out.message(`set ${keyPath} = ${JSON.stringify(shown)} in ${file}${result.history ? ` (previous version kept as ${result.history.id})` : ''}`);
  } else {
    ctx.out.message(`${keyPath} already has this value: ${file} not written`);
  }
  if (literalSecret) ctx.out.warning(`${keyPath} now holds a literal secret; prefer "\${env:NAME}" and export NAME`);
  warnRemaining(ctx, file, result.remainingErrors);
}

function warnRemaining(ctx: CommandContext, file: string, errors: number): void {
  if (errors > 0) ctx.out.warning(`${file} still has ${errors} problem${errors === 1 ? '' : 's'}: \`opsctl config validate\` lists them`);
}

async function unsetCommand(ctx: CommandContext, keyPath: string): Promise<void> {
  const { unsetConfigValue } = await import('../../config/store.js');
  const result = await unsetConfigValue({ ...storeTarget(ctx), command: 'config unset', path: keyPath });
  const file = await fileName(ctx, result.filepath);
  if (ctx.out.machineReadable) {
    ctx.out.object({ file: result.filepath, path: keyPath, changed: result.changed, history: result.history?.id ?? null });
  } else {
    ctx.out.message(`removed ${keyPath} from ${file}${result.history ? ` (previous version kept as ${result.history.id})` : ''}`);
  }
  warnRemaining(ctx, file, result.remainingErrors);
}

// ---- profiles --------------------------------------------------------------------------------

interface ProfileRow {
  name: string;
  active: boolean;
  default: boolean;
  protected: boolean;
  redis: string;
  postgres: string;
  description: string;
}

async function profilesCommand(ctx: CommandContext): Promise<void> {
  const { activeProfileName } = await import('../../config/loader.js');
  const { describePostgresTarget, describeRedisTarget } = await import('../../config/display.js');
  const loaded = await ctx.config();
  const active = activeProfileName(loaded.config, { env: ctx.env, ...(ctx.globals.profile === undefined ? {} : { profile: ctx.globals.profile }) });
  const rows: ProfileRow[] = Object.entries(loaded.config.profiles).map(([name, profile]) => ({
    name,
    active: name === active,
    default: name === loaded.config.defaultProfile,
    protected: profile.protected,
    redis: describeRedisTarget(profile.redis),
    postgres: describePostgresTarget(profile.postgres),
    description: profile.description ?? '',
  }));
  const yes = (value: unknown) => (value === true ? 'yes' : '');
  const columns: Column<ProfileRow>[] = [
    { key: 'name', header: 'NAME', format: (value, row) => `${row.active ? '*' : ' '} ${String(value)}` },
    { key: 'default', header: 'DEFAULT', format: yes },
    { key: 'protected', header: 'PROTECTED', format: yes },
    { key: 'redis', header: 'REDIS' },
    { key: 'postgres', header: 'POSTGRES' },
  ];
  ctx.out.list(rows, ctx.out.machineReadable ? [...columns, { key: 'active' }, { key: 'description' }] : columns);
  if (rows.length === 0) ctx.out.message(`no profiles in ${await fileName(ctx, loaded.filepath)}`);
}

// ---- history / diff / rollback ---------------------------------------------------------------

async function historyCommand(ctx: CommandContext): Promise<void> {
  const { readConfigSource } = await import('../../config/loader.js');
  const { listHistory } = await import('../../config/history.js');
  const { formatBytes } = await import('../../core/parse.js');
  const source = await readConfigSource({ cwd: ctx.cwd, env: ctx.env, ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }) });
  const entries = (await listHistory(source.filepath)).reverse();
  ctx.out.list(entries, [
    { key: 'id', header: 'ID' },
    { key: 'when', header: 'WHEN' },
    { key: 'change', header: 'REPLACED BY' },
    { key: 'size', header: 'SIZE', format: (value) => formatBytes(Number(value)) },
    ...(ctx.out.machineReadable ? [{ key: 'command' as const }, { key: 'sha256' as const }, { key: 'file' as const }] : []),
  ]);
  if (entries.length === 0) ctx.out.message(`no history for ${await fileName(ctx, source.filepath)} yet: opsctl keeps the previous version on every write`);
}

async function diffCommand(ctx: CommandContext, from: string | undefined, to: string | undefined): Promise<void> {
  const { readConfigSource } = await import('../../config/loader.js');
  const history = await import('../../config/history.js');
  const { redactConfigText } = await import('../../config/display.js');
  const { readFile } = await import('node:fs/promises');
  const source = await readConfigSource({ cwd: ctx.cwd, env: ctx.env, ...(ctx.globals.config === undefined ? {} : { configPath: ctx.globals.config }) });
  const file = await fileName(ctx, source.filepath);

  const version = async (ref: string): Promise<{ label: string; id: string; text: string }> => {
    if (ref === 'current') return { label: file, id: 'current', text: source.text ?? (await readFile(source.filepath, 'utf8')) };
    const entry = await history.findHistoryEntry(source.filepath, ref);
    return { label: `${file}@${entry.id}`, id: entry.id, text: await history.readHistoryContent(source.filepath, entry) };
  };
  let fromRef = from;
  if (fromRef === undefined) {
    const last = (await history.listHistory(source.filepath)).at(-1);
    if (last === undefined) {
      throw new OpsError('CONFIG_HISTORY_UNKNOWN', `${file} has no history yet`, { hint: 'opsctl keeps the previous version on every write; nothing to compare' });
    }
    fromRef = last.id;
  }
  const a = await version(fromRef);
  const b = await version(to ?? 'current');
  const diff = history.unifiedDiff(a.label, b.label, redactConfigText(a.text, source.format), redactConfigText(b.text, source.format));
  if (ctx.out.machineReadable) {
    ctx.out.object({ from: a.id, to: b.id, identical: diff === '', diff });
  } else if (diff === '') {
    ctx.out.message(`no differences between ${a.id} and ${b.id}`);
  } else {
    ctx.out.text(diff);
  }
}

async function rollbackCommand(ctx: CommandContext, id: string): Promise<void> {
  const { readConfigSource } = await import('../../config/loader.js');
  const { findHistoryEntry } = await import('../../config/history.js');
  const { rollbackConfig } = await import('../../config/store.js');
  const target = storeTarget(ctx);
  const source = await readConfigSource(target);
  const entry = await findHistoryEntry(source.filepath, id);
  const file = await fileName(ctx, source.filepath);
  await ctx.confirm(`Replace ${file} with its version ${entry.id} (kept ${entry.when}, before "${entry.change}")?`);
  const result = await rollbackConfig({ ...target, command: 'config rollback', id: entry.id });
  if (ctx.out.machineReadable) {
    ctx.out.object({ file: result.filepath, restored: result.restored.id, changed: result.changed, history: result.history?.id ?? null });
  } else if (!result.changed) {
    ctx.out.message(`${file} already equals ${entry.id}: nothing written`);
  } else {
    ctx.out.message(`restored ${file} from ${entry.id}; the replaced version is kept as ${result.history?.id ?? '(none)'}`);
  }
}

// ---- migrate / schema ------------------------------------------------------------------------

async function migrateCommand(ctx: CommandContext, opts: { dryRun?: boolean }): Promise<void> {
  const { migrateConfigFile } = await import('../../config/store.js');
  const { unifiedDiff } = await import('../../config/history.js');
  const { redactConfigText } = await import('../../config/display.js');
  const dryRun = opts.dryRun === true;
  const result = await migrateConfigFile({ ...storeTarget(ctx), command: 'config migrate', dryRun });
  const file = await fileName(ctx, result.filepath);
  const diff = unifiedDiff(file, `${file} (version ${result.to})`, redactConfigText(result.before, result.format), redactConfigText(result.after, result.format));
  if (ctx.out.machineReadable) {
    ctx.out.object({
      file: result.filepath,
      from: result.from ?? null,
      to: result.to ?? null,
      steps: result.steps,
      dryRun,
      changed: result.changed,
      history: result.history?.id ?? null,
      diff,
    });
    return;
  }
  if (result.steps.length === 0) {
    ctx.out.message(`${file} is already at version ${result.to}: nothing to migrate`);
    return;
  }
  for (const step of result.steps) ctx.out.message(`migration ${step}`);
  if (dryRun) {
    ctx.out.text(diff);
    ctx.out.message(`dry run: ${file} would be migrated from version ${result.from} to ${result.to}; nothing written`);
  } else {
    ctx.out.message(
      `migrated ${file} from version ${result.from} to ${result.to}; the previous version is kept as ${result.history?.id} (\`opsctl config rollback ${result.history?.id}\` restores it)`,
    );
  }
}

async function schemaCommand(ctx: CommandContext, opts: { write?: string }): Promise<void> {
  const { jsonSchemaText, writeJsonSchema } = await import('../../config/json-schema.js');
  if (opts.write === undefined) {
    ctx.out.text(jsonSchemaText());
    return;
  }
  const written = await writeJsonSchema(opts.write, ctx.cwd);
  ctx.out.message(`${written.changed ? 'wrote' : 'unchanged:'} ${await fileName(ctx, written.filepath)}`);
}
