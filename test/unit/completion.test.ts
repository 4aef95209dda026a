import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletionCache } from '../../src/cli/completion/cache.js';
import { escapeGlob, profileCompleter, runDynamic } from '../../src/cli/completion/completers.js';
import { probeConfig, probeConfigFile } from '../../src/cli/completion/config-probe.js';
import { complete } from '../../src/cli/completion/engine.js';
import { formatCompletion } from '../../src/cli/completion/run.js';
import { SCRIPT_FILES, SHELLS, completionScript } from '../../src/cli/completion/scripts.js';
import { Directive, type DynamicCompleter } from '../../src/cli/completion/types.js';
import { buildDocsProgram } from '../../src/cli/docs-gen.js';
import { hintFor } from '../../src/cli/repl/hints.js';
import { History } from '../../src/cli/repl/history.js';
import { completionWords, splitLine } from '../../src/cli/repl/words.js';

let program: Command;
const dir = mkdtempSync(join(tmpdir(), 'opsctl-completion-'));
const env = { HOME: dir };

beforeAll(async () => {
  program = (await buildDocsProgram()).program;
  writeFileSync(
    join(dir, 'opsctl.config.yaml'),
    'version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    description: laptop\n    redis: { url: "redis://127.0.0.1:1", password: hunter2 }\n  prod:\n    protected: true\n    redis: { url: "redis://127.0.0.1:1" }\n',
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const values = async (words: string[], dynamic = true) => {
  const result = await complete(program, words, {
    ...(dynamic
      ? { runDynamic: (completer: DynamicCompleter, prefix: string, globals: object) => runDynamic(completer, prefix, globals, { env, cwd: dir, probe: (g) => probeConfig(dir, env, g), redis: () => Promise.reject(new Error('no server in unit tests')) }) }
      : {}),
  });
  return { values: result.candidates.map((c) => c.value), directive: result.directive, candidates: result.candidates };
};

describe('completion engine', () => {
  it('offers the groups, with descriptions, and no files', async () => {
    const result = await values(['']);
    expect(result.values).toEqual(expect.arrayContaining(['config', 'doctor', 'dev', 'shell', 'completion', 'help']));
    expect(result.values).not.toContain('__complete');
    expect(result.candidates.find((c) => c.value === 'config')?.description).toMatch(/configuration/);
    expect(result.directive).toBe(Directive.NoFileComp);
  });

  it('filters by the typed prefix', async () => {
    expect((await values(['co'])).values).toEqual(['config', 'completion']);
    expect((await values(['config', 'va'])).values).toEqual(['validate']);
  });

  it('offers flags of the command and the global ones only after a dash', async () => {
    const flags = (await values(['config', 'init', '--'])).values;
    expect(flags).toEqual(expect.arrayContaining(['--template', '--path', '--force', '--profile', '--json', '--help']));
    expect(flags).not.toContain('--version');
    expect((await values(['config', 'init', ''])).values).toEqual([]);
    expect((await values(['config', 'init', '--template', 'minimal', '--tem'])).values).toEqual([]);
  });

  it('offers fixed choices of an option, also in --flag=value form and for -o', async () => {
    expect((await values(['config', 'init', '--template', ''])).values).toEqual(['minimal', 'single-node', 'sentinel', 'cluster', 'production']);
    expect((await values(['-o', 'y'])).values).toEqual(['yaml']);
    expect((await values(['config', 'show', '--output=j'])).values).toEqual(['--output=json']);
  });

  it('completes profile names from the configuration file, after options that take values', async () => {
    const result = await values(['--config', 'x.yaml', 'doctor', '--profile', '']);
    expect(result.values).toEqual([]);
    const profiles = await values(['doctor', '--profile', '']);
    expect(profiles.values).toEqual(['dev', 'prod']);
    expect(profiles.candidates[1]).toEqual({ value: 'prod', description: 'protected' });
    expect((await values(['--profile', 'p'])).values).toEqual(['prod']);
  });

  it('leaves free values (paths, URLs) to the shell: default directive', async () => {
    expect(await values(['--config', ''])).toMatchObject({ values: [], directive: Directive.Default });
    expect(await values(['config', 'init', '--path', ''])).toMatchObject({ values: [], directive: Directive.Default });
  });

  it('completes configuration key paths one level at a time, hiding secrets', async () => {
    expect(await values(['config', 'get', ''])).toMatchObject({ values: ['version', 'defaultProfile', 'profiles.'], directive: Directive.NoFileComp | Directive.NoSpace });
    expect((await values(['config', 'set', 'profiles.p'])).values).toEqual(['profiles.prod.']);
    const redis = await values(['config', 'unset', 'profiles.dev.redis.']);
    expect(redis.candidates).toEqual([{ value: 'profiles.dev.redis.url', description: 'redis://127.0.0.1:1' }, { value: 'profiles.dev.redis.password', description: '(hidden)' }]);
    expect(redis.directive).toBe(Directive.NoFileComp);
    expect((await values(['config', 'get', 'nope.x'])).values).toEqual([]);
  });

  it('completes `help <group> <verb>`', async () => {
    expect((await values(['help', 'co'])).values).toEqual(['config', 'completion']);
    expect((await values(['help', 'config', 'sh'])).values).toEqual(['show']);
  });

  it('offers nothing dynamic without a runner, and nothing when the completer fails', async () => {
    expect((await values(['--profile', ''], false)).values).toEqual([]);
    const failing: DynamicCompleter = { name: 'x', server: true, ttlMs: 0, complete: () => Promise.reject(new Error('down')) };
    const result = await runDynamic(failing, '', {}, { env, cwd: dir, probe: async () => undefined, redis: () => Promise.reject(new Error('x')) });
    expect(result).toEqual({ candidates: [], directive: Directive.NoFileComp });
  });

  it('follows commander on options with an optional value', async () => {
    const { Command } = await import('commander');
    const tree = new Command('x').option('--watch [interval]');
    tree.command('run').argument('<what>').argument('[more]');
    const at = async (words: string[]) => (await complete(tree, words)).candidates.map((c) => c.value);
    expect(await at(['--watch', '5', ''])).toEqual(['run', 'help']);
    expect(await at(['--watch', 'r'])).toEqual([]);
    expect(await at(['--watch', '--watch', 'r'])).toEqual([]);
    expect((await complete(tree, ['run', 'a', ''])).directive).toBe(Directive.Default);
  });

  it('prints the cobra wire format', () => {
    expect(formatCompletion({ candidates: [{ value: 'a', description: 'x\ty' }, { value: 'b' }], directive: 6 })).toBe('a\tx y\nb\n:6\n');
  });

  it('escapes glob characters of a typed key prefix', () => {
    expect(escapeGlob('user:[1]*?\\')).toBe('user:\\[1\\]\\*\\?\\\\');
  });
});

describe('backup ids', () => {
  it('lists the backups of the profile\'s repository (with a manifest), newest first, or of --repo', async () => {
    const repo = join(dir, 'repo');
    for (const [id, complete] of [['20260101T000000Z-postgres-aaaaaa', true], ['20260201T000000Z-postgres-bbbbbb', true], ['20260301T000000Z-postgres-cccccc', false]] as const) {
      mkdirSync(join(repo, 'backups', id), { recursive: true });
      if (complete) writeFileSync(join(repo, 'backups', id, 'manifest.json'), '{}');
    }
    const project = join(dir, 'with-backup');
    mkdirSync(project);
    writeFileSync(join(project, 'opsctl.config.yaml'), 'version: 2\nprofiles:\n  dev:\n    backup: { repository: ../repo }\n');
    const ids = (words: string[]) =>
      complete(program, words, { runDynamic: (completer, prefix, globals) => runDynamic(completer, prefix, globals, { env, cwd: project, probe: (g) => probeConfig(project, env, g), redis: () => Promise.reject(new Error('x')) }) }).then((r) => r.candidates.map((c) => c.value));
    expect(await ids(['backup', 'show', ''])).toEqual(['20260201T000000Z-postgres-bbbbbb', '20260101T000000Z-postgres-aaaaaa']);
    expect(await ids(['backup', 'verify', '202601'])).toEqual(['20260101T000000Z-postgres-aaaaaa']);
    expect(await ids(['backup', 'show', '--repo', join(dir, 'nowhere'), ''])).toEqual([]);
    expect(await ids(['backup', 'show', '--repo', repo, '2026'])).toHaveLength(2);
  });
});

describe('server-backed completion cache', () => {
  it('answers from the cache within the TTL, asks again after it, never caches partial answers', async () => {
    let now = 1_000;
    const cache = new CompletionCache(join(dir, 'cache'), () => now);
    let calls = 0;
    const completer: DynamicCompleter = {
      name: 'counting',
      server: true,
      ttlMs: 10_000,
      complete: async (ctx) => {
        calls += 1;
        return { candidates: [{ value: `${ctx.prefix}${calls}` }], directive: Directive.NoFileComp, partial: ctx.prefix === 'partial' };
      },
    };
    const run = (prefix: string) => runDynamic(completer, prefix, {}, { env, cwd: dir, cache, probe: async () => undefined, redis: () => Promise.reject(new Error('x')) });
    expect((await run('a')).candidates).toEqual([{ value: 'a1' }]);
    expect((await run('a')).candidates).toEqual([{ value: 'a1' }]);
    now += 10_001;
    expect((await run('a')).candidates).toEqual([{ value: 'a3'.replace('3', '2') }]);
    await run('partial');
    await run('partial');
    expect(calls).toBe(4);
  });
});

describe('config probe', () => {
  it('finds the file from a subdirectory, reads profiles and defaultProfile', async () => {
    const sub = join(dir, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    expect(await probeConfigFile(sub, env, {})).toBe(join(dir, 'opsctl.config.yaml'));
    const probe = await probeConfig(sub, env, {});
    expect(probe?.defaultProfile).toBe('dev');
    expect(probe?.profiles).toEqual([
      { name: 'dev', description: 'laptop', protected: false },
      { name: 'prod', protected: true },
    ]);
  });

  it('skips a package.json without an "opsctl" key and reads one with it', async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'inner'), { recursive: true });
    writeFileSync(join(project, 'inner', 'package.json'), '{"name":"x"}');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ opsctl: { version: 2, profiles: { ci: {} } } }));
    expect((await probeConfig(join(project, 'inner'), { HOME: project }, {}))?.profiles.map((p) => p.name)).toEqual(['ci']);
  });

  it('the profile completer describes protected profiles', async () => {
    const result = await runDynamic(profileCompleter, '', {}, { env, cwd: dir, probe: (g) => probeConfig(dir, env, g), redis: () => Promise.reject(new Error('x')) });
    expect(result.candidates).toEqual([
      { value: 'dev', description: 'laptop' },
      { value: 'prod', description: 'protected' },
    ]);
  });
});

