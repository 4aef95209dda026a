import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cosmiconfig, defaultLoaders, type Loader } from 'cosmiconfig';
import { OpsError, isOpsError } from '../core/errors.js';
import { secrets } from '../core/redact.js';
import { silentTracer, type Tracer } from '../core/trace.js';
import { hasEnvReference, interpolateEnv, registerSecrets, type EnvReference } from './interpolate.js';
import { migrateData, type MigrationResult } from './migrations.js';
import { formatKeyPath, isPlainObject, pathStartsWith, type PathSegment } from './paths.js';
import type { OpsConfig, ProfileConfig } from './schema.js';
import { formatOf, sourceFromModule, sourceFromText, type ConfigFormat, type ConfigSource } from './source.js';
import { closest, formatProblem, sortProblems, validateConfigData, type ConfigProblem } from './validate.js';
import { SEARCH_PLACES } from './search-places.js';

/** The configuration file found, parsed, migrated in memory, interpolated and validated. */
export interface LoadedConfig {
  filepath: string;
  format: ConfigFormat;
  /**
   * Validated, defaults applied, `${env:NAME}` replaced where NAME is set. References to unset
   * variables stay literal here and are listed in `references`; `selectProfile` refuses a
   * profile that still holds one.
   */
  config: OpsConfig;
  /** The configuration as written, before migration and interpolation. */
  raw: unknown;
  /** Things the operator should fix but that do not stop the command (a migration is due). */
  warnings: string[];
  /** Every `${env:NAME}` found, with whether it was set. */
  references: EnvReference[];
}

export interface SelectedProfile {
  name: string;
  profile: ProfileConfig;
  filepath: string;
}

export interface LoadOptions {
  /** `--config <path>`: exactly this file. */
  configPath?: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  tracer?: Tracer;
}

export { SEARCH_PLACES };

/** Relative to the working directory when the file is below it: shorter in messages. */
export function displayPath(filepath: string, cwd: string): string {
  const relative = path.relative(cwd, filepath);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : filepath;
}

/**
 * Finds and parses the configuration file: `configPath` when given (it must exist), otherwise
 * the first file of SEARCH_PLACES in `cwd`, then in each parent up to the home directory or the
 * filesystem root. Throws CONFIG_NOT_FOUND or CONFIG_PARSE (with `file:line:col`).
 */
export async function readConfigSource(options: LoadOptions): Promise<ConfigSource> {
  const source = await findConfigSource(options);
  if (source !== undefined) return source;
  throw new OpsError('CONFIG_NOT_FOUND', `no opsctl configuration found in ${options.cwd} or its parent directories`, {
    hint: 'create one with `opsctl config init` (or `opsctl dev up` for a local stack), or pass --config <path>',
    details: { cwd: options.cwd, searched: SEARCH_PLACES },
  });
}

/** Like readConfigSource, but undefined when the search finds nothing (an explicit path must exist). */
export async function findConfigSource(options: LoadOptions): Promise<ConfigSource | undefined> {
  const tracer = options.tracer ?? silentTracer;
  const started = performance.now();
  const parsed = new Map<string, ConfigSource>();
  // YAML and JSON are parsed here rather than by cosmiconfig so that syntax errors carry
  // line:column and key paths can be traced back to positions.
  const textLoader: Loader = (filepath, content) => {
    const source = sourceFromText(filepath, content);
    parsed.set(filepath, source);
    return source.format === 'package.json' ? { opsctl: source.data } : source.data;
  };
  const explorer = cosmiconfig('opsctl', {
    searchPlaces: [...SEARCH_PLACES],
    searchStrategy: 'none',
    cache: false,
    loaders: { ...defaultLoaders, '.json': textLoader, '.yaml': textLoader, '.yml': textLoader, noExt: textLoader, default: textLoader },
  });

  const toSource = async (filepath: string, config: unknown): Promise<ConfigSource> => {
    const source =
      parsed.get(filepath) ??
      (formatOf(filepath) === 'js' ? sourceFromModule(filepath, config) : sourceFromText(filepath, await readFile(filepath, 'utf8')));
    tracer.record('config', `loaded ${source.filepath} (${source.format})`, performance.now() - started);
    return source;
  };

  if (options.configPath !== undefined) {
    const filepath = path.resolve(options.cwd, options.configPath);
    const info = await stat(filepath).catch(() => undefined);
    if (info === undefined || !info.isFile()) {
      throw new OpsError('CONFIG_NOT_FOUND', `configuration file ${filepath} ${info === undefined ? 'does not exist' : 'is not a file'}`, {
        hint: 'check the --config path, or create the file with `opsctl config init --path <file>`',
        details: { file: filepath },
      });
    }
    const result = await explorer.load(filepath).catch((error: unknown) => rethrowLoadError(filepath, error));
    return toSource(filepath, result?.config);
  }

  for (const dir of searchDirectories(options.cwd, options.env)) {
    const result = await explorer.search(dir).catch((error: unknown) => rethrowLoadError(errorFile(error) ?? dir, error));
    if (result !== null && !result.isEmpty) return toSource(result.filepath, result.config);
  }
  tracer.record('config', `no configuration file from ${options.cwd} upward`, performance.now() - started);
  return undefined;
}

