import { Document, Pair, Scalar, YAMLMap, isMap, isScalar } from 'yaml';
import { OpsError } from '../core/errors.js';
import { isPlainObject } from './paths.js';
import { CONFIG_VERSION } from './schema.js';

/**
 * One step between two schema versions. Migrations work on the yaml Document rather than on
 * plain data so that comments, key order and scalar styles of the operator's file survive;
 * JSON and JS configuration is wrapped in a Document for the same code path.
 */
export interface Migration {
  from: number;
  to: number;
  /** One line for `opsctl config migrate` and the history. */
  describe: string;
  migrate(doc: Document): void;
}

function keyOf(pair: Pair): string {
  return String(isScalar(pair.key) ? pair.key.value : pair.key);
}

function findPair(map: YAMLMap, key: string): Pair | undefined {
  return (map.items as Pair[]).find((pair) => keyOf(pair) === key);
}

function takePair(map: YAMLMap, key: string): Pair | undefined {
  const index = (map.items as Pair[]).findIndex((pair) => keyOf(pair) === key);
  return index === -1 ? undefined : (map.items.splice(index, 1)[0] as Pair);
}

/** Renames a key in place: the key node keeps its comments. */
function renameKey(map: YAMLMap, from: string, to: string): void {
  const pair = findPair(map, from);
  if (pair === undefined || findPair(map, to) !== undefined) return;
  if (isScalar(pair.key)) pair.key.value = to;
  else pair.key = new Scalar(to);
}

/** Copies the keys of a v1 top-level section that an environment does not set itself. */
function inheritSection(profile: YAMLMap, base: Pair): void {
  const copy = (pair: Pair): Pair => {
    const clone = pair.clone();
    // The blank line that separated top-level sections would split the profile oddly.
    if (isScalar(clone.key)) clone.key.spaceBefore = false;
    return clone;
  };
  const own = findPair(profile, keyOf(base));
  if (own === undefined) {
    profile.items.push(copy(base));
    return;
  }
  if (!isMap(own.value) || !isMap(base.value)) return;
  for (const item of base.value.items as Pair[]) {
    if (findPair(own.value, keyOf(item)) === undefined) own.value.items.push(copy(item));
  }
}

function renameV1Keys(profile: YAMLMap, doc: Document): void {
  const redis = findPair(profile, 'redis')?.value;
  if (isMap(redis)) {
    renameKey(redis, 'prefix', 'keyPrefix');
    renameKey(redis, 'timeout', 'connectTimeout');
  }
  const postgres = findPair(profile, 'postgres')?.value;
  if (isMap(postgres)) {
    const poolSize = takePair(postgres, 'poolSize');
    if (poolSize !== undefined) {
      let pool = findPair(postgres, 'pool');
      if (pool === undefined) {
        pool = new Pair(isScalar(poolSize.key) ? Object.assign(poolSize.key, { value: 'pool' }) : new Scalar('pool'), new YAMLMap());
        postgres.items.push(pool);
      }
      if (isMap(pool.value) && findPair(pool.value, 'max') === undefined) {
        pool.value.items.push(new Pair(doc.createNode('max'), poolSize.value));
      }
    }
  }
}

/**
 * Version 1 had one target at the top level (`redis:`, `postgres:`) and optional
 * `environments: { <name>: { redis, postgres } }` inheriting from it, selected by
 * `defaultEnvironment`. Version 2 has named `profiles` and `defaultProfile`.
 */
