import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listHistory, readHistoryContent } from '../../src/config/history.js';
import { loadConfig } from '../../src/config/loader.js';
import { formatKeyPath, parseKeyPath } from '../../src/config/paths.js';
import { getConfigValue, parseValueArgument, setConfigValue, unsetConfigValue, upsertProfile } from '../../src/config/store.js';
import { OpsError } from '../../src/core/errors.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const { root, dir: caseDir } = useCaseDirs('config-store');

const env = { HOME: root };
const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

const COMMENTED = `# Team configuration
version: 2
defaultProfile: dev

profiles:
  dev:
    redis:
      url: redis://127.0.0.1:6379 # local server
      cluster:
        nodes:
          - { host: a, port: 7000 }
          - { host: b, port: 7001 }
      mode: cluster
    # the shared database
    postgres:
      url: postgres://app@127.0.0.1/app
`;

function write(name: string, text: string): string {
  const file = path.join(caseDir(), name);
  writeFileSync(file, text);
  return file;
}

async function failure(run: () => Promise<unknown>): Promise<OpsError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof OpsError) return error;
    throw error;
  }
  throw new Error('expected an OpsError');
}

describe('key paths', () => {
  it.each([
    ['profiles.prod.redis.url', ['profiles', 'prod', 'redis', 'url']],
    ['profiles.x.redis.cluster.nodes.0.port', ['profiles', 'x', 'redis', 'cluster', 'nodes', '0', 'port']],
    ['profiles.x.redis.cluster.nodes[1].host', ['profiles', 'x', 'redis', 'cluster', 'nodes', '1', 'host']],
  ])('%s', (text, segments) => {
    expect(parseKeyPath(text)).toEqual(segments);
    expect(formatKeyPath(segments)).toBe(text.replace(/\[(\d+)\]/g, '.$1'));
  });

  it.each(['', 'a..b', '.a', 'a.'])('rejects %j', (text) => {
    expect(() => parseKeyPath(text)).toThrow(/invalid key path/);
  });
});

describe('config set values', () => {
  it.each([
    ['5', false, 5],
    ['true', false, true],
    ['2s', false, '2s'],
    ['0042', false, 42],
    ['0042', true, '0042'],
    ['null', false, null],
    ['Prod: main cluster', false, 'Prod: main cluster'],
    ['redis://:${env:PW}@h:6379', false, 'redis://:${env:PW}@h:6379'],
    ['[{host: a, port: 1}]', false, [{ host: 'a', port: 1 }]],
    ['{ max: 3 }', false, { max: 3 }],
    ['# not a comment', false, '# not a comment'],
  ])('%j (--string %s)', (text, asString, expected) => {
    expect(parseValueArgument(text, asString)).toEqual(expected);
  });
});

