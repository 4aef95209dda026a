import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Document, YAMLMap, isCollection, isMap, isScalar, isSeq, parseDocument, type Pair, type Scalar, type YAMLSeq } from 'yaml';
import { OpsError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { findHistoryEntry, readHistoryContent, recordHistory, type HistoryEntry } from './history.js';
import { packageSchemaPath } from './json-schema.js';
import { analyseConfig, displayPath, findConfigSource, readConfigSource } from './loader.js';
import { migrateDocument, type MigrationResult } from './migrations.js';
import { formatKeyPath, getAtPath, isPlainObject, parseKeyPath } from './paths.js';
import { CONFIG_VERSION } from './schema.js';
import { formatOf, sourceFromText, type ConfigFormat, type ConfigSource } from './source.js';
import { readTemplate, type TemplateName } from './templates.js';
import { closest, formatProblem } from './validate.js';

/** Which configuration file to work on: `--config`, or the search from `cwd`. */
export interface StoreTarget {
  cwd: string;
  configPath?: string;
  env: NodeJS.ProcessEnv;
}

/** Recorded in the history entry of every write. */
export interface WriteOptions {
  /** The opsctl command making the change (`config set`). */
  command?: string;
  /** Milliseconds since the epoch (tests pass a fixed clock). */
  now?: number;
}

export interface WriteResult {
  filepath: string;
  /** False when the new content equals the old one (nothing written, no history). */
  changed: boolean;
  /** The history entry keeping the previous content, when there was one. */
  history: HistoryEntry | undefined;
}

// ---- editing one file ----------------------------------------------------------------------

/**
 * An editable view of a configuration file. YAML is edited through the yaml Document so that
 * comments, key order and quoting survive; JSON is edited as data and re-printed with 2 spaces.
 */
interface ConfigEditor {
  set(path: readonly string[], value: unknown): void;
  delete(path: readonly string[]): void;
  /** Replaces a whole profile, keeping the nodes (and comments) of keys that stay. */
  putProfile(name: string, profile: Record<string, unknown>): void;
  migrate(): MigrationResult;
  toText(): string;
}

function pathError(keyPath: readonly string[], upTo: number, message: string): OpsError {
  return new OpsError('CONFIG_PATH_UNKNOWN', `${formatKeyPath(keyPath.slice(0, upTo + 1))}: ${message}`, {
    hint: 'check the path with `opsctl config show`',
    details: { path: formatKeyPath(keyPath) },
  });
}

function listIndex(keyPath: readonly string[], i: number, length: number, allowAppend: boolean): number {
  const index = Number(keyPath[i]);
  const max = allowAppend ? length : length - 1;
  if (!/^\d+$/.test(keyPath[i]!) || index > max) {
    throw pathError(keyPath, i, `the list has ${length} item${length === 1 ? '' : 's'}: use an index from 0 to ${max}`);
  }
  return index;
}

class YamlEditor implements ConfigEditor {
  constructor(readonly doc: Document) {}

  private root(): YAMLMap {
    if (this.doc.contents === null || (isScalar(this.doc.contents) && this.doc.contents.value === null)) this.doc.contents = new YAMLMap();
    if (!isMap(this.doc.contents)) throw new OpsError('CONFIG_INVALID', 'the top level of the file is not a mapping');
    return this.doc.contents;
  }

  private child(node: YAMLMap | YAMLSeq, keyPath: readonly string[], i: number): unknown {
    return isSeq(node) ? node.items[listIndex(keyPath, i, node.items.length, true)] : node.get(keyPath[i], true);
  }

  /** The collection holding the last segment, creating missing (or empty) mappings on the way. */
  private parent(keyPath: readonly string[], create: boolean): YAMLMap | YAMLSeq {
    let node: YAMLMap | YAMLSeq = this.root();
    for (let i = 0; i < keyPath.length - 1; i += 1) {
      const next = this.child(node, keyPath, i);
      if (isCollection(next)) {
        node = next as YAMLMap | YAMLSeq;
        continue;
      }
      const empty = next === undefined || next === null || (isScalar(next) && next.value === null);
      if (!empty) throw pathError(keyPath, i, `holds ${isScalar(next) ? `a ${typeof next.value}` : 'a value'}, not a mapping`);
      if (!create) throw pathError(keyPath, i, 'is not set');
      const map = new YAMLMap();
      this.put(node, keyPath, i, map);
      node = map;
    }
    return node;
  }

  private put(node: YAMLMap | YAMLSeq, keyPath: readonly string[], i: number, value: unknown): void {
    if (isSeq(node)) node.set(listIndex(keyPath, i, node.items.length, true), value);
    else node.set(this.doc.createNode(keyPath[i]), value);
  }

  set(keyPath: readonly string[], value: unknown): void {
    const parent = this.parent(keyPath, true);
    const last = keyPath.length - 1;
    const existing = this.child(parent, keyPath, last);
    if (isScalar(existing) && isScalarValue(value)) {
      // Update in place: the comment on that line stays. A change of type drops the old quoting.
      if (typeof existing.value !== typeof value) existing.type = undefined;
      existing.value = value;
    } else {
      this.put(parent, keyPath, last, this.doc.createNode(value));
    }
  }

  delete(keyPath: readonly string[]): void {
    const parent = this.parent(keyPath, false);
    const last = keyPath.length - 1;
    if (isSeq(parent)) parent.delete(listIndex(keyPath, last, parent.items.length, false));
    else if (!parent.delete(keyPath[last])) throw pathError(keyPath, last, 'is not set');
  }

  putProfile(name: string, profile: Record<string, unknown>): void {
    const profiles = this.root().get('profiles', true);
    const existing = isMap(profiles) ? profiles.get(name, true) : undefined;
    if (isMap(existing)) assignMap(this.doc, existing, profile);
    else this.set(['profiles', name], profile);
  }

  migrate(): MigrationResult {
    return migrateDocument(this.doc);
  }

  toText(): string {
    return this.doc.toString();
  }
}

function isScalarValue(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** Makes a YAML mapping equal to `value`, reusing the nodes of keys that are kept. */
function assignMap(doc: Document, map: YAMLMap, value: Record<string, unknown>): void {
  const wanted = Object.entries(value).filter(([, item]) => item !== undefined);
  for (const pair of [...(map.items as Pair[])]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (!wanted.some(([k]) => k === key)) map.delete(pair.key);
  }
  for (const [key, item] of wanted) {
    const existing = map.get(key, true);
    if (isPlainObject(item) && isMap(existing)) assignMap(doc, existing, item);
    else if (isScalar(existing) && isScalarValue(item)) {
      if (typeof existing.value !== typeof item) existing.type = undefined;
      existing.value = item;
    } else map.set(doc.createNode(key), doc.createNode(item));
  }
}

class JsonEditor implements ConfigEditor {
  /** package.json keeps the configuration under `opsctl`; the rest of the file is untouched. */
  constructor(
    private readonly file: Record<string, unknown>,
    private readonly prefix: string | undefined,
  ) {}

  private root(): Record<string, unknown> {
    if (this.prefix === undefined) return this.file;
    const config = this.file[this.prefix];
    if (isPlainObject(config)) return config;
    const created: Record<string, unknown> = {};
    this.file[this.prefix] = created;
    return created;
  }

  private parent(keyPath: readonly string[], create: boolean): Record<string, unknown> | unknown[] {
    let node: Record<string, unknown> | unknown[] = this.root();
    for (let i = 0; i < keyPath.length - 1; i += 1) {
      const next: unknown = Array.isArray(node) ? node[listIndex(keyPath, i, node.length, true)] : node[keyPath[i]!];
      if (isPlainObject(next) || Array.isArray(next)) {
        node = next;
        continue;
      }
      if (next !== undefined && next !== null) throw pathError(keyPath, i, `holds a ${typeof next}, not a mapping`);
      if (!create) throw pathError(keyPath, i, 'is not set');
      const map: Record<string, unknown> = {};
      if (Array.isArray(node)) node[Number(keyPath[i])] = map;
      else node[keyPath[i]!] = map;
      node = map;
    }
    return node;
  }

  set(keyPath: readonly string[], value: unknown): void {
    const parent = this.parent(keyPath, true);
    const last = keyPath.length - 1;
    if (Array.isArray(parent)) parent[listIndex(keyPath, last, parent.length, true)] = value;
    else parent[keyPath[last]!] = value;
  }

  delete(keyPath: readonly string[]): void {
    const parent = this.parent(keyPath, false);
    const last = keyPath.length - 1;
    if (Array.isArray(parent)) parent.splice(listIndex(keyPath, last, parent.length, false), 1);
    else if (Object.hasOwn(parent, keyPath[last]!)) delete parent[keyPath[last]!];
    else throw pathError(keyPath, last, 'is not set');
  }

  putProfile(name: string, profile: Record<string, unknown>): void {
    this.set(['profiles', name], profile);
  }

  migrate(): MigrationResult {
    const doc = new Document(this.root());
    const result = migrateDocument(doc);
    if (result.applied.length > 0) {
      const migrated = doc.toJS() as Record<string, unknown>;
      if (this.prefix === undefined) {
        for (const key of Object.keys(this.file)) delete this.file[key];
        Object.assign(this.file, migrated);
      } else {
        this.file[this.prefix] = migrated;
      }
    }
    return result;
  }

  toText(): string {
    return `${JSON.stringify(this.file, null, 2)}\n`;
  }
}

function editorFor(source: ConfigSource): ConfigEditor {
  if (source.format === 'js' || source.text === undefined) throw readOnly(source.filepath);
  if (source.format === 'yaml') return new YamlEditor(parseDocument(source.text));
  const file = JSON.parse(source.text) as unknown;
  if (!isPlainObject(file)) throw new OpsError('CONFIG_INVALID', `${source.filepath}: the top level is not an object`);
  return new JsonEditor(file, source.format === 'package.json' ? 'opsctl' : undefined);
}

function readOnly(filepath: string): OpsError {
  return new OpsError('CONFIG_READ_ONLY', `${filepath} is a JS/TS module: opsctl does not edit code`, {
    hint: 'edit the file by hand, or move the configuration to opsctl.config.yaml',
    details: { file: filepath },
  });
}

// ---- validating and writing ----------------------------------------------------------------

/**
 * Refuses content that would not load: the whole file is re-validated (schema, version) before
 * anything is written. Unset `${env:NAME}` variables are not errors here: the machine editing
 * the file need not have every profile's secrets. With `baseline` (the source before an edit),
 * only errors the edit introduces count, so one problem can be fixed while another remains;
 * the number of errors left is returned.
 */
export function assertWritable(
  filepath: string,
  text: string,
  format: ConfigFormat,
  env: NodeJS.ProcessEnv,
  cwd: string,
  baseline?: ConfigSource,
): number {
  const errorsOf = (source: ConfigSource) => analyseConfig(source, env).problems.filter((p) => p.severity === 'error');
  const errors = errorsOf(sourceFromText(filepath, text, format));
  const known = new Set(baseline === undefined ? [] : errorsOf(baseline).map((p) => `${p.path}\n${p.message}`));
  const introduced = errors.filter((p) => !known.has(`${p.path}\n${p.message}`));
  if (introduced.length === 0) return errors.length;
  const file = displayPath(filepath, cwd);
  throw new OpsError(
    'CONFIG_INVALID',
    `not written: ${file} would have ${introduced.length} ${baseline === undefined ? '' : 'new '}problem${introduced.length === 1 ? '' : 's'}:\n${introduced
      .slice(0, 10)
      .map((p) => `  ${formatProblem(p, file)}`)
      .join('\n')}`,
    {
      hint: 'the file is unchanged; fix the value (`opsctl config schema` shows what is allowed)',
      details: { file: filepath, problems: introduced },
    },
  );
}

/**
 * Replaces a configuration file: keeps the previous content in the history, then writes the new
 * one atomically. Nothing happens when the content is unchanged.
 */
export async function commitConfigText(filepath: string, text: string, meta: { command: string; change: string; now?: number }): Promise<WriteResult> {
  const current = await readFile(filepath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (current === text) return { filepath, changed: false, history: undefined };
  const history =
    current === undefined ? undefined : await recordHistory(filepath, current, { command: meta.command, change: meta.change, now: meta.now ?? Date.now() });
  if (current === undefined) await mkdir(path.dirname(filepath), { recursive: true });
  await writeFileAtomic(filepath, text);
  return { filepath, changed: true, history };
}

async function editableSource(target: StoreTarget): Promise<ConfigSource> {
  const source = await readConfigSource(target);
  if (source.format === 'js') throw readOnly(source.filepath);
  return source;
}

// ---- the operations ------------------------------------------------------------------------

/**
 * Parses the text given to `config set`: YAML scalars become numbers, booleans or null;
 * `[…]`/`{…}` become lists and mappings; anything else stays the string it is (so
 * `Prod: main cluster` is not turned into a mapping).
 */
export function parseValueArgument(text: string, asString = false): unknown {
  if (asString) return text;
  const trimmed = text.trim();
  let parsed: unknown;
  try {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) return text;
    parsed = doc.toJS() as unknown;
  } catch {
    return text;
  }
  if (parsed === null && trimmed !== 'null' && trimmed !== '~') return text;
  if (parsed !== null && typeof parsed === 'object') return /^[[{]/.test(trimmed) ? parsed : text;
  return parsed;
}

export interface GetResult {
  filepath: string;
  value: unknown;
  /** `file`: written in the file; `default`: not written, the schema's default applies. */
  origin: 'file' | 'default';
}

/**
 * The value at a dotted path, as written in the file (`${env:NAME}` references unexpanded), or
 * the default the schema applies when the path is not written. CONFIG_PATH_UNKNOWN otherwise.
 */
export async function getConfigValue(target: StoreTarget, keyPathText: string): Promise<GetResult> {
  const keyPath = parseKeyPath(keyPathText);
  const source = await readConfigSource(target);
  const written = getAtPath(source.data, keyPath);
  if (written.found) return { filepath: source.filepath, value: written.value, origin: 'file' };
  const analysis = analyseConfig(source, target.env);
  if (analysis.config !== undefined) {
    const defaulted = getAtPath(analysis.config, keyPath);
    if (defaulted.found) return { filepath: source.filepath, value: defaulted.value, origin: 'default' };
  }
  const missingAt = written.missingAt;
  const parent = getAtPath(analysis.config ?? source.data, keyPath.slice(0, missingAt));
  const siblings = parent.found && isPlainObject(parent.value) ? Object.keys(parent.value) : [];
  const suggestion = closest(keyPath[missingAt]!, siblings);
  throw new OpsError('CONFIG_PATH_UNKNOWN', `${formatKeyPath(keyPath)} is not set in ${displayPath(source.filepath, target.cwd)}`, {
    hint:
      suggestion !== undefined
        ? `did you mean ${formatKeyPath([...keyPath.slice(0, missingAt), suggestion])}?`
        : siblings.length > 0
          ? `keys under ${formatKeyPath(keyPath.slice(0, missingAt))}: ${siblings.join(', ')}`
          : 'check the path with `opsctl config show`',
    details: { path: formatKeyPath(keyPath) },
  });
}

/**
 * Sets one value (`profiles.prod.redis.url`), validates the whole file (refusing any error the
 * change introduces), writes it atomically and keeps the previous version in the history.
 */
export async function setConfigValue(
  target: StoreTarget & WriteOptions & { path: string; value: unknown },
): Promise<WriteResult & { previous: unknown; remainingErrors: number }> {
  const keyPath = parseKeyPath(target.path);
  const source = await editableSource(target);
  const editor = editorFor(source);
  const previous = getAtPath(source.data, keyPath);
  editor.set(keyPath, target.value);
  const text = editor.toText();
  const remainingErrors = assertWritable(source.filepath, text, source.format, target.env, target.cwd, source);
  const result = await commitConfigText(source.filepath, text, {
    command: target.command ?? 'config set',
    change: `set ${formatKeyPath(keyPath)}`,
    now: target.now,
  });
  return { ...result, previous: previous.value, remainingErrors };
}

/** Removes one key (or list item), validates the whole file, writes it with history. */
export async function unsetConfigValue(target: StoreTarget & WriteOptions & { path: string }): Promise<WriteResult & { remainingErrors: number }> {
  const keyPath = parseKeyPath(target.path);
  const source = await editableSource(target);
  const editor = editorFor(source);
  editor.delete(keyPath);
  const text = editor.toText();
  const remainingErrors = assertWritable(source.filepath, text, source.format, target.env, target.cwd, source);
  const result = await commitConfigText(source.filepath, text, {
    command: target.command ?? 'config unset',
    change: `unset ${formatKeyPath(keyPath)}`,
    now: target.now,
  });
  return { ...result, remainingErrors };
}

/** `$schema` value for a new file: the package's schema, relative when it sits below the file. */
export function schemaReference(configDir: string): string {
  const schema = packageSchemaPath();
  const relative = path.relative(configDir, schema);
  return relative.startsWith('..') || path.isAbsolute(relative) ? schema : `./${relative.split(path.sep).join('/')}`;
}

const NEW_FILE_COMMENT = ' opsctl configuration: docs/configuration.md describes every key.\n Check it with `opsctl config validate`; secrets belong in ${env:NAME} references.';

/**
 * Creates or replaces one profile (used by `opsctl dev up`). Without a configuration file, creates
 * `opsctl.config.yaml` in `cwd` (or the `configPath` file) with this profile as the default;
 * otherwise sets `profiles.<name>`, keeping the rest of the file and its comments. Validates
 * before writing; writes atomically; keeps the previous file in the history.
 */
export async function upsertProfile(options: {
  cwd: string;
  configPath?: string;
  env: NodeJS.ProcessEnv;
  name: string;
  profile: Record<string, unknown>;
  command?: string;
  now?: number;
}): Promise<{ filepath: string; created: boolean }> {
  const explicit = options.configPath === undefined ? undefined : path.resolve(options.cwd, options.configPath);
  const exists = explicit === undefined ? undefined : await stat(explicit).then(() => true, () => false);
  const source = explicit !== undefined && !exists ? undefined : await findConfigSource(options);
  const command = options.command ?? 'dev up';

  if (source === undefined) {
    const filepath = explicit ?? path.join(options.cwd, 'opsctl.config.yaml');
    const format = formatOf(filepath);
    if (format === 'js') throw readOnly(filepath);
    const data = {
      $schema: schemaReference(path.dirname(filepath)),
      version: CONFIG_VERSION,
      defaultProfile: options.name,
      profiles: { [options.name]: options.profile },
    };
    let text: string;
    if (format === 'yaml') {
      const doc = new Document(data);
      doc.commentBefore = NEW_FILE_COMMENT;
      text = doc.toString();
    } else {
      text = `${JSON.stringify(format === 'package.json' ? { opsctl: data } : data, null, 2)}\n`;
    }
    assertWritable(filepath, text, format, options.env, options.cwd);
    await commitConfigText(filepath, text, { command, change: `create with profile ${options.name}`, now: options.now });
    return { filepath, created: true };
  }

  if (source.format === 'js') throw readOnly(source.filepath);
  const editor = editorFor(source);
  const version = isPlainObject(source.data) ? source.data.version : undefined;
  if (typeof version === 'number' && version < CONFIG_VERSION) {
    throw new OpsError('CONFIG_MIGRATION', `${displayPath(source.filepath, options.cwd)} is written for configuration version ${version}`, {
      hint: 'run `opsctl config migrate` first (the current file is kept in the history)',
    });
  }
  editor.putProfile(options.name, options.profile);
  const text = editor.toText();
  assertWritable(source.filepath, text, source.format, options.env, options.cwd, source);
  await commitConfigText(source.filepath, text, { command, change: `upsert profile ${options.name}`, now: options.now });
  return { filepath: source.filepath, created: false };
}

export interface InitOptions extends WriteOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  template: TemplateName;
  /** Where to write (default `opsctl.config.yaml` in cwd); `.json` writes JSON (without comments). */
  path?: string;
  force?: boolean;
  redisUrl?: string;
  postgresUrl?: string;
}

/**
 * Where `config init` would write, failing with CONFIG_EXISTS when the file exists and `force`
 * is not given (checked before any question is asked).
 */
export async function assertInitTarget(options: { cwd: string; path?: string; force?: boolean }): Promise<{ filepath: string; format: ConfigFormat; exists: boolean }> {
  const filepath = path.resolve(options.cwd, options.path ?? 'opsctl.config.yaml');
  const format = formatOf(filepath);
  if (format === 'js') throw readOnly(filepath);
  const exists = await stat(filepath).then(() => true, () => false);
  if (exists && options.force !== true) {
    throw new OpsError('CONFIG_EXISTS', `${displayPath(filepath, options.cwd)} already exists`, {
      hint: 'pass --force to replace it (the current file is kept in the history), or --path to write elsewhere',
      details: { file: filepath },
    });
  }
  return { filepath, format, exists };
}

/** The profile a template makes the default, and the URLs it ships with (for prompts). */
export async function templateDefaults(template: TemplateName): Promise<{ profile: string; redisUrl?: string; postgresUrl?: string }> {
  const doc = parseDocument(await readTemplate(template));
  const profile = defaultProfileOf(doc);
  const redisUrl = doc.getIn(['profiles', profile, 'redis', 'url']);
  const postgresUrl = doc.getIn(['profiles', profile, 'postgres', 'url']);
  return {
    profile,
    ...(typeof redisUrl === 'string' ? { redisUrl } : {}),
    ...(typeof postgresUrl === 'string' ? { postgresUrl } : {}),
  };
}

function defaultProfileOf(doc: Document): string {
  const declared = doc.get('defaultProfile');
  if (typeof declared === 'string') return declared;
  const profiles = doc.get('profiles', true);
  const first = isMap(profiles) ? (profiles.items[0] as Pair | undefined) : undefined;
  return String(isScalar(first?.key) ? first.key.value : (first?.key ?? 'default'));
}

/** `config init`: writes a template (with the URLs given) as a new configuration file. */
export async function initConfig(options: InitOptions): Promise<{ filepath: string; template: TemplateName; replaced: boolean; profile: string; history: HistoryEntry | undefined }> {
  const { filepath, format, exists } = await assertInitTarget(options);
  const doc = parseDocument(await readTemplate(options.template));
  const profile = defaultProfileOf(doc);
  for (const [section, url] of [['redis', options.redisUrl], ['postgres', options.postgresUrl]] as const) {
    if (url === undefined) continue;
    if (!doc.hasIn(['profiles', profile, section, 'url'])) {
      throw new OpsError('USAGE', `the ${options.template} template does not configure ${section} by URL`, {
        hint: `edit profiles.${profile}.${section} in the file after \`config init\`, or choose another template`,
      });
    }
    doc.setIn(['profiles', profile, section, 'url'], url);
  }
  if (isMap(doc.contents)) insertSchemaReference(doc, doc.contents as YAMLMap, schemaReference(path.dirname(filepath)));
  const text = format === 'yaml' ? doc.toString() : `${JSON.stringify(format === 'package.json' ? { opsctl: doc.toJS() } : doc.toJS(), null, 2)}\n`;
  assertWritable(filepath, text, format, options.env, options.cwd);
  const result = await commitConfigText(filepath, text, {
    command: options.command ?? 'config init',
    change: `init from template ${options.template}`,
    now: options.now,
  });
  return { filepath, template: options.template, replaced: exists, profile, history: result.history };
}

/** Puts `$schema` first, where editors and readers look for it, below the file's header comment. */
function insertSchemaReference(doc: Document, root: YAMLMap, reference: string): void {
  const pair = doc.createPair('$schema', reference);
  const first = root.items[0] as Pair | undefined;
  if (first !== undefined && isScalar(first.key) && first.key.commentBefore !== undefined) {
    (pair.key as Scalar).commentBefore = first.key.commentBefore;
    first.key.commentBefore = undefined;
  }
  root.items.unshift(pair);
}

/** `config rollback`: restores a history entry (after keeping the current file in the history). */
export async function rollbackConfig(target: StoreTarget & WriteOptions & { id: string }): Promise<WriteResult & { restored: HistoryEntry }> {
  const source = await editableSource(target);
  const entry = await findHistoryEntry(source.filepath, target.id);
  const content = await readHistoryContent(source.filepath, entry);
  assertWritable(source.filepath, content, source.format, target.env, target.cwd);
  const result = await commitConfigText(source.filepath, content, {
    command: target.command ?? 'config rollback',
    change: `rollback to ${entry.id}`,
    now: target.now,
  });
  return { ...result, restored: entry };
}

export interface MigrateResult extends WriteResult {
  format: ConfigFormat;
  from: number | undefined;
  to: number | undefined;
  /** One line per migration step applied. */
  steps: string[];
  before: string;
  after: string;
}

/**
 * `config migrate`: upgrades the file to the current version (comments kept in YAML). With
 * `dryRun` nothing is written; the caller shows the difference between `before` and `after`.
 */
export async function migrateConfigFile(target: StoreTarget & WriteOptions & { dryRun?: boolean }): Promise<MigrateResult> {
  const source = await editableSource(target);
  const editor = editorFor(source);
  const migration = editor.migrate();
  const before = source.text ?? '';
  const base = { format: source.format, from: migration.from, to: migration.to, steps: migration.applied.map((m) => `${m.from} → ${m.to}: ${m.describe}`), before };
  if (migration.from === undefined) {
    throw new OpsError('CONFIG_MIGRATION', `${displayPath(source.filepath, target.cwd)} has no numeric \`version:\``, {
      hint: `add \`version: ${CONFIG_VERSION}\` (or the version the file was written for) at the top`,
    });
  }
  if (migration.applied.length === 0) return { ...base, after: before, filepath: source.filepath, changed: false, history: undefined };
  const after = editor.toText();
  assertWritable(source.filepath, after, source.format, target.env, target.cwd);
  if (target.dryRun === true) return { ...base, after, filepath: source.filepath, changed: false, history: undefined };
  const result = await commitConfigText(source.filepath, after, {
    command: target.command ?? 'config migrate',
    change: `migrate version ${migration.from} → ${migration.to}`,
    now: target.now,
  });
  return { ...base, after, ...result };
}
