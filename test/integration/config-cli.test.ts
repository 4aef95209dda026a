import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonSchemaText } from '../../src/config/json-schema.js';
import { runCli, spawnCli, type CliResult } from '../helpers/cli.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

// The config commands need no server: every test works on files in its own temporary directory,
// through the same main() the binary runs.
const { root, dir: caseDir } = useCaseDirs('config-cli');

const baseEnv = { PATH: process.env.PATH, HOME: root };

function opsctl(argv: string[], extraEnv: NodeJS.ProcessEnv = {}, options: { tty?: boolean } = {}): Promise<CliResult> {
  return runCli(argv, { cwd: caseDir(), env: { ...baseEnv, ...extraEnv }, ...options });
}

function write(name: string, text: string): string {
  const file = path.join(caseDir(), name);
  writeFileSync(file, text);
  return file;
}

const LITERAL_PASSWORD = 'Lit3ral-Pa55word';
const ENV_PASSWORD = 'From-The-Env-9876';

const TEAM_CONFIG = `# Team configuration: keep this comment
version: 2
defaultProfile: dev

profiles:
  dev:
    description: local stack
    redis:
      url: redis://127.0.0.1:6379 # the local server
      commandTimeout: 5s
    postgres:
      url: postgres://app:${LITERAL_PASSWORD}@127.0.0.1:5432/app
  prod:
    protected: true
    redis:
      url: redis://:\${env:PROD_REDIS_PASSWORD}@redis.prod:6379
      password: ${LITERAL_PASSWORD}
    postgres:
      host: db.prod
      password: \${env:PROD_REDIS_PASSWORD}
`;

