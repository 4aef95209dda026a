import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { analyseConfig } from '../../src/config/loader.js';
import { MIGRATIONS, migrateData, migrateDocument } from '../../src/config/migrations.js';
import { CONFIG_VERSION } from '../../src/config/schema.js';
import { sourceFromText } from '../../src/config/source.js';
import { OpsError } from '../../src/core/errors.js';

const V1_WITH_ENVIRONMENTS = `# Platform configuration
version: 1 # bumped by hand

# Shared by every environment
redis:
  url: redis://redis.internal:6379 # the primary
  password: \${env:REDIS_PASSWORD}
  prefix: "app:"
  timeout: 2000

postgres:
  url: postgres://app@db.internal/app
  # keep the pool small
  poolSize: 5

# One entry per environment
environments:
  staging:
    redis:
      url: redis://redis.staging:6379
  prod:
    # careful: production
    postgres:
      url: postgres://app@db.prod/app

defaultEnvironment: staging
`;

describe('migrations', () => {
  it('form one chain up to the current version', () => {
    let version = MIGRATIONS[0]!.from;
    for (const migration of MIGRATIONS) {
      expect(migration.from).toBe(version);
      version = migration.to;
    }
    expect(version).toBe(CONFIG_VERSION);
  });

  it('v1 → v2: environments become profiles inheriting the top-level sections; comments are kept', () => {
    const doc = parseDocument(V1_WITH_ENVIRONMENTS);
    const result = migrateDocument(doc);
    expect(result).toMatchObject({ from: 1, to: 2 });
    expect(result.applied).toHaveLength(1);
    expect(doc.toJS()).toEqual({
      version: 2,
      defaultProfile: 'staging',
      profiles: {
        staging: {
          redis: { url: 'redis://redis.staging:6379', password: '${env:REDIS_PASSWORD}', keyPrefix: 'app:', connectTimeout: 2000 },
          postgres: { url: 'postgres://app@db.internal/app', pool: { max: 5 } },
        },
        prod: {
          postgres: { url: 'postgres://app@db.prod/app', pool: { max: 5 } },
          redis: { url: 'redis://redis.internal:6379', password: '${env:REDIS_PASSWORD}', keyPrefix: 'app:', connectTimeout: 2000 },
        },
      },
    });
    const text = doc.toString();
    for (const comment of ['# Platform configuration', '# bumped by hand', '# One entry per environment', '# careful: production', '# keep the pool small', '# the primary']) {
      expect(text).toContain(comment);
    }
    expect(text).toMatch(/^version: 2 # bumped by hand$/m);
    // The result is a valid current configuration.
    const problems = analyseConfig(sourceFromText('/x/opsctl.config.yaml', text), { REDIS_PASSWORD: 'x' }).problems;
    expect(problems).toEqual([]);
  });

  it('v1 → v2 without environments: one "default" profile, the top-level password moves into it', () => {
    const doc = parseDocument('version: 1\nredis:\n  host: cache\n  port: 6379\n  password: ${env:PW} # from the vault\npostgres:\n  host: db\n');
    migrateDocument(doc);
    expect(doc.toJS()).toEqual({
      version: 2,
      defaultProfile: 'default',
      profiles: { default: { redis: { host: 'cache', port: 6379, password: '${env:PW}' }, postgres: { host: 'db' } } },
    });
    expect(doc.toString()).toContain('password: ${env:PW} # from the vault');
  });

  it('plain data (JSON, JS) migrates through the same code', () => {
    const result = migrateData({ version: 1, redis: { url: 'redis://x:1' } });
    expect(result.data).toEqual({ version: 2, defaultProfile: 'default', profiles: { default: { redis: { url: 'redis://x:1' } } } });
    const current = { version: 2, profiles: {} };
    expect(migrateData(current).data).toBe(current);
  });

  it('a version newer than known fails with CONFIG_MIGRATION; a missing one is left to the schema', () => {
    expect(() => migrateDocument(parseDocument('version: 3\nprofiles: {}\n'))).toThrow(OpsError);
    try {
      migrateDocument(parseDocument('version: 3\n'));
    } catch (error) {
      expect((error as OpsError).code).toBe('CONFIG_MIGRATION');
      expect((error as OpsError).exitCode).toBe(2);
    }
    expect(migrateDocument(parseDocument('profiles: {}\n'))).toEqual({ from: undefined, to: undefined, applied: [] });
  });

  it('loading a v1 file migrates in memory and warns', () => {
    const analysis = analyseConfig(sourceFromText('/x/opsctl.config.yaml', V1_WITH_ENVIRONMENTS), { REDIS_PASSWORD: 'x' });
    expect(analysis.config?.defaultProfile).toBe('staging');
    expect(analysis.problems).toEqual([
      expect.objectContaining({ severity: 'warning', kind: 'version', line: 2, message: expect.stringContaining('run `opsctl config migrate`') }),
    ]);
  });
});