describe('shell scripts', () => {
  it.each(SHELLS)('completions/%s is up to date (run `npm run completions`)', (shell) => {
    const committed = readFileSync(new URL(`../../completions/${SCRIPT_FILES[shell]}`, import.meta.url), 'utf8');
    expect(committed).toBe(completionScript(shell));
  });

  it('every script calls `__complete` and knows the directives', () => {
    for (const shell of SHELLS) expect(completionScript(shell)).toContain('__complete');
    expect(completionScript('bash')).toContain('complete -F __opsctl_complete opsctl');
    expect(completionScript('zsh').startsWith('#compdef opsctl')).toBe(true);
  });
});

describe('shell words and hints', () => {
  it('splits lines like sh', () => {
    expect(splitLine(`config set a.b 'two words' "q\\"x" c\\ d`).words).toEqual(['config', 'set', 'a.b', 'two words', 'q"x', 'c d']);
    expect(() => splitLine(`config get 'x`)).toThrow(/unclosed single quote/);
    expect(completionWords('config ')).toEqual(['config', '']);
    expect(completionWords(`config get 'pro`)).toEqual(['config', 'get', 'pro']);
  });

  it('hints what a command still expects', () => {
    expect(hintFor(program, 'config get ')).toBe('<path>');
    expect(hintFor(program, 'config set ')).toBe('<path> <value> [--string]');
    expect(hintFor(program, 'config set a ')).toBe('<value> [--string]');
    expect(hintFor(program, 'config')).toMatch(/^ init\|validate\|show/);
    expect(hintFor(program, '-o ')).toBe('table|json|yaml|csv');
    expect(hintFor(program, 'use')).toBe(' <profile>');
    expect(hintFor(program, 'use dev ')).toBe('');
    expect(hintFor(program, 'bogus ')).toBe('');
    expect(hintFor(program, 'conf')).toBe('');
    expect(hintFor(program, '')).toBe('');
  });
});

describe('shell history', () => {
  it('appends each line, keeps other shells\' lines, skips lines starting with a blank', async () => {
    const file = join(dir, 'state', 'opsctl', 'history');
    const a = new History(file, 3);
    await a.append('config show');
    await new History(file, 3).append('doctor');
    await a.append(' config set x secret');
    await a.append('');
    expect(await a.load()).toEqual(['config show', 'doctor']);
    expect(readFileSync(file, 'utf8')).toBe('config show\ndoctor\n');
  });

  it('keeps the newest lines and trims a file that grew past twice the limit', async () => {
    const file = join(dir, 'trim', 'history');
    mkdirSync(join(dir, 'trim'));
    writeFileSync(file, ['1', '2', '3', '4', '5', '6', '7'].join('\n'));
    expect(await new History(file, 3).load()).toEqual(['5', '6', '7']);
    expect(readFileSync(file, 'utf8')).toBe('5\n6\n7\n');
  });
});
