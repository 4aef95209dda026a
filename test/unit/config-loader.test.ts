import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpolateEnv } from '../../src/config/interpolate.js';
import { loadConfig, selectProfile, type LoadedConfig } from '../../src/config/loader.js';
import { OpsError } from '../../src/core/errors.js';
import { secrets } from '../../src/core/redact.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const { root, dir: caseDir } = useCaseDirs('config-loader');

function write(relative: string, text: string): string {
  const file = path.join(caseDir(), relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/** The OpsError a promise or function fails with. */
async function failure(run: () => unknown): Promise<OpsError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof OpsError) return error;
    throw error;
  }
  throw new Error('expected an OpsError');
}

const TWO_PROFILES = `version: 2
profiles:
  dev:
    redis: { url: "redis://127.0.0.1:6379" }
  prod:
    redis: { url: "redis://:\${env:PROD_REDIS_PASSWORD}@redis.prod:6379" }
    postgres: { url: "postgres://app:\${env:PROD_PG_PASSWORD}@db.prod/app" }
`;

describe('finding the file', () => {
  it('searches from cwd upward and reports the format', async () => {
    const file = write('opsctl.config.yaml', 'version: 2\nprofiles: { dev: {} }\n');
    mkdirSync(path.join(caseDir(), 'a', 'b'), { recursive: true });
    const loaded = await loadConfig({ cwd: path.join(caseDir(), 'a', 'b'), env: { HOME: root } });
    expect(loaded).toMatchObject({ filepath: file, format: 'yaml' });
  });

  it('stops at the home directory', async () => {
    write('opsctl.config.yaml', 'version: 2\nprofiles: { dev: {} }\n');
    mkdirSync(path.join(caseDir(), 'home', 'project'), { recursive: true });
    const error = await failure(() => loadConfig({ cwd: path.join(caseDir(), 'home', 'project'), env: { HOME: path.join(caseDir(), 'home') } }));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.exitCode).toBe(2);
  });

  it.each([
    ['.opsctlrc', 'version: 2\nprofiles: { rc: {} }\n', 'yaml'],
    ['.opsctlrc.json', '{ "version": 2, "profiles": { "rc": {} } }', 'json'],
    ['opsctl.config.yml', 'version: 2\nprofiles: { rc: {} }\n', 'yaml'],
    ['opsctl.config.mjs', 'export default { version: 2, profiles: { rc: {} } };\n', 'js'],
    ['package.json', '{ "name": "x", "opsctl": { "version": 2, "profiles": { "rc": {} } } }', 'package.json'],
  ])('reads %s', async (name, text, format) => {
    write(name, text);
    const loaded = await loadConfig({ cwd: caseDir(), env: { HOME: root } });
    expect(loaded.format).toBe(format);
    expect(Object.keys(loaded.config.profiles)).toEqual(['rc']);
  });

  it('skips a package.json without an opsctl key', async () => {
    write('package.json', '{ "name": "x" }');
    const file = write('.opsctlrc.yaml', 'version: 2\nprofiles: { dev: {} }\n');
    expect((await loadConfig({ cwd: caseDir(), env: { HOME: root } })).filepath).toBe(file);
  });

  it('--config loads exactly that file and fails when it is missing', async () => {
    const file = write('elsewhere/custom.yaml', 'version: 2\nprofiles: { custom: {} }\n');
    write('opsctl.config.yaml', 'version: 2\nprofiles: { dev: {} }\n');
    expect((await loadConfig({ cwd: caseDir(), configPath: 'elsewhere/custom.yaml', env: {} })).filepath).toBe(file);
    const error = await failure(() => loadConfig({ cwd: caseDir(), configPath: 'nope.yaml', env: {} }));
    expect(error.code).toBe('CONFIG_NOT_FOUND');
    expect(error.message).toContain(path.join(caseDir(), 'nope.yaml'));
  });
});

