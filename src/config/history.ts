import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { OpsError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * The configuration history: before opsctl replaces a configuration file, the previous content
 * is kept under `<config dir>/.opsctl/config-history/<id>/` (the file, and `meta.json`). Ids
 * sort in time order: `<UTC timestamp>-<first 7 hex of the sha256>`.
 */
export interface HistoryEntry {
  id: string;
  /** ISO time the entry was written (when the file was replaced). */
  when: string;
  /** The opsctl command that replaced the file (`config set`, `dev up`, …). */
  command: string;
  /** What that command changed (`set profiles.prod.redis.url`), never a value. */
  change: string;
  /** sha256 of the kept content. */
  sha256: string;
  /** Size of the kept content in bytes. */
  size: number;
  /** Base name of the configuration file the entry belongs to. */
  file: string;
}

const META = 'meta.json';

export function historyDir(configPath: string): string {
  return path.join(path.dirname(configPath), '.opsctl', 'config-history');
}

export function sha256(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

function stamp(ms: number): string {
  // 2025-01-02T03:04:05.678Z → 20250102T030405678Z: sortable, no characters a shell dislikes.
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

/** Keeps `content` (the file about to be replaced) and returns its entry. */
export async function recordHistory(
  configPath: string,
  content: string,
  meta: { command: string; change: string; now: number },
): Promise<HistoryEntry> {
  const dir = historyDir(configPath);
  // History may hold literal secrets from the file: only the owner may read it.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hash = sha256(content);
  const existing = new Set(await readdir(dir).catch(() => [] as string[]));
  let ms = meta.now;
  // Two writes in the same millisecond still get distinct, ordered ids.
  while ([...existing].some((id) => id.startsWith(`${stamp(ms)}-`))) ms += 1;
  const id = `${stamp(ms)}-${hash.slice(0, 7)}`;
  const entry: HistoryEntry = {
    id,
    when: new Date(ms).toISOString(),
    command: meta.command,
    change: meta.change,
    sha256: hash,
    size: Buffer.byteLength(content, 'utf8'),
    file: path.basename(configPath),
  };
  await mkdir(path.join(dir, id), { mode: 0o700 });
  await writeFileAtomic(path.join(dir, id, entry.file), content, { mode: 0o600 });
  // meta.json last: an entry without it is incomplete and is not listed.
  await writeFileAtomic(path.join(dir, id, META), `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
  return entry;
}

/** The entries of one configuration file, oldest first. */
export async function listHistory(configPath: string): Promise<HistoryEntry[]> {
  const dir = historyDir(configPath);
  const ids = await readdir(dir).catch(() => [] as string[]);
  const entries: HistoryEntry[] = [];
  for (const id of ids.sort()) {
    const text = await readFile(path.join(dir, id, META), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try {
      const entry = JSON.parse(text) as HistoryEntry;
      if (entry.id === id && entry.file === path.basename(configPath)) entries.push(entry);
    } catch {
      // A damaged meta.json is skipped rather than failing the whole listing.
    }
  }
  return entries;
}

/** An entry by id, unique id prefix, or its hash part; CONFIG_HISTORY_UNKNOWN otherwise. */
export async function findHistoryEntry(configPath: string, ref: string): Promise<HistoryEntry> {
  const entries = await listHistory(configPath);
  const exact = entries.find((entry) => entry.id === ref);
  if (exact !== undefined) return exact;
  const matches = entries.filter((entry) => entry.id.startsWith(ref) || entry.id.endsWith(`-${ref}`));
  if (matches.length === 1) return matches[0]!;
  throw new OpsError(
    'CONFIG_HISTORY_UNKNOWN',
    matches.length > 1
      ? `"${ref}" matches ${matches.length} history entries of ${path.basename(configPath)}`
      : `no history entry "${ref}" for ${path.basename(configPath)}`,
    {
      hint: entries.length === 0 ? 'the file has no history yet: opsctl keeps one on every write' : 'list the entries with `opsctl config history`',
      details: { ref, matches: matches.map((entry) => entry.id) },
    },
  );
}

export async function readHistoryContent(configPath: string, entry: HistoryEntry): Promise<string> {
  return readFile(path.join(historyDir(configPath), entry.id, entry.file), 'utf8');
}

/** A unified diff (`--- a` / `+++ b` / hunks with 3 lines of context); empty when equal. */
export function unifiedDiff(oldName: string, newName: string, oldText: string, newText: string): string {
  if (oldText === newText) return '';
  return createTwoFilesPatch(oldName, newName, oldText, newText, undefined, undefined, { context: 3 });
}
