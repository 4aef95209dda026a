import { describe, expect, it } from 'vitest';
import { analyseConfig } from '../../src/config/loader.js';
import { sourceFromText } from '../../src/config/source.js';
import { closest } from '../../src/config/validate.js';

const FILE = '/project/opsctl.config.yaml';

/** A valid file with one replaceable line in the dev profile's redis section. */
function withRedisLine(line: string): string {
  return `version: 2\nprofiles:\n  dev:\n    redis:\n      url: redis://127.0.0.1:6379\n      ${line}\n`;
}

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  return analyseConfig(sourceFromText(FILE, text), env).problems.filter((p) => p.severity === 'error');
}

describe('schema validation messages', () => {
  it.each([
    ['unknown key with a close spelling', withRedisLine('prot: 6379'), 'profiles.dev.redis.prot', /^unknown key "prot" \(did you mean "port"\?\)$/, [6, 7]],
    ['wrong type', withRedisLine('port: "6379"'), 'profiles.dev.redis.port', /^expected a number, found string "6379"$/, [6, 13]],
    ['float where an integer is expected', withRedisLine('db: 1.5'), 'profiles.dev.redis.db', /^expected an integer, found number 1.5$/, [6, 11]],
    ['enum typo', withRedisLine('mode: sentinal'), 'profiles.dev.redis.mode', /^expected one of "standalone", "sentinel", "cluster", found string "sentinal" \(did you mean "sentinel"\?\)$/, [6, 13]],
    ['number below the minimum', withRedisLine('retry: { maxAttempts: -1 }'), 'profiles.dev.redis.retry.maxAttempts', /^expected a number >= 0, found number -1$/, [6, 29]],
    ['not a duration', withRedisLine('connectTimeout: 5 seconds'), 'profiles.dev.redis.connectTimeout', /^expected a duration such as "500ms", "5s", "1m" or a number of milliseconds, found string "5 seconds"$/, [6, 23]],
    ['duration of the wrong type', withRedisLine('commandTimeout: true'), 'profiles.dev.redis.commandTimeout', /^expected a duration .* found boolean true$/, [6, 23]],
    ['port out of range in a list', withRedisLine('cluster: { nodes: [{ host: a, port: 70000 }] }'), 'profiles.dev.redis.cluster.nodes.0.port', /^expected a number <= 65535, found number 70000$/, [6, 43]],
    ['empty list', withRedisLine('cluster: { nodes: [] }'), 'profiles.dev.redis.cluster.nodes', /^expected at least 1 item, found a list of 0 items$/, [6, 25]],
    ['url with the wrong scheme', 'version: 2\nprofiles:\n  dev:\n    redis:\n      url: http://cache:6379\n', 'profiles.dev.redis.url', /^expected a redis:\/\/ or rediss:\/\/ URL, found string "http:\/\/cache:6379"$/, [5, 12]],
    ['missing version', 'profiles: {}\n', 'version', /^required key "version" is missing \(expected 2\)$/, [1, 1]],
    ['defaultProfile naming no profile', 'version: 2\ndefaultProfile: prod\nprofiles:\n  dev: {}\n', 'defaultProfile', /^defaultProfile "prod" is not one of the profiles \(dev\)$/, [2, 17]],
    ['profile name with a dot', 'version: 2\nprofiles:\n  my.prod: {}\n', 'profiles.my.prod', /^invalid name "my.prod": profile names use letters, digits, "-" and "_"$/, [3, 3]],
    ['top level is a list', '- a\n- b\n', '(root)', /^expected a mapping, found a list of 2 items$/, [1, 1]],
    ['sentinel mode without its section', withRedisLine('mode: sentinel'), 'profiles.dev.redis.sentinel', /^sentinel mode needs a "sentinel" section$/, [4, 5]],
  ])('%s', (_name, text, path, message, [line, column]) => {
    const errors = errorsOf(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file: FILE, path, line, column, kind: 'schema' });
    expect(errors[0]!.message).toMatch(message);
  });

  it('reports every problem at once, in file order', () => {
    const text = [
      'version: 2',
      'profiles:',
      '  dev:',
      '    redis:',
      '      url: redis://x:6379',
      '      prot: 1',
      '      mode: sentinal',
      '    postgres:',
      '      host: db',
      '      pool: { max: 0 }',
      '    extra: true',
      '',
    ].join('\n');
    const errors = errorsOf(text);
    expect(errors.map((p) => [p.path, p.line])).toEqual([
      ['profiles.dev.redis.prot', 6],
      ['profiles.dev.redis.mode', 7],
      ['profiles.dev.postgres.pool.max', 10],
      ['profiles.dev.extra', 11],
    ]);
    expect(errors[3]!.message).toMatch(/^unknown key "extra" \(allowed here: description, protected, redis, postgres, doctor, backup, cache, session, ratelimit\)$/);
  });

  it('never shows the value of a secret-named key', () => {
    const errors = errorsOf(withRedisLine('password: 918273645'));
    expect(errors[0]!.message).toBe('expected a string, found a number');
    expect(JSON.stringify(errors)).not.toContain('918273645');
  });

  it('hides URL passwords in the values it quotes', () => {
    const errors = errorsOf('version: 2\nprofiles:\n  dev:\n    redis:\n      url: http://user:pa55word@cache\n');
    expect(errors[0]!.message).toContain('http://user:****@cache');
    expect(JSON.stringify(errors)).not.toContain('pa55word');
  });

  it('gives JSON files positions too', () => {
    const text = '{\n  "version": 2,\n  "profiles": {\n    "dev": { "redis": { "url": "redis://x", "port": "x" } }\n  }\n}\n';
    const errors = analyseConfig(sourceFromText('/p/opsctl.config.json', text), {}).problems;
    expect(errors).toEqual([expect.objectContaining({ path: 'profiles.dev.redis.port', line: 4, column: 53 })]);
  });

  it('warns about literal secrets and unset variables without failing', () => {
    const text = 'version: 2\nprofiles:\n  dev:\n    redis:\n      url: redis://:${env:NO_SUCH_VAR}@x:6379\n    postgres:\n      url: postgres://u:literal@db/app\n';
    const problems = analyseConfig(sourceFromText(FILE, text), {}).problems;
    expect(problems.map((p) => [p.severity, p.kind, p.path, p.line])).toEqual([
      ['warning', 'env', 'profiles.dev.redis.url', 5],
      ['warning', 'secret', 'profiles.dev.postgres.url', 7],
    ]);
  });

  it('makes the strict profile\'s unset variables errors', () => {
    const text = 'version: 2\nprofiles:\n  dev:\n    redis: { url: "redis://:${env:DEV_PW}@x" }\n  prod:\n    redis: { url: "redis://:${env:PROD_PW}@x" }\n';
    const problems = analyseConfig(sourceFromText(FILE, text), {}, { strictProfile: 'prod' }).problems;
    expect(problems.map((p) => [p.severity, p.message])).toEqual([
      ['warning', 'environment variable DEV_PW is not set'],
      ['error', 'environment variable PROD_PW is not set'],
    ]);
  });
});

describe('did you mean', () => {
  it.each([
    ['prot', ['host', 'port'], 'port'],
    ['pasword', ['password', 'username'], 'password'],
    ['defaultprofile', ['defaultProfile', 'profiles'], 'defaultProfile'],
    ['redsi', ['redis', 'postgres'], 'redis'],
    ['completely', ['redis', 'postgres'], undefined],
  ])('%s → %s', (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected);
  });
});