describe('opsctl config validate', () => {
  it('exit 0 and a one-line summary for a valid file', async () => {
    write('opsctl.config.yaml', 'version: 2\nprofiles:\n  a: { redis: { url: "redis://x:1" } }\n  b: {}\n');
    const result = await opsctl(['config', 'validate']);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toBe('configuration valid: opsctl.config.yaml (2 profiles)\n');
  });

  it('exit 2 and every problem as file:line:col, key path and message', async () => {
    write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev:\n    redis:\n      url: redis://x:1\n      prot: 6379\n      mode: sentinal\n');
    const result = await opsctl(['config', 'validate']);
    expect(result.code).toBe(2);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^LOCATION\s+SEVERITY\s+KEY\s+PROBLEM$/);
    expect(lines[1]).toMatch(/^opsctl\.config\.yaml:6:7\s+error\s+profiles\.dev\.redis\.prot\s+unknown key "prot" \(did you mean "port"\?\)$/);
    expect(lines[2]).toMatch(/^opsctl\.config\.yaml:7:13\s+error\s+profiles\.dev\.redis\.mode\s+expected one of "standalone", "sentinel", "cluster", found string "sentinal"/);
    expect(result.stderr).toBe('configuration invalid: opsctl.config.yaml (2 errors, 0 warnings)\n');
  });

  it('--json prints the list with stable fields', async () => {
    const file = write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://x:1", port: "6379" }\n');
    const result = await opsctl(['config', 'validate', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        file,
        line: 4,
        column: 40,
        severity: 'error',
        kind: 'schema',
        path: 'profiles.dev.redis.port',
        message: 'expected a number, found string "6379"',
        expected: 'a number',
        found: 'string "6379"',
      },
    ]);
  });

  it('a YAML syntax error is a problem with its position', async () => {
    write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev: { redis: [ }\n');
    const result = await opsctl(['config', 'validate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^opsctl\.config\.yaml:3:\d+\s+error\s+\(root\)\s+/m);
  });

  it('unset variables are warnings, but errors for the profile named by --profile', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const plain = await opsctl(['config', 'validate']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/opsctl\.config\.yaml:16:12\s+warning\s+profiles\.prod\.redis\.url\s+environment variable PROD_REDIS_PASSWORD is not set/);
    expect(plain.stdout).toMatch(/warning\s+profiles\.prod\.redis\.password\s+a secret is written literally/);

    const strict = await opsctl(['--profile', 'prod', 'config', 'validate']);
    expect(strict.code).toBe(2);
    expect(strict.stdout).toMatch(/error\s+profiles\.prod\.redis\.url\s+environment variable PROD_REDIS_PASSWORD is not set/);

    const set = await opsctl(['--profile', 'prod', 'config', 'validate'], { PROD_REDIS_PASSWORD: ENV_PASSWORD });
    expect(set.code).toBe(0);
    expect(set.stdout + set.stderr).not.toContain(ENV_PASSWORD);
  });

  it('an unknown --profile is an error listing the profiles', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['--profile', 'staging', 'config', 'validate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/profile "staging" is not defined; profiles: dev, prod/);
  });

  it('no configuration file: exit 2 with a hint', async () => {
    const result = await opsctl(['config', 'validate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: no opsctl configuration found in /);
    expect(result.stderr).toMatch(/hint: create one with `opsctl config init`/);
  });
});

describe('secrets never reach the output', () => {
  const commands: [string, string[]][] = [
    ['show', ['config', 'show']],
    ['show --json', ['config', 'show', '--json']],
    ['show -o yaml', ['config', 'show', '-o', 'yaml']],
    ['show --resolved --debug', ['--debug', 'config', 'show', '--resolved', '--profile', 'prod']],
    ['show --resolved --json', ['config', 'show', '--resolved', '--profile', 'prod', '--json']],
    ['get a password', ['config', 'get', 'profiles.prod.redis.password']],
    ['get a URL with credentials', ['config', 'get', 'profiles.dev.postgres.url']],
    ['get the whole profile --json', ['config', 'get', 'profiles.prod', '--json']],
    ['profiles', ['config', 'profiles']],
    ['profiles --json --debug', ['--debug', 'config', 'profiles', '--json']],
    ['validate --debug', ['--debug', 'config', 'validate', '--profile', 'prod']],
    ['a failing command --debug', ['--debug', 'config', 'set', 'profiles.prod.redis.mode', 'bogus']],
  ];

  it.each(commands)('%s', async (_name, argv) => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(argv, { PROD_REDIS_PASSWORD: ENV_PASSWORD });
    const output = result.stdout + result.stderr;
    expect(output).not.toContain(LITERAL_PASSWORD);
    expect(output).not.toContain(ENV_PASSWORD);
    expect(result.code === 0 || argv.includes('bogus')).toBe(true);
  });

  it('also in a fresh process, where no secret has been registered yet', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const env = { ...baseEnv, PROD_REDIS_PASSWORD: ENV_PASSWORD };
    expect((await spawnCli(['config', 'set', 'profiles.dev.redis.password', 'Other-Literal-555'], { cwd: caseDir(), env })).code).toBe(0);
    for (const argv of [['config', 'show'], ['config', 'get', 'profiles.prod.redis.password'], ['config', 'diff'], ['--debug', 'config', 'show', '--resolved', '--profile', 'prod']]) {
      const result = await spawnCli(argv, { cwd: caseDir(), env });
      expect(result.code, argv.join(' ')).toBe(0);
      for (const secret of [LITERAL_PASSWORD, ENV_PASSWORD, 'Other-Literal-555']) expect(result.stdout + result.stderr, argv.join(' ')).not.toContain(secret);
    }
  });

  it('show keeps comments and ${env:NAME} references, hides literal passwords', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'show']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# Team configuration: keep this comment');
    expect(result.stdout).toContain('url: redis://:${env:PROD_REDIS_PASSWORD}@redis.prod:6379');
    expect(result.stdout).toContain('url: postgres://app:****@127.0.0.1:5432/app');
    expect(result.stdout).toContain('password: "****"');
  });

  it('show --resolved expands variables and applies defaults, still redacted', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'show', '--resolved', '--profile', 'prod', '--json'], { PROD_REDIS_PASSWORD: ENV_PASSWORD });
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout) as { name: string; profile: { redis: { url: string; keyPrefix: string; password: string }; postgres: { password: string } } };
    expect(shown.name).toBe('prod');
    expect(shown.profile.redis).toMatchObject({ url: 'redis://:****@redis.prod:6379', keyPrefix: 'opsctl:', password: '****' });
    expect(shown.profile.postgres.password).toBe('****');
  });

  it('show --resolved for a profile whose variable is unset names the variable', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'show', '--resolved', '--profile', 'prod']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('environment variable PROD_REDIS_PASSWORD is not set (needed by profiles.prod.redis.url, profiles.prod.postgres.password)');
  });
});