/** `cwd`, then each parent, up to and including the home directory, or up to the root. */
export function searchDirectories(cwd: string, env: NodeJS.ProcessEnv): string[] {
  const home = path.resolve(env.HOME ?? os.homedir());
  const dirs: string[] = [];
  let dir = path.resolve(cwd);
  for (;;) {
    dirs.push(dir);
    const parent = path.dirname(dir);
    if (dir === home || parent === dir) return dirs;
    dir = parent;
  }
}

function errorFile(error: unknown): string | undefined {
  const file = (error as { filepath?: unknown } | null)?.filepath;
  return typeof file === 'string' ? file : undefined;
}

function rethrowLoadError(filepath: string, error: unknown): never {
  if (isOpsError(error)) throw error;
  const message = error instanceof Error ? error.message : String(error);
  throw new OpsError('CONFIG_PARSE', `${filepath}: ${message.split('\n')[0]}`, {
    hint: /typescript/i.test(message)
      ? 'TypeScript configuration needs the `typescript` package installed; or write opsctl.config.yaml instead'
      : 'fix the file so that it loads, then run `opsctl config validate`',
    cause: error,
    details: { file: filepath },
  });
}

/** Everything known about a configuration file, without throwing on its problems. */
export interface ConfigAnalysis {
  source: ConfigSource;
  migration: MigrationResult | undefined;
  /** After the in-memory migration, before interpolation. */
  data: unknown;
  /** Validated configuration; undefined when there is an error. */
  config: OpsConfig | undefined;
  references: EnvReference[];
  /** Errors and warnings, in file order. */
  problems: ConfigProblem[];
}

export interface AnalyseOptions {
  /**
   * The profile about to be used: its unset `${env:NAME}` variables are errors. Without it they
   * are warnings, since each machine usually has only its own profile's variables.
   */
  strictProfile?: string;
}

/**
 * Migrates (in memory), interpolates and validates one parsed file and reports every problem:
 * schema errors, unset or malformed `${env:NAME}` references, literal secrets, a due migration.
 * Registers every secret value found so it is redacted from then on.
 */
export function analyseConfig(source: ConfigSource, env: NodeJS.ProcessEnv, options: AnalyseOptions = {}): ConfigAnalysis {
  const problems: ConfigProblem[] = [];
  const problem = (p: Omit<ConfigProblem, 'file' | 'line' | 'column' | 'path'>, at: PathSegment[], target: 'key' | 'value' = 'value', locate = true) => {
    const position = locate ? source.locate(at, target) : undefined;
    problems.push({ ...p, file: source.filepath, ...(position ? { line: position.line, column: position.column } : {}), path: formatKeyPath(at) });
  };
  const result: ConfigAnalysis = { source, migration: undefined, data: source.data, config: undefined, references: [], problems };

  if (source.data === undefined || source.data === null) {
    problem({ severity: 'error', kind: 'schema', message: 'the file is empty (expected a mapping with `version: 2` and `profiles:`)' }, []);
    return result;
  }

  try {
    const migrated = migrateData(source.data);
    result.migration = migrated;
    result.data = migrated.data;
    if (migrated.applied.length > 0) {
      problem(
        {
          severity: 'warning',
          kind: 'version',
          message: `written for configuration version ${migrated.from}; it is migrated in memory to ${migrated.to}: run \`opsctl config migrate\` to upgrade the file`,
        },
        ['version'],
      );
    }
  } catch (error) {
    if (!isOpsError(error) || error.code !== 'CONFIG_MIGRATION') throw error;
    problem({ severity: 'error', kind: 'version', message: error.message }, ['version']);
    return result;
  }
  // Positions come from the file as written; after a migration the key paths no longer match it.
  const positions = result.migration?.applied.length === 0;

  const interpolated = interpolateEnv(result.data, env);
  result.references = interpolated.references;
  registerSecrets(interpolated.value, secrets);

  const validation = validateConfigData(interpolated.value, positions ? source : { filepath: source.filepath, locate: () => undefined });
  problems.push(...validation.problems);
  result.config = validation.config;

  const strictPrefix = options.strictProfile === undefined ? undefined : ['profiles', options.strictProfile];
  for (const reference of interpolated.references) {
    if (!reference.valid) {
      problem(
        { severity: 'error', kind: 'env', message: `invalid reference \${env:${reference.variable}}: variable names are letters, digits and "_"` },
        reference.path,
        'value',
        positions,
      );
    } else if (!reference.set) {
      const strict = strictPrefix !== undefined && (pathStartsWith(reference.path, strictPrefix) || !pathStartsWith(reference.path, ['profiles']));
      problem(
        { severity: strict ? 'error' : 'warning', kind: 'env', message: `environment variable ${reference.variable} is not set`, expected: `${reference.variable} set in the environment` },
        reference.path,
        'value',
        positions,
      );
    }
  }
  for (const at of literalSecrets(result.data)) {
    problem(
      { severity: 'warning', kind: 'secret', message: 'a secret is written literally in the file; write "${env:NAME}" and export NAME instead' },
      at,
      'value',
      positions,
    );
  }
  result.problems = sortProblems(problems);
  return result;
}

