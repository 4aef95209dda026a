import path from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { OpsError } from '../core/errors.js';
import type { PathSegment } from './paths.js';

/** How a configuration file is written; decides how it is parsed and whether opsctl may edit it. */
export type ConfigFormat = 'yaml' | 'json' | 'js' | 'package.json';

/** 1-based line and column in a file. */
export interface Position {
  line: number;
  column: number;
}

/** A configuration file, read and parsed, with a way back from key paths to file positions. */
export interface ConfigSource {
  filepath: string;
  format: ConfigFormat;
  /** The file's text; undefined for JS/TS modules, which are evaluated rather than parsed. */
  text: string | undefined;
  /** The configuration as written: the parsed file, or package.json's `opsctl` property. */
  data: unknown;
  /**
   * Where a key path is written: the key itself (`target: 'key'`, for unknown keys) or its value.
   * A path that is not in the file gives the position of its deepest existing parent.
   */
  locate(path: readonly PathSegment[], target?: 'key' | 'value'): Position | undefined;
}

const JS_EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);

/** The format of a configuration file, from its name (`.opsctlrc` and unknown extensions are YAML, a superset of JSON). */
export function formatOf(filepath: string): ConfigFormat {
  const base = path.basename(filepath);
  const extension = path.extname(base).toLowerCase();
  if (base === 'package.json') return 'package.json';
  if (extension === '.json') return 'json';
  if (JS_EXTENSIONS.has(extension)) return 'js';
  return 'yaml';
}

/** A parsed YAML (or JSON) text with the line index needed to report positions. */
export interface ParsedYaml {
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/**
 * Parses YAML, failing with CONFIG_PARSE at `file:line:col`. Also used for JSON files, only to
 * find key positions: JSON is valid YAML, and yaml's node ranges point into the text.
 */
export function parseYaml(text: string, filepath: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, keepSourceTokens: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
    const reason = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
    throw parseError(filepath, { line: position.line, column: position.col }, reason, error);
  }
  return { doc, lineCounter };
}

/** Parses JSON, failing with CONFIG_PARSE at `file:line:col` (V8 reports an offset, or line and column). */
export function parseJson(text: string, filepath: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const lineColumn = /line (\d+) column (\d+)/.exec(message);
    const offset = /position (\d+)/.exec(message);
    let position: Position = { line: 1, column: 1 };
    if (lineColumn) position = { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
    else if (offset) position = positionOfOffset(text, Number(offset[1]));
    const reason = message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+.*$/, '');
    throw parseError(filepath, position, reason, error);
  }
}

function parseError(filepath: string, position: Position, reason: string, cause: unknown): OpsError {
  return new OpsError('CONFIG_PARSE', `${filepath}:${position.line}:${position.column}: ${reason}`, {
    hint: `fix the syntax at line ${position.line}, column ${position.column}, then run \`opsctl config validate\``,
    cause,
    details: { file: filepath, line: position.line, column: position.column, reason },
  });
}

function positionOfOffset(text: string, offset: number): Position {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/** A source over YAML, JSON or package.json text. Throws CONFIG_PARSE on a syntax error. */
export function sourceFromText(filepath: string, text: string, format: ConfigFormat = formatOf(filepath)): ConfigSource {
  if (format === 'js') throw new Error('sourceFromText: JS/TS configuration is evaluated, not parsed');
  if (format === 'yaml') {
    const parsed = parseYaml(text, filepath);
    return {
      filepath,
      format,
      text,
      data: parsed.doc.toJS({ maxAliasCount: 1000 }) as unknown,
      locate: (keyPath, target) => locateInDocument(parsed, keyPath, target),
    };
  }
  const json = parseJson(text, filepath);
  const prefix: PathSegment[] = format === 'package.json' ? ['opsctl'] : [];
  const data = format === 'package.json' ? (json as Record<string, unknown> | null)?.opsctl : json;
  let located: ParsedYaml | null | undefined;
  return {
    filepath,
    format,
    text,
    data,
    locate: (keyPath, target) => {
      // Positions are only needed when something is wrong: parse for them lazily.
      if (located === undefined) {
        try {
          located = parseYaml(text, filepath);
        } catch {
          located = null;
        }
      }
      return located === null ? undefined : locateInDocument(located, [...prefix, ...keyPath], target);
    },
  };
}

/** A source for an evaluated JS/TS module: no text, no positions. */
export function sourceFromModule(filepath: string, data: unknown): ConfigSource {
  return { filepath, format: 'js', text: undefined, data, locate: () => undefined };
}

/** Walks a YAML document along a key path and returns the position of the key or value found. */
export function locateInDocument(
  { doc, lineCounter }: ParsedYaml,
  keyPath: readonly PathSegment[],
  target: 'key' | 'value' = 'value',
): Position | undefined {
  const positionOf = (node: Node | null | undefined): Position | undefined => {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  let node: Node | null | undefined = doc.contents;
  // The deepest node found so far: where a missing key would have to be written.
  let deepest: Node | null | undefined = node;
  for (const [i, segment] of keyPath.entries()) {
    const last = i === keyPath.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment));
      if (pair === undefined) return positionOf(deepest);
      const key = pair.key as Node | null;
      const value = pair.value as Node | null;
      if (last) return positionOf(target === 'key' ? key : (value ?? key));
      deepest = key ?? deepest;
      node = value;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)] as Node | undefined;
      if (item === undefined) return positionOf(deepest);
      if (last) return positionOf(item);
      deepest = item;
      node = item;
    } else {
      return positionOf(deepest);
    }
  }
  return positionOf(node ?? deepest);
}