describe('syntax errors', () => {
  it('YAML: file:line:col', async () => {
    const file = write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://x"\n  prod: {}\n');
    const error = await failure(() => loadConfig({ cwd: caseDir(), env: { HOME: root } }));
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5:\\d+: `));
    expect(error.details).toMatchObject({ file, line: 5 });
  });

  it('YAML: duplicate keys', async () => {
    write('opsctl.config.yaml', 'version: 2\nversion: 2\nprofiles: {}\n');
    const error = await failure(() => loadConfig({ cwd: caseDir(), env: { HOME: root } }));
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.message).toMatch(/opsctl\.config\.yaml:2:1: Map keys must be unique/);
  });

  it('JSON: line:col from the parser offset', async () => {
    write('opsctl.config.json', '{\n  "version": 2,\n  "profiles": {},\n}\n');
    const error = await failure(() => loadConfig({ cwd: caseDir(), env: { HOME: root } }));
    expect(error.code).toBe('CONFIG_PARSE');
    expect(error.message).toMatch(/opsctl\.config\.json:4:1: /);
  });

  it('an invalid file fails with every problem in details.problems', async () => {
    write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://x", prot: 1, mode: x }\n');
    const error = await failure(() => loadConfig({ cwd: caseDir(), env: { HOME: root } }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(2);
    const problems = (error.details as { problems: { path: string }[] }).problems;
    expect(problems.map((p) => p.path)).toEqual(['profiles.dev.redis.prot', 'profiles.dev.redis.mode']);
    expect(error.message).toContain('opsctl.config.yaml:4:');
  });

  it('a version newer than known is CONFIG_MIGRATION', async () => {
    write('opsctl.config.yaml', 'version: 9\nprofiles: {}\n');
    const error = await failure(() => loadConfig({ cwd: caseDir(), env: { HOME: root } }));
    expect(error.code).toBe('CONFIG_MIGRATION');
    expect(error.message).toContain('version 9 is newer');
  });
});

describe('${env:NAME} interpolation', () => {
  it('replaces references anywhere in a string, keeps escapes and reports unset ones', () => {
    const result = interpolateEnv(
      { a: 'redis://:${env:PW}@host:6379', b: ['${env:A}-${env:B}'], c: '$${env:PW}', d: '${env:MISSING}', e: 42 },
      { PW: 's3cret!', A: 'x', B: '' },
    );
    expect(result.value).toEqual({ a: 'redis://:s3cret!@host:6379', b: ['x-'], c: '${env:PW}', d: '${env:MISSING}', e: 42 });
    expect(result.references).toEqual([
      { path: ['a'], variable: 'PW', set: true, valid: true },
      { path: ['b', 0], variable: 'A', set: true, valid: true },
      { path: ['b', 0], variable: 'B', set: true, valid: true },
      { path: ['d'], variable: 'MISSING', set: false, valid: true },
    ]);
  });

  it('an unset variable of another profile does not stop the selected one', async () => {
    write('opsctl.config.yaml', TWO_PROFILES);
    const loaded = await loadConfig({ cwd: caseDir(), env: { HOME: root } });
    expect(selectProfile(loaded, { profile: 'dev', env: {} }).name).toBe('dev');
  });

  it('selecting a profile with an unset variable names the variable and the key path', async () => {
    write('opsctl.config.yaml', TWO_PROFILES);
    const loaded = await loadConfig({ cwd: caseDir(), env: { HOME: root, PROD_PG_PASSWORD: 'pg-secret-1' } });
    const error = await failure(() => selectProfile(loaded, { profile: 'prod', env: {} }));
    expect(error.code).toBe('CONFIG_ENV_UNSET');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('environment variable PROD_REDIS_PASSWORD is not set (needed by profiles.prod.redis.url)');
    expect(error.hint).toContain('PROD_REDIS_PASSWORD');
  });

  it('registers interpolated secrets so they are redacted everywhere', async () => {
    write('opsctl.config.yaml', TWO_PROFILES);
    const env = { HOME: root, PROD_REDIS_PASSWORD: 'redis-pw-4711', PROD_PG_PASSWORD: 'p%40ss-0815' };
    const loaded = await loadConfig({ cwd: caseDir(), env });
    const prod = selectProfile(loaded, { profile: 'prod', env });
    expect(prod.profile.redis?.url).toBe('redis://:redis-pw-4711@redis.prod:6379');
    expect(secrets.redact('auth failed for redis-pw-4711')).toBe('auth failed for ****');
    // URL-encoded in the URL, decoded by drivers: both forms are hidden.
    expect(secrets.redact('p%40ss-0815 / p@ss-0815')).toBe('**** / ****');
  });
});

describe('profile selection', () => {
  async function config(text: string): Promise<LoadedConfig> {
    write('opsctl.config.yaml', text);
    return loadConfig({ cwd: caseDir(), env: { HOME: root } });
  }
  const THREE = 'version: 2\ndefaultProfile: b\nprofiles:\n  a: {}\n  b: {}\n  c: {}\n';

  it.each([
    ['--profile first', { profile: 'a', env: { OPSCTL_PROFILE: 'c' } }, 'a'],
    ['then OPSCTL_PROFILE', { env: { OPSCTL_PROFILE: 'c' } }, 'c'],
    ['then defaultProfile', { env: {} }, 'b'],
    ['an empty OPSCTL_PROFILE is ignored', { env: { OPSCTL_PROFILE: '' } }, 'b'],
  ])('%s', async (_name, options, expected) => {
    expect(selectProfile(await config(THREE), options).name).toBe(expected);
  });

  it('then the only profile', async () => {
    expect(selectProfile(await config('version: 2\nprofiles:\n  solo: {}\n'), { env: {} }).name).toBe('solo');
  });

  it('several profiles and none chosen: CONFIG_PROFILE_UNKNOWN with a hint', async () => {
    const error = await failure(async () => selectProfile(await config('version: 2\nprofiles:\n  a: {}\n  b: {}\n'), { env: {} }));
    expect(error.code).toBe('CONFIG_PROFILE_UNKNOWN');
    expect(error.hint).toBe('pass --profile <name>, set OPSCTL_PROFILE, or set defaultProfile in the file; profiles: a, b');
  });

  it('an unknown profile lists the known ones and suggests the closest', async () => {
    const error = await failure(async () => selectProfile(await config(THREE), { profile: 'bb', env: {} }));
    expect(error.code).toBe('CONFIG_PROFILE_UNKNOWN');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('profile "bb" (from --profile) is not defined');
    expect(error.hint).toBe('did you mean "b"? known profiles: a, b, c');
  });

  it('applies defaults to the selected profile', async () => {
    const selected = selectProfile(await config('version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://x:1" }\n'), { env: {} });
    expect(selected.profile).toMatchObject({ protected: false, redis: { mode: 'standalone', keyPrefix: 'opsctl:', connectTimeout: '5s' } });
  });
});