const SECRET_VALUE_KEYS = /^(password|passphrase|secret|token)$/i;
const URL_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:([^@/\s]+)@/i;

/** Key paths whose value is a secret written in clear (not a `${env:NAME}` reference). */
function literalSecrets(data: unknown, at: PathSegment[] = []): PathSegment[][] {
  if (typeof data === 'string') {
    const key = at.at(-1);
    if (typeof key === 'string' && SECRET_VALUE_KEYS.test(key) && data !== '' && !hasEnvReference(data)) return [at];
    const password = URL_WITH_PASSWORD.exec(data)?.[1];
    return password !== undefined && !hasEnvReference(password) ? [at] : [];
  }
  if (Array.isArray(data)) return data.flatMap((item, i) => literalSecrets(item, [...at, i]));
  if (isPlainObject(data)) return Object.entries(data).flatMap(([key, value]) => literalSecrets(value, [...at, key]));
  return [];
}

/**
 * Loads the configuration for a command: finds the file, migrates it in memory when it is
 * older, interpolates `${env:NAME}`, validates it and registers its secrets for redaction.
 * Throws CONFIG_NOT_FOUND, CONFIG_PARSE, CONFIG_MIGRATION or CONFIG_INVALID (exit 2); the last
 * carries every problem in `details.problems`.
 */
export async function loadConfig(options: LoadOptions): Promise<LoadedConfig> {
  const source = await readConfigSource(options);
  const started = performance.now();
  const analysis = analyseConfig(source, options.env);
  const errors = analysis.problems.filter((p) => p.severity === 'error');
  const file = displayPath(source.filepath, options.cwd);
  const versionError = errors.find((p) => p.kind === 'version');
  if (versionError !== undefined) {
    throw new OpsError('CONFIG_MIGRATION', `${file}: ${versionError.message}`, {
      hint: 'upgrade opsctl, or fix the `version:` key',
      details: { file: source.filepath, problems: [versionError] },
    });
  }
  if (errors.length > 0 || analysis.config === undefined) {
    const shown = errors.slice(0, 10).map((p) => `  ${formatProblem(p, file)}`);
    if (errors.length > shown.length) shown.push(`  … and ${errors.length - shown.length} more`);
    throw new OpsError('CONFIG_INVALID', `${file} has ${errors.length} problem${errors.length === 1 ? '' : 's'}:\n${shown.join('\n')}`, {
      hint: 'fix the keys named above; `opsctl config validate` lists every problem, `opsctl config schema` prints the schema',
      details: { file: source.filepath, problems: errors },
    });
  }
  options.tracer?.record(
    'config',
    `validated ${source.filepath}: ${Object.keys(analysis.config.profiles).length} profiles, ${analysis.references.length} env references`,
    performance.now() - started,
  );
  const warnings = analysis.problems.filter((p) => p.kind === 'version' && p.severity === 'warning').map((p) => `${file}: ${p.message}`);
  return { filepath: source.filepath, format: source.format, config: analysis.config, raw: source.data, warnings, references: analysis.references };
}

/** Where the profile name came from, for messages. */
type ProfileOrigin = '--profile' | 'OPSCTL_PROFILE' | 'defaultProfile';

/**
 * Chooses the profile: `--profile`, then `OPSCTL_PROFILE`, then `defaultProfile`, then the only
 * profile when there is exactly one. Fails with CONFIG_PROFILE_UNKNOWN (listing the known
 * profiles) or, when the profile still references unset variables, CONFIG_ENV_UNSET naming them.
 */