describe('editing: set, history, diff, rollback', () => {
  it('set keeps comments, writes history; diff shows the change; rollback restores', async () => {
    const file = write('opsctl.config.yaml', TEAM_CONFIG);
    const set = await opsctl(['config', 'set', 'profiles.dev.redis.commandTimeout', '2s']);
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/^set profiles\.dev\.redis\.commandTimeout = "2s" in opsctl\.config\.yaml \(previous version kept as \d{8}T\d{9}Z-[0-9a-f]{7}\)\n$/);
    const edited = readFileSync(file, 'utf8');
    expect(edited).toContain('# Team configuration: keep this comment');
    expect(edited).toContain('url: redis://127.0.0.1:6379 # the local server');
    expect(edited).toContain('commandTimeout: 2s');

    const history = await opsctl(['config', 'history', '--json']);
    const entries = JSON.parse(history.stdout) as { id: string; change: string; size: number; sha256: string }[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ change: 'set profiles.dev.redis.commandTimeout', size: Buffer.byteLength(TEAM_CONFIG) });
    const table = await opsctl(['config', 'history']);
    expect(table.stdout).toMatch(/^ID\s+WHEN\s+REPLACED BY\s+SIZE$/m);

    const diff = await opsctl(['config', 'diff']);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain(`--- opsctl.config.yaml@${entries[0]!.id}`);
    expect(diff.stdout).toContain('+++ opsctl.config.yaml');
    expect(diff.stdout).toMatch(/^-\s+commandTimeout: 5s$/m);
    expect(diff.stdout).toMatch(/^\+\s+commandTimeout: 2s$/m);
    expect(diff.stdout).not.toContain(LITERAL_PASSWORD);

    const refused = await opsctl(['config', 'rollback', entries[0]!.id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('hint: pass --yes');
    expect(readFileSync(file, 'utf8')).toBe(edited);

    const rollback = await opsctl(['config', 'rollback', entries[0]!.id.slice(-7), '--yes']);
    expect(rollback.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(TEAM_CONFIG);
    const after = JSON.parse((await opsctl(['config', 'history', '--json'])).stdout) as { change: string }[];
    expect(after.map((entry) => entry.change)).toEqual([`rollback to ${entries[0]!.id}`, 'set profiles.dev.redis.commandTimeout']);
    expect(readdirSync(caseDir()).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('set refuses an invalid value and leaves the file alone', async () => {
    const file = write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'set', 'profiles.dev.redis.port', 'not-a-port']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('opsctl.config.yaml:');
    expect(result.stderr).toContain('profiles.dev.redis.port  expected a number, found string "not-a-port"');
    expect(readFileSync(file, 'utf8')).toBe(TEAM_CONFIG);
  });

  it('a file with several problems can be fixed one set at a time', async () => {
    const file = write('opsctl.config.yaml', 'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://x:1", mode: sentinal, db: -1 }\n');
    const first = await opsctl(['config', 'set', 'profiles.dev.redis.mode', 'standalone']);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('warning: opsctl.config.yaml still has 1 problem: `opsctl config validate` lists them');
    const worse = await opsctl(['config', 'set', 'profiles.dev.redis.port', 'x']);
    expect(worse.code).toBe(2);
    expect(worse.stderr).toContain('would have 1 new problem');
    const second = await opsctl(['config', 'set', 'profiles.dev.redis.db', '0']);
    expect(second).toMatchObject({ code: 0 });
    expect(second.stderr).not.toContain('still has');
    expect((await opsctl(['config', 'validate'])).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('mode: standalone');
  });

  it('set --string keeps digits as text; get prints scalars plainly', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    expect((await opsctl(['config', 'set', 'profiles.prod.postgres.database', '0042', '--string'])).code).toBe(0);
    const get = await opsctl(['config', 'get', 'profiles.prod.postgres.database']);
    expect(get).toMatchObject({ code: 0, stdout: '0042\n' });
    const json = await opsctl(['config', 'get', 'profiles.prod.postgres.database', '--json']);
    expect(JSON.parse(json.stdout)).toBe('0042');
  });

  it('get of an unknown path exits 2 and suggests the right one', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'get', 'profiles.dev.redis.ulr']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('hint: did you mean profiles.dev.redis.url?');
  });

  it('JS configuration is read-only', async () => {
    write('opsctl.config.mjs', 'export default { version: 2, profiles: { dev: {} } };\n');
    const result = await opsctl(['config', 'set', 'profiles.dev.protected', 'true']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error: .*opsctl\.config\.mjs is a JS\/TS module: opsctl does not edit code/);
  });
});

describe('opsctl config migrate', () => {
  const V1 = '# legacy file\nversion: 1\nredis:\n  url: redis://cache:6379 # main cache\n  prefix: "app:"\npostgres:\n  url: postgres://app@db/app\n';

  it('--dry-run prints the diff and leaves the file untouched; then migrate writes it with history', async () => {
    const file = write('opsctl.config.yaml', V1);
    const dry = await opsctl(['config', 'migrate', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^-version: 1$/m);
    expect(dry.stdout).toMatch(/^\+version: 2$/m);
    expect(dry.stdout).toMatch(/^\+profiles:$/m);
    expect(dry.stderr).toContain('dry run: opsctl.config.yaml would be migrated from version 1 to 2; nothing written');
    expect(readFileSync(file, 'utf8')).toBe(V1);

    // Meanwhile the v1 file still works, with a warning.
    const profiles = await opsctl(['config', 'profiles', '--json']);
    expect(profiles.code).toBe(0);
    expect(profiles.stderr).toContain('run `opsctl config migrate`');

    const migrate = await opsctl(['config', 'migrate']);
    expect(migrate.code).toBe(0);
    expect(migrate.stderr).toMatch(/migrated opsctl\.config\.yaml from version 1 to 2; the previous version is kept as \S+/);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# legacy file');
    expect(text).toContain('url: redis://cache:6379 # main cache');
    expect(text).toContain('keyPrefix: "app:"');
    expect((await opsctl(['config', 'validate'])).code).toBe(0);
    const history = JSON.parse((await opsctl(['config', 'history', '--json'])).stdout) as { change: string }[];
    expect(history[0]!.change).toBe('migrate version 1 → 2');

    const again = await opsctl(['config', 'migrate']);
    expect(again.stderr).toContain('is already at version 2');
  });
});

describe('opsctl config init', () => {
  it('without a terminal and without --template: exit 2 naming --template', async () => {
    const result = await opsctl(['config', 'init']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--template');
  });

  it('writes the template, refuses to overwrite, --force replaces keeping history', async () => {
    const created = await opsctl(['config', 'init', '--template', 'minimal', '--redis-url', 'redis://127.0.0.1:6390']);
    expect(created.code).toBe(0);
    expect(created.stderr).toContain('created opsctl.config.yaml from the minimal template (default profile "local")');
    const text = readFileSync(path.join(caseDir(), 'opsctl.config.yaml'), 'utf8');
    expect(text).toMatch(/^# opsctl configuration/);
    expect(text).toMatch(/^\$schema: .*opsctl\.schema\.json$/m);
    expect(text).toContain('url: redis://127.0.0.1:6390');
    expect((await opsctl(['config', 'validate'])).code).toBe(0);

    const exists = await opsctl(['config', 'init', '--template', 'production']);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('error: opsctl.config.yaml already exists');
    expect(exists.stderr).toContain('--force');

    const forced = await opsctl(['config', 'init', '--template', 'production', '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ template: 'production', profile: 'dev', replaced: true, history: expect.any(String) });
  });

  it('rejects an unknown template name', async () => {
    const result = await opsctl(['config', 'init', '--template', 'huge']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('minimal');
  });
});

describe('opsctl config profiles and schema', () => {
  it('profiles lists active, default, protected and redacted targets', async () => {
    write('opsctl.config.yaml', TEAM_CONFIG);
    const result = await opsctl(['config', 'profiles', '--json'], { OPSCTL_PROFILE: 'prod', PROD_REDIS_PASSWORD: ENV_PASSWORD });
    expect(JSON.parse(result.stdout)).toEqual([
      expect.objectContaining({ name: 'dev', active: false, default: true, protected: false, redis: 'redis://127.0.0.1:6379', postgres: 'postgres://app:****@127.0.0.1:5432/app' }),
      expect.objectContaining({ name: 'prod', active: true, default: false, protected: true, redis: 'redis://:****@redis.prod:6379', postgres: 'db.prod:5432/' }),
    ]);
  });

  it('schema prints the JSON Schema; --write writes it', async () => {
    const printed = await opsctl(['config', 'schema']);
    expect(printed.stdout).toBe(jsonSchemaText());
    const written = await opsctl(['config', 'schema', '--write', 'out/schema.json']);
    expect(written.code).toBe(0);
    expect(readFileSync(path.join(caseDir(), 'out', 'schema.json'), 'utf8')).toBe(jsonSchemaText());
  });

  it('every verb has an example in its help', async () => {
    for (const verb of ['init', 'validate', 'show', 'get', 'set', 'unset', 'profiles', 'history', 'diff', 'rollback', 'migrate', 'schema']) {
      const help = await opsctl(['config', verb, '--help']);
      expect(help.code, verb).toBe(0);
      expect(help.stdout, verb).toMatch(/Examples:\n\s+\$ opsctl /);
    }
  });
});
