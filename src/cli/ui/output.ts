import Table from 'cli-table3';
import { stringify as toYaml } from 'yaml';
import { OpsError } from '../../core/errors.js';
import type { IOStreams } from './io.js';
import type { Theme } from './theme.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Column<Row> {
  /** Field name in the row (and in json/yaml/csv output). */
  key: keyof Row & string;
  /** Table heading; defaults to the key in upper case. */
  header?: string;
  /** Human rendering of the value, for tables only (json keeps the raw value). */
  format?: (value: Row[keyof Row], row: Row) => string;
}

/** `-o` wins over `--json`; without either, people get a table. */
export function resolveFormat(options: { output?: string; json?: boolean }): OutputFormat {
  if (options.output !== undefined) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(options.output)) {
      throw new OpsError('USAGE', `unknown output format "${options.output}"`, {
        hint: `use one of: ${OUTPUT_FORMATS.join(', ')}`,
      });
    }
    return options.output as OutputFormat;
  }
  return options.json === true ? 'json' : 'table';
}

/**
 * The one output layer. Data goes to stdout in the chosen format; messages go to stderr and are
 * silenced by `--quiet`. Commands hand it plain data and never write to the streams themselves.
 */
export class Output {
  constructor(
    readonly io: IOStreams,
    readonly format: OutputFormat,
    readonly theme: Theme,
    readonly quiet = false,
  ) {}

  get machineReadable(): boolean {
    return this.format !== 'table';
  }

  /** A list of records: table, JSON array, YAML sequence or CSV with a header row. */
  list<Row extends object>(rows: readonly Row[], columns: readonly Column<Row>[]): void {
    switch (this.format) {
      case 'json':
        this.io.stdout.write(`${JSON.stringify(rows, jsonReplacer, 2)}\n`);
        return;
      case 'yaml':
        this.io.stdout.write(rows.length === 0 ? '[]\n' : toYaml(rows));
        return;
      case 'csv':
        this.io.stdout.write(toCsv(rows, columns));
        return;
      case 'table':
        this.io.stdout.write(this.table(rows, columns));
    }
  }

  /**
   * One record. `human` renders it for people (table format); without it a two-column
   * key/value table is printed.
   */
  object<T extends object>(value: T, human?: (value: T) => string): void {
    switch (this.format) {
      case 'json':
        this.io.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
        return;
      case 'yaml':
        this.io.stdout.write(toYaml(value));
        return;
      case 'csv':
        this.io.stdout.write(toCsv([value], Object.keys(value).map((key) => ({ key }) as Column<T>)));
        return;
      case 'table': {
        const text = human ? human(value) : this.keyValueTable(value);
        this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      }
    }
  }

  /** Raw text data on stdout (a config file, a generated script). */
  text(text: string): void {
    this.io.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  }

  /** A message for people on stderr; `--quiet` hides it. */
  message(text: string): void {
    if (!this.quiet) this.io.stderr.write(`${text}\n`);
  }

  /** A warning on stderr; shown even with `--quiet`. */
  warning(text: string): void {
    this.io.stderr.write(`${this.theme.warn('warning:')} ${text}\n`);
  }

  table<Row extends object>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
    const table = new Table({
      head: columns.map((column) => this.theme.heading(column.header ?? column.key.toUpperCase())),
      chars: PLAIN_TABLE_CHARS,
      style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
      wordWrap: false,
    });
    for (const row of rows) {
      table.push(columns.map((column) => cellText(row, column)));
    }
    return `${table.toString().split('\n').map((line) => line.trimEnd()).join('\n')}\n`;
  }

  private keyValueTable(value: object): string {
    const table = new Table({ chars: PLAIN_TABLE_CHARS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 } });
    for (const [key, item] of Object.entries(value)) {
      table.push([this.theme.heading(key), plain(item)]);
    }
    return `${table.toString().split('\n').map((line) => line.trimEnd()).join('\n')}\n`;
  }
}

// Borderless, like kubectl and gh: easy to read, easy to grep.
const PLAIN_TABLE_CHARS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '',
};

function cellText<Row extends object>(row: Row, column: Column<Row>): string {
  const value = row[column.key];
  return column.format ? column.format(value, row) : plain(value);
}

function plain(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value, jsonReplacer);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** RFC 4180: quote a field when it holds a comma, quote, CR or LF; double inner quotes. */
export function toCsv<Row extends object>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const field = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const lines = [columns.map((column) => field(column.key)).join(',')];
  for (const row of rows) lines.push(columns.map((column) => field(plain(row[column.key]))).join(','));
  return `${lines.join('\n')}\n`;
}
