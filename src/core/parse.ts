/** Parsing of the human units used in config and flags: durations and byte sizes. */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * `"250ms"`, `"5s"`, `"1m30s"`, `"2h"`, `"7d"` or a number of milliseconds → milliseconds.
 * Returns undefined for anything else so callers can report it with their own context.
 */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined;
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = part.exec(text)) !== null) {
    total += Number(match[1]) * DURATION_UNITS[match[2] as string]!;
    consumed = part.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

/** Milliseconds → the shortest exact human form (`1500` → `1.5s`, `90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms * 10) / 10}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** `"512MiB"`, `"1.5GB"`, `"4096"` → bytes; undefined when not a size. */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase() || 'b';
  const factor = SIZE_UNITS[unit];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

/** Bytes → `"1.5 GiB"`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export interface ParsedRate {
  limit: number;
  periodMs: number;
}

/** `"100/1m"` → 100 per 60 000 ms; a bare unit (`"50/s"`) means one of it. Undefined when invalid. */
export function parseRate(text: string): ParsedRate | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) return undefined;
  const limit = Number(match[1]);
  const period = match[2] as string;
  const periodMs = parseDuration(/^[a-z]+$/.test(period) ? `1${period}` : period);
  if (!Number.isSafeInteger(limit) || limit < 1 || periodMs === undefined || periodMs < 1) return undefined;
  return { limit, periodMs };
}
