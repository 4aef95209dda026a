import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { colorEnabled, testIO } from '../../src/cli/ui/io.js';
import { Output, resolveFormat, toCsv } from '../../src/cli/ui/output.js';
import { createTheme } from '../../src/cli/ui/theme.js';

const rows = [
  { name: 'redis', status: 'pass', latencyMs: 0.4 },
  { name: 'postgres, primary', status: 'fail', latencyMs: null },
];
const columns = [{ key: 'name' }, { key: 'status' }, { key: 'latencyMs', header: 'LATENCY' }] as const;

function render(format: 'table' | 'json' | 'yaml' | 'csv') {
  const io = testIO();
  new Output(io, format, createTheme(false)).list(rows, columns);
  return io.out();
}

describe('output formats', () => {
  it('prints a borderless table with headings', () => {
    expect(render('table')).toBe(
      ['NAME               STATUS  LATENCY', 'redis              pass    0.4', 'postgres, primary  fail', ''].join('\n'),
    );
  });

  it('prints JSON, YAML and CSV that parse back to the same data', () => {
    expect(JSON.parse(render('json'))).toEqual(rows);
    expect(parseYaml(render('yaml'))).toEqual(rows);
    expect(render('csv')).toBe('name,status,latencyMs\nredis,pass,0.4\n"postgres, primary",fail,\n');
  });

  it('quotes CSV fields holding quotes and newlines', () => {
    expect(toCsv([{ a: 'say "hi"\nthere' }], [{ key: 'a' }])).toBe('a\n"say ""hi""\nthere"\n');
  });

  it('lets -o win over --json and rejects unknown formats', () => {
    expect(resolveFormat({ json: true })).toBe('json');
    expect(resolveFormat({ json: true, output: 'yaml' })).toBe('yaml');
    expect(resolveFormat({})).toBe('table');
    expect(() => resolveFormat({ output: 'xml' })).toThrow(/unknown output format "xml"/);
  });

  it('keeps messages on stderr and silences them with --quiet', () => {
    const io = testIO();
    new Output(io, 'json', createTheme(false), true).message('working…');
    new Output(io, 'json', createTheme(false), false).message('done');
    expect(io.out()).toBe('');
    expect(io.err()).toBe('done\n');
  });
});

describe('colour rules', () => {
  it.each([
    [{}, false, true, true],
    [{}, false, false, false],
    [{}, true, true, false],
    [{ NO_COLOR: '1' }, false, true, false],
    [{ NO_COLOR: '' }, false, true, true],
    [{ FORCE_COLOR: '1' }, false, false, true],
    [{ FORCE_COLOR: '0' }, false, true, false],
    [{ FORCE_COLOR: '1', NO_COLOR: '1' }, false, true, false],
    [{ FORCE_COLOR: '1' }, true, true, false],
    [{ TERM: 'dumb' }, false, true, false],
  ])('env %j, --no-color %s, tty %s → colour %s', (env, noColorFlag, isTTY, expected) => {
    expect(colorEnabled({ env, noColorFlag, isTTY })).toBe(expected);
  });

  it('writes status words that survive without colour', () => {
    expect(createTheme(false).status('fail')).toBe('FAIL');
    expect(createTheme(true).status('fail')).toBe('\u001b[31mFAIL\u001b[39m');
  });
});