export function selectProfile(config: LoadedConfig, options: { profile?: string; env: NodeJS.ProcessEnv }): SelectedProfile {
  const names = Object.keys(config.config.profiles);
  const known = names.length > 0 ? names.join(', ') : 'none';
  let name: string | undefined;
  let origin: ProfileOrigin | undefined;
  if (options.profile !== undefined && options.profile !== '') [name, origin] = [options.profile, '--profile'];
  else if (options.env.OPSCTL_PROFILE !== undefined && options.env.OPSCTL_PROFILE !== '') [name, origin] = [options.env.OPSCTL_PROFILE, 'OPSCTL_PROFILE'];
  else if (config.config.defaultProfile !== undefined) [name, origin] = [config.config.defaultProfile, 'defaultProfile'];
  else if (names.length === 1) name = names[0];

  if (name === undefined) {
    throw new OpsError(
      'CONFIG_PROFILE_UNKNOWN',
      names.length === 0 ? `${config.filepath} defines no profiles` : `no profile selected: ${config.filepath} defines ${names.length} profiles (${known})`,
      {
        hint:
          names.length === 0
            ? 'add one under `profiles:` (or run `opsctl dev up` for a local one)'
            : `pass --profile <name>, set OPSCTL_PROFILE, or set defaultProfile in the file; profiles: ${known}`,
        details: { profiles: names },
      },
    );
  }
  const profile = config.config.profiles[name];
  if (profile === undefined || !Object.hasOwn(config.config.profiles, name)) {
    const suggestion = closest(name, names);
    throw new OpsError('CONFIG_PROFILE_UNKNOWN', `profile "${name}" (from ${origin ?? 'the configuration'}) is not defined in ${config.filepath}`, {
      hint: `${suggestion === undefined ? '' : `did you mean "${suggestion}"? `}known profiles: ${known}`,
      details: { profile: name, profiles: names },
    });
  }
  const unset = config.references.filter((ref) => !ref.set && ref.valid && pathStartsWith(ref.path, ['profiles', name]));
  if (unset.length > 0) {
    const variables = [...new Set(unset.map((ref) => ref.variable))];
    const paths = unset.map((ref) => formatKeyPath(ref.path));
    throw new OpsError(
      'CONFIG_ENV_UNSET',
      `environment variable${variables.length === 1 ? '' : 's'} ${variables.join(', ')} ${variables.length === 1 ? 'is' : 'are'} not set (needed by ${paths.join(', ')})`,
      {
        hint: `export ${variables.map((v) => `${v}=…`).join(' ')} before running opsctl with profile "${name}"`,
        details: { profile: name, variables, paths },
      },
    );
  }
  return { name, profile, filepath: config.filepath };
}

/** The profile that would be selected, or undefined when the choice is ambiguous or unknown. */
export function activeProfileName(config: OpsConfig, options: { profile?: string; env: NodeJS.ProcessEnv }): string | undefined {
  const names = Object.keys(config.profiles);
  const name = options.profile || options.env.OPSCTL_PROFILE || config.defaultProfile || (names.length === 1 ? names[0] : undefined);
  return name !== undefined && names.includes(name) ? name : undefined;
}

/** What `config validate` reports: the file (when one was found) and all its problems. */
export interface ConfigInspection {
  filepath: string;
  format: ConfigFormat | undefined;
  problems: ConfigProblem[];
  profiles: string[];
  analysis: ConfigAnalysis | undefined;
}

/**
 * `config validate`: like loadConfig, but a syntax error, a schema error or an unknown profile
 * becomes a problem in the list instead of an exception. Only a missing file throws.
 */
export async function inspectConfig(options: LoadOptions & { profile?: string }): Promise<ConfigInspection> {
  let source: ConfigSource;
  try {
    source = await readConfigSource(options);
  } catch (error) {
    if (!isOpsError(error) || error.code !== 'CONFIG_PARSE') throw error;
    const details = (error.details ?? {}) as { file?: string; line?: number; column?: number; reason?: string };
    const file = details.file ?? options.configPath ?? options.cwd;
    return {
      filepath: file,
      format: undefined,
      profiles: [],
      analysis: undefined,
      problems: [
        {
          severity: 'error',
          kind: 'syntax',
          file,
          ...(details.line === undefined ? {} : { line: details.line, column: details.column ?? 1 }),
          path: '(root)',
          message: details.reason ?? error.message,
        },
      ],
    };
  }
  const strictProfile = options.profile || options.env.OPSCTL_PROFILE || undefined;
  const analysis = analyseConfig(source, options.env, strictProfile === undefined ? {} : { strictProfile });
  const data = analysis.data;
  const profiles = isPlainObject(data) && isPlainObject(data.profiles) ? Object.keys(data.profiles) : [];
  const problems = [...analysis.problems];
  if (strictProfile !== undefined && !profiles.includes(strictProfile)) {
    const suggestion = closest(strictProfile, profiles);
    problems.push({
      severity: 'error',
      kind: 'profile',
      file: source.filepath,
      path: `profiles.${strictProfile}`,
      message: `profile "${strictProfile}" is not defined${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}; profiles: ${profiles.join(', ') || 'none'}`,
    });
  }
  return { filepath: source.filepath, format: source.format, problems, profiles, analysis };
}
