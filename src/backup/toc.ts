import { once } from 'node:events';
import { Transform, type TransformCallback } from 'node:stream';
import type { Stage } from './compression.js';
import type { TocEntry } from './types.js';

// Entry types of more than one word, as pg_restore --list prints them (longest first).
const MULTI_WORD_TYPES = [
  'PUBLICATION TABLES IN SCHEMA',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH TEMPLATE',
  'TEXT SEARCH PARSER',
  'MATERIALIZED VIEW DATA',
  'FOREIGN DATA WRAPPER',
  'DATABASE PROPERTIES',
  'PROCEDURAL LANGUAGE',
  'SEQUENCE OWNED BY',
  'MATERIALIZED VIEW',
  'PUBLICATION TABLE',
  'CHECK CONSTRAINT',
  'OPERATOR FAMILY',
  'OPERATOR CLASS',
  'FOREIGN SERVER',
  'STATISTICS DATA',
  'EVENT TRIGGER',
  'FK CONSTRAINT',
  'FOREIGN TABLE',
  'ACCESS METHOD',
  'INDEX ATTACH',
  'LARGE OBJECT',
  'ROW SECURITY',
  'SEQUENCE SET',
  'TABLE ATTACH',
  'USER MAPPING',
  'DEFAULT ACL',
  'SHELL TYPE',
  'TABLE DATA',
  'BLOB METADATA',
];

/**
 * Parses `pg_restore --list` output: lines `215; 1259 16385 TABLE public users postgres`
 * (dump id; catalog oid, object oid, type, schema, name, owner). Comment lines start with `;`.
 * Names may contain spaces (`COMMENT - EXTENSION plpgsql`), so schema is the first word after
 * the type and owner the last.
 */
export function parseTocList(text: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of text.split('\n')) {
    // No trimming: an entry without owner ends in a space (`COMMENT - EXTENSION plpgsql `).
    const match = /^(\d+);\s+\d+\s+\d+\s+(.*)$/.exec(line.replace(/\r$/, ''));
    if (match === null) continue;
    const rest = match[2]!;
    const type = MULTI_WORD_TYPES.find((candidate) => rest.startsWith(`${candidate} `)) ?? rest.split(' ')[0]!;
    const words = rest.slice(type.length + 1).split(' ');
    const schema = words[0] ?? '-';
    const owner = words.length > 2 ? words.at(-1)! : '';
    const name = words.slice(1, words.length > 2 ? -1 : undefined).join(' ');
    entries.push({ id: Number(match[1]), type, schema, name, owner });
  }
  return entries;
}

/** `schema.table` for every TABLE entry. */
export function tablesOf(toc: readonly TocEntry[]): string[] {
  return toc.filter((entry) => entry.type === 'TABLE').map((entry) => `${entry.schema}.${entry.name}`);
}

/**
 * A pass-through that also feeds what flows to `pg_restore --list` on its stdin, for as long as
 * pg_restore reads (it stops after the table of contents, which a custom-format dump written to
 * a pipe carries at its start). The main stream is never slowed beyond pg_restore's reading.
 */
export class TocTee extends Transform {
  #open = true;
  #output = '';
  readonly #closed: Promise<void>;

  constructor(private readonly lister: Stage) {
    super();
    lister.output.setEncoding('utf8').on('data', (text: string) => {
      this.#output += text;
    });
    this.#closed = lister.done.then(
      () => {
        this.#open = false;
      },
      () => {
        this.#open = false;
      },
    );
    lister.input.once('close', () => {
      this.#open = false;
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#open || this.lister.input.writableEnded || this.lister.input.destroyed) return callback(null, chunk);
    if (this.lister.input.write(chunk)) return callback(null, chunk);
    Promise.race([once(this.lister.input, 'drain'), this.#closed]).then(
      () => callback(null, chunk),
      () => callback(null, chunk),
    );
  }

  override _flush(callback: TransformCallback): void {
    if (!this.lister.input.writableEnded) this.lister.input.end();
    callback();
  }

  /** The parsed list, once pg_restore has exited (rejects when it failed). */
  async entries(): Promise<TocEntry[]> {
    await this.lister.done;
    return parseTocList(this.#output);
  }
}