const v1ToV2: Migration = {
  from: 1,
  to: 2,
  describe:
    'top-level redis/postgres and environments become profiles (defaultEnvironment → defaultProfile); ' +
    'redis.prefix → keyPrefix, redis.timeout → connectTimeout, postgres.poolSize → pool.max',
  migrate(doc) {
    const root = doc.contents;
    if (!isMap(root)) throw new OpsError('CONFIG_MIGRATION', 'cannot migrate: the top level of the file is not a mapping');
    const v1Keys = ['redis', 'postgres', 'environments', 'defaultEnvironment'];
    const firstIndex = (root.items as Pair[]).findIndex((pair) => v1Keys.includes(keyOf(pair)));
    const baseSections = [takePair(root, 'redis'), takePair(root, 'postgres')].filter((pair) => pair !== undefined);
    const environments = takePair(root, 'environments');
    const defaultEnvironment = takePair(root, 'defaultEnvironment');

    const profiles = new YAMLMap();
    let defaultProfile: Pair | undefined;
    if (environments !== undefined && isMap(environments.value)) {
      for (const env of environments.value.items as Pair[]) {
        const profile = isMap(env.value) ? env.value : new YAMLMap();
        env.value = profile;
        for (const base of baseSections) inheritSection(profile, base);
        profiles.items.push(env);
      }
      if (defaultEnvironment !== undefined) {
        defaultProfile = defaultEnvironment;
        if (isScalar(defaultProfile.key)) defaultProfile.key.value = 'defaultProfile';
        else defaultProfile.key = new Scalar('defaultProfile');
      }
    } else {
      profiles.items.push(new Pair(doc.createNode('default'), new YAMLMap()));
      const profile = (profiles.items[0] as Pair).value as YAMLMap;
      profile.items.push(...baseSections);
      defaultProfile = new Pair(doc.createNode('defaultProfile'), doc.createNode('default'));
    }
    for (const pair of profiles.items as Pair[]) renameV1Keys(pair.value as YAMLMap, doc);

    // `environments:` becomes `profiles:`; its key node (and the comment above it) is reused.
    const profilesKey = isScalar(environments?.key) ? Object.assign(environments.key, { value: 'profiles' }) : doc.createNode('profiles');
    const added = [defaultProfile, new Pair(profilesKey, profiles)].filter((pair) => pair !== undefined);
    root.items.splice(firstIndex === -1 ? root.items.length : firstIndex, 0, ...added);
  },
};

/** Every migration, oldest first; each one's `to` is the next one's `from`. */
export const MIGRATIONS: readonly Migration[] = [v1ToV2];

export interface MigrationResult {
  /** The version written in the file; undefined when `version:` is missing or not an integer. */
  from: number | undefined;
  to: number | undefined;
  applied: Migration[];
}

function readVersion(doc: Document): number | undefined {
  const version = isMap(doc.contents) ? doc.get('version') : undefined;
  return typeof version === 'number' && Number.isInteger(version) ? version : undefined;
}

/**
 * Upgrades a document in place to `target`. A missing or non-integer `version:` is left for the
 * schema to report; a version newer than this opsctl knows fails with CONFIG_MIGRATION.
 */
export function migrateDocument(doc: Document, target: number = CONFIG_VERSION): MigrationResult {
  const from = readVersion(doc);
  if (from === undefined) return { from, to: undefined, applied: [] };
  if (from > target) {
    throw new OpsError('CONFIG_MIGRATION', `configuration version ${from} is newer than this opsctl understands (${target})`, {
      hint: 'upgrade opsctl, or use the opsctl release that wrote this file',
      details: { version: from, supported: target },
    });
  }
  const applied: Migration[] = [];
  let current = from;
  while (current < target) {
    const migration = MIGRATIONS.find((candidate) => candidate.from === current);
    if (migration === undefined) {
      throw new OpsError('CONFIG_MIGRATION', `no migration from configuration version ${current}`, {
        hint: `versions ${MIGRATIONS.map((m) => m.from).join(', ')} can be migrated; fix the \`version:\` key`,
      });
    }
    migration.migrate(doc);
    current = migration.to;
    // Update the scalar in place so a comment on the version line survives.
    const versionNode = doc.get('version', true);
    if (isScalar(versionNode)) versionNode.value = current;
    else doc.set('version', current);
    applied.push(migration);
  }
  return { from, to: current, applied };
}

/** The same migration for plain data (JSON, JS modules). Returns the data unchanged when current. */
export function migrateData(data: unknown, target: number = CONFIG_VERSION): MigrationResult & { data: unknown } {
  if (!isPlainObject(data)) return { data, from: undefined, to: undefined, applied: [] };
  if (data.version === target) return { data, from: target, to: target, applied: [] };
  const doc = new Document(data);
  const result = migrateDocument(doc, target);
  return { ...result, data: result.applied.length === 0 ? data : (doc.toJS() as unknown) };
}