describe('get and set', () => {
  it('gets written values, list items and defaults', async () => {
    write('opsctl.config.yaml', COMMENTED);
    expect(await getConfigValue({ cwd: caseDir(), env }, 'profiles.dev.redis.cluster.nodes.1.port')).toMatchObject({ value: 7001, origin: 'file' });
    expect(await getConfigValue({ cwd: caseDir(), env }, 'profiles.dev.redis.keyPrefix')).toMatchObject({ value: 'opsctl:', origin: 'default' });
    const error = await failure(() => getConfigValue({ cwd: caseDir(), env }, 'profiles.dev.redis.mdoe'));
    expect(error.code).toBe('CONFIG_PATH_UNKNOWN');
    expect(error.hint).toBe('did you mean profiles.dev.redis.mode?');
  });

  it('sets a value in YAML keeping comments, writes history, validates first', async () => {
    const file = write('opsctl.config.yaml', COMMENTED);
    const result = await setConfigValue({ cwd: caseDir(), env, now: NOW, path: 'profiles.dev.redis.cluster.nodes.0.port', value: 7100 });
    expect(result).toMatchObject({ filepath: file, changed: true, previous: 7000 });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('- { host: a, port: 7100 }');
    for (const comment of ['# Team configuration', '# local server', '# the shared database']) expect(text).toContain(comment);

    const history = await listHistory(file);
    expect(history).toEqual([
      expect.objectContaining({ id: `20250102T030405678Z-${result.history!.sha256.slice(0, 7)}`, change: 'set profiles.dev.redis.cluster.nodes.0.port', command: 'config set', file: 'opsctl.config.yaml' }),
    ]);
    expect(await readHistoryContent(file, history[0]!)).toBe(COMMENTED);
    expect(statSync(path.join(caseDir(), '.opsctl', 'config-history')).mode & 0o777).toBe(0o700);

    // An invalid result is refused and nothing changes.
    const error = await failure(() => setConfigValue({ cwd: caseDir(), env, now: NOW, path: 'profiles.dev.redis.mode', value: 'sentinal' }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('profiles.dev.redis.mode');
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(await listHistory(file)).toHaveLength(1);
  });

  it('creates missing mappings, keeps a string that looks like a number quoted, and appends to lists', async () => {
    const file = write('opsctl.config.yaml', COMMENTED);
    await setConfigValue({ cwd: caseDir(), env, now: NOW, path: 'profiles.dev.postgres.database', value: '0042' });
    await setConfigValue({ cwd: caseDir(), env, now: NOW, path: 'profiles.dev.doctor.redisLatencyWarn', value: '20ms' });
    await setConfigValue({ cwd: caseDir(), env, now: NOW, path: 'profiles.dev.redis.cluster.nodes.2', value: { host: 'c', port: 7002 } });
    const loaded = await loadConfig({ cwd: caseDir(), env });
    expect(loaded.config.profiles.dev?.postgres?.database).toBe('0042');
    expect(loaded.config.profiles.dev?.doctor?.redisLatencyWarn).toBe('20ms');
    expect(loaded.config.profiles.dev?.redis?.cluster?.nodes).toHaveLength(3);
    expect(readFileSync(file, 'utf8')).toMatch(/database: "0042"/);
    // Three writes in the same millisecond still get distinct ids, in order.
    const ids = (await listHistory(file)).map((entry) => entry.id);
    expect(new Set(ids).size).toBe(3);
    expect([...ids].sort()).toEqual(ids);
  });

  it('refuses paths through scalars and list indexes out of range', async () => {
    write('opsctl.config.yaml', COMMENTED);
    const throughScalar = await failure(() => setConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.redis.url.host', value: 'x' }));
    expect(throughScalar.code).toBe('CONFIG_PATH_UNKNOWN');
    expect(throughScalar.message).toBe('profiles.dev.redis.url: holds a string, not a mapping');
    const outOfRange = await failure(() => setConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.redis.cluster.nodes.5.port', value: 1 }));
    expect(outOfRange.message).toBe('profiles.dev.redis.cluster.nodes.5: the list has 2 items: use an index from 0 to 2');
  });

  it('edits JSON files as 2-space JSON and package.json under "opsctl" only', async () => {
    const json = write('opsctl.config.json', '{"version":2,"profiles":{"dev":{"redis":{"url":"redis://x:1"}}}}');
    await setConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.protected', value: true });
    expect(readFileSync(json, 'utf8')).toBe(
      '{\n  "version": 2,\n  "profiles": {\n    "dev": {\n      "redis": {\n        "url": "redis://x:1"\n      },\n      "protected": true\n    }\n  }\n}\n',
    );
    await unsetConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.protected' });
    expect(JSON.parse(readFileSync(json, 'utf8'))).toEqual({ version: 2, profiles: { dev: { redis: { url: 'redis://x:1' } } } });
  });

  it('keeps a symlinked file a symlink and the file mode as it was', async () => {
    const real = write('shared.yaml', COMMENTED);
    symlinkSync(real, path.join(caseDir(), 'opsctl.config.yaml'));
    chmodSync(real, 0o600);
    await setConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.protected', value: true });
    expect(lstatSync(path.join(caseDir(), 'opsctl.config.yaml')).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toContain('protected: true');
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('refuses to edit JS configuration', async () => {
    write('opsctl.config.mjs', 'export default { version: 2, profiles: { dev: {} } };\n');
    const error = await failure(() => setConfigValue({ cwd: caseDir(), env, path: 'profiles.dev.protected', value: true }));
    expect(error.code).toBe('CONFIG_READ_ONLY');
    expect(error.exitCode).toBe(2);
  });
});

describe('upsertProfile (used by `opsctl dev up`)', () => {
  const profile = { description: 'local', redis: { url: 'redis://127.0.0.1:7001' }, postgres: { url: 'postgres://postgres@127.0.0.1:7002/postgres' } };

  it('creates opsctl.config.yaml with the profile as default when there is no file', async () => {
    const result = await upsertProfile({ cwd: caseDir(), env, name: 'dev', profile });
    expect(result).toEqual({ filepath: path.join(caseDir(), 'opsctl.config.yaml'), created: true });
    const loaded = await loadConfig({ cwd: caseDir(), env });
    expect(loaded.config.defaultProfile).toBe('dev');
    expect(loaded.config.profiles.dev?.redis?.url).toBe('redis://127.0.0.1:7001');
    expect(readFileSync(result.filepath, 'utf8')).toMatch(/^\$schema: .*schema\/opsctl\.schema\.json$/m);
  });

  it('replaces the profile in an existing file, keeping comments and other profiles', async () => {
    const file = write('opsctl.config.yaml', COMMENTED.replace('profiles:\n', 'profiles:\n  prod:\n    redis: { url: "redis://prod:6379" } # production\n'));
    const result = await upsertProfile({ cwd: caseDir(), env, name: 'dev', profile, now: NOW });
    expect(result).toEqual({ filepath: file, created: false });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# Team configuration');
    expect(text).toContain('# production');
    expect(text).toContain('url: redis://127.0.0.1:7001 # local server');
    expect(text).not.toContain('cluster');
    const loaded = await loadConfig({ cwd: caseDir(), env });
    expect(Object.keys(loaded.config.profiles)).toEqual(['prod', 'dev']);
    expect((await listHistory(file))[0]).toMatchObject({ command: 'dev up', change: 'upsert profile dev' });
  });

  it('creates the --config file when it does not exist yet', async () => {
    const result = await upsertProfile({ cwd: caseDir(), configPath: 'conf/local.json', env, name: 'dev', profile });
    expect(result.created).toBe(true);
    expect(result.filepath).toBe(path.join(caseDir(), 'conf', 'local.json'));
    expect(JSON.parse(readFileSync(result.filepath, 'utf8'))).toMatchObject({ version: 2, defaultProfile: 'dev' });
  });

  it('never leaves temporary files behind', async () => {
    await upsertProfile({ cwd: caseDir(), env, name: 'dev', profile });
    await upsertProfile({ cwd: caseDir(), env, name: 'other', profile });
    expect(readdirSync(caseDir()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(path.join(caseDir(), '.opsctl', 'config-history'))).toBe(true);
  });
});
