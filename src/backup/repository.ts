import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.js';
import { OpsError } from '../core/errors.js';
import { ageDecryptBuffer, ageEncryptBuffer, keyIdOf, type AgeIdentity } from './age.js';
import type { Storage } from './storage.js';
import {
  CHECK_TEXT,
  lockSchema,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  manifestSchema,
  REPO_FORMAT,
  REPO_VERSION,
  repoFileSchema,
  runRecordSchema,
  type BackupKind,
  type KeyEntry,
  type LockRecord,
  type Manifest,
  type RepoFile,
  type RunRecord,
} from './types.js';

const REPO_FILE = 'repo.json';
/** Temp files outside a backup directory older than this belong to a dead writer. */
const TEMP_GRACE_MS = 10 * 60 * 1000;

/** How a new repository is encrypted. */
export type RepoEncryption = { scheme: 'none' } | { scheme: 'age'; key: AgeIdentity };

/** What the next run found and removed (docs/backup-repository.md, "Atomic writes"). */
export interface CleanupReport {
  removedBackups: string[];
  removedTemp: string[];
  failedRuns: string[];
}

/** Facts about this process that locks and run records carry. */
export interface ProcessIdentity {
  pid: number;
  host: string;
}

const thisProcess: ProcessIdentity = { pid: process.pid, host: hostname() };

/**
 * A backup repository: repo.json, manifests, the run catalog and locks over a Storage. Opening
 * needs no key (listing and fast verification read only plaintext manifests); `unlock` checks the
 * configured identities against the sealed check block before anything is decrypted or written.
 */
export class Repository {
  #identities: string[] | undefined;

  private constructor(
    readonly storage: Storage,
    readonly file: RepoFile,
    readonly clock: Clock,
    readonly self: ProcessIdentity,
  ) {}

  /**
   * Creates repo.json in an empty (or missing) location. Refuses an existing repository and a
   * location holding anything else.
   */
  static async init(storage: Storage, encryption: RepoEncryption, options: { clock?: Clock } = {}): Promise<Repository> {
    const clock = options.clock ?? systemClock;
    if ((await storage.stat(REPO_FILE)) !== undefined) {
      throw new OpsError('BACKUP_REPO_EXISTS', `${storage.location} is already a backup repository`);
    }
    const existing = [...(await storage.list('')), ...(await storage.listTemp('')).map((temp) => temp.key)];
    if (existing.length > 0) {
      throw new OpsError('BACKUP_REPO_FOREIGN', `${storage.location} is not empty and not a backup repository (holds ${existing[0]})`, {
        hint: 'choose an empty or new directory',
      });
    }
    const id = randomBytes(8).toString('hex');
    const createdAt = new Date(clock.now()).toISOString();
    let file: RepoFile;
    if (encryption.scheme === 'none') {
      file = { format: REPO_FORMAT, version: REPO_VERSION, id, createdAt, encryption: { scheme: 'none' } };
    } else {
      const key: KeyEntry = { id: keyIdOf(encryption.key.recipient), recipient: encryption.key.recipient, createdAt };
      const check = await ageEncryptBuffer(Buffer.from(JSON.stringify({ check: CHECK_TEXT, repository: id })), [key.recipient]);
      file = {
        format: REPO_FORMAT,
        version: REPO_VERSION,
        id,
        createdAt,
        encryption: { scheme: 'age', activeKey: key.id, keys: [key], check: check.toString('base64') },
      };
    }
    await storage.put(REPO_FILE, [Buffer.from(`${JSON.stringify(file, null, 2)}\n`)]);
    const repo = new Repository(storage, file, clock, thisProcess);
    if (encryption.scheme === 'age') repo.#identities = [encryption.key.identity];
    return repo;
  }

  /** Reads repo.json: BACKUP_REPO_NOT_FOUND, BACKUP_REPO_VERSION or BACKUP_REPO_CORRUPT when it cannot. */
  static async open(storage: Storage, options: { clock?: Clock; self?: ProcessIdentity } = {}): Promise<Repository> {
    const raw = await storage.read(REPO_FILE);
    if (raw === undefined) {
      throw new OpsError('BACKUP_REPO_NOT_FOUND', `no backup repository at ${storage.location} (repo.json missing)`, {
        hint: 'create one with `opsctl backup init`, or fix backup.repository / --repo',
      });
    }
    const file = parseDocument(raw, `${storage.location}/${REPO_FILE}`, REPO_FORMAT, REPO_VERSION, repoFileSchema);
    return new Repository(storage, file, options.clock ?? systemClock, options.self ?? thisProcess);
  }

  get id(): string {
    return this.file.id;
  }

  get encrypted(): boolean {
    return this.file.encryption.scheme === 'age';
  }

  /** The key id new objects are encrypted to, or undefined for an unencrypted repository. */
  get activeKey(): KeyEntry | undefined {
    const encryption = this.file.encryption;
    if (encryption.scheme !== 'age') return undefined;
    return encryption.keys.find((key) => key.id === encryption.activeKey);
  }

  /** Identities that opened the check block (after unlock). */
  get identities(): readonly string[] {
    if (this.encrypted && this.#identities === undefined) throw new Error('repository is locked: call unlock() first');
    return this.#identities ?? [];
  }

  /**
   * Proves the identities open this repository: the check block decrypts and names this
   * repository. BACKUP_KEY_MISSING without identities, BACKUP_WRONG_KEY when they do not fit.
   */
  async unlock(identities: readonly AgeIdentity[] | undefined, source = 'the key file'): Promise<void> {
    const encryption = this.file.encryption;
    if (encryption.scheme !== 'age') return;
    if (identities === undefined || identities.length === 0) {
      throw new OpsError('BACKUP_KEY_MISSING', `the repository at ${this.storage.location} is encrypted and no key is configured`, {
        hint: 'set backup.keyFile in the profile or pass --key-file <age identity file>',
        details: { keyIds: encryption.keys.map((key) => key.id) },
      });
    }
    const wrongKey = () =>
      new OpsError('BACKUP_WRONG_KEY', `${source} does not open the repository at ${this.storage.location}`, {
        hint: `the repository expects key ${encryption.activeKey}; ${source} holds ${identities.map((key) => keyIdOf(key.recipient)).join(', ')}`,
        details: { expected: encryption.keys.map((key) => key.id), given: identities.map((key) => keyIdOf(key.recipient)) },
      });
    let plaintext: Buffer;
    try {
      plaintext = await ageDecryptBuffer(Buffer.from(encryption.check, 'base64'), identities.map((key) => key.identity));
    } catch (error) {
      if (error instanceof OpsError && error.code === 'BACKUP_WRONG_KEY') throw wrongKey();
      throw new OpsError('BACKUP_REPO_CORRUPT', `the check block of ${this.storage.location}/${REPO_FILE} is damaged`, { cause: error });
    }
    const check = safeJson(plaintext) as { check?: unknown; repository?: unknown } | undefined;
    if (check?.check !== CHECK_TEXT || check.repository !== this.file.id) throw wrongKey();
    this.#identities = identities.map((key) => key.identity);
  }

  /** A new backup id: UTC timestamp, kind, 6 random hex digits (sortable as strings). */
  newBackupId(kind: BackupKind): string {
    const stamp = new Date(this.clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    return `${stamp}-${kind}-${randomBytes(3).toString('hex')}`;
  }

  /** Every complete backup (directories with a manifest), oldest first. */
  async listBackups(): Promise<Manifest[]> {
    const keys = await this.storage.list('backups');
    const manifests: Manifest[] = [];
    for (const key of keys) {
      const match = /^backups\/([^/]+)\/manifest\.json$/.exec(key);
      if (match !== null) manifests.push(await this.readManifest(match[1]!));
    }
    return manifests.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** BACKUP_NOT_FOUND when the backup has no manifest. */
  async readManifest(id: string): Promise<Manifest> {
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw notFound(id);
    const raw = await this.storage.read(`backups/${id}/manifest.json`);
    if (raw === undefined) throw notFound(id);
    return parseDocument(raw, `backups/${id}/manifest.json`, MANIFEST_FORMAT, MANIFEST_VERSION, manifestSchema);
  }

  /** The commit: after this the backup exists. */
  async writeManifest(manifest: Manifest): Promise<void> {
    await this.storage.put(`backups/${manifest.id}/manifest.json`, [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]);
  }

  async writeRun(record: RunRecord): Promise<void> {
    await this.storage.put(`runs/${record.id}.json`, [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
  }

  /** The run catalog, newest first. */
  async listRuns(): Promise<RunRecord[]> {
    const runs: RunRecord[] = [];
    for (const key of await this.storage.list('runs')) {
      if (!key.endsWith('.json')) continue;
      const raw = await this.storage.read(key);
      if (raw === undefined) continue;
      const parsed = runRecordSchema.safeParse(safeJson(raw));
      if (!parsed.success) throw new OpsError('BACKUP_REPO_CORRUPT', `run record ${key} is not valid`);
      runs.push(parsed.data);
    }
    return runs.sort((a, b) => b.id.localeCompare(a.id));
  }

  /**
   * Takes `locks/<kind>.lock`. A lock of this host whose process is gone is stale and taken over;
   * otherwise BACKUP_LOCKED naming the holder.
   */
  async acquireLock(kind: BackupKind, backupId: string): Promise<() => Promise<void>> {
    const key = `locks/${kind}.lock`;
    const record: LockRecord = { ...this.self, backupId, startedAt: new Date(this.clock.now()).toISOString() };
    const data = Buffer.from(`${JSON.stringify(record)}\n`);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (await this.storage.create(key, data)) {
        return async () => {
          const current = await this.#readLock(key);
          if (current?.backupId === backupId) await this.storage.delete(key);
        };
      }
      const holder = await this.#readLock(key);
      if (holder !== undefined && !this.#isStale(holder)) {
        throw new OpsError('BACKUP_LOCKED', `another ${kind} backup is running (${holder.backupId}, pid ${holder.pid} on ${holder.host}, since ${holder.startedAt})`, {
          hint: holder.host === this.self.host
            ? 'wait for it to finish'
            : `wait for it to finish; if that process is gone, remove ${this.storage.location}/${key}`,
          details: { lock: holder },
        });
      }
      await this.storage.delete(key);
    }
    throw new OpsError('BACKUP_LOCKED', `could not take ${key}: other runs keep taking it`);
  }

  async #readLock(key: string): Promise<LockRecord | undefined> {
    const raw = await this.storage.read(key);
    if (raw === undefined) return undefined;
    const parsed = lockSchema.safeParse(safeJson(raw));
    // An unreadable lock is a crash between create and write: treat it as stale.
    return parsed.success ? parsed.data : undefined;
  }

  #isStale(lock: LockRecord): boolean {
    return lock.host === this.self.host && !processAlive(lock.pid);
  }

  /** Backup ids named by live locks: their directories are still being written. */
  async #liveBackupIds(): Promise<Set<string>> {
    const live = new Set<string>();
    for (const key of await this.storage.list('locks')) {
      const lock = await this.#readLock(key);
      if (lock !== undefined && !this.#isStale(lock)) live.add(lock.backupId);
    }
    return live;
  }

  /**
   * Removes what interrupted runs left: backup directories without a manifest that no live lock
   * names, old temp files, and marks their `running` records failed.
   */
  async cleanup(): Promise<CleanupReport> {
    const report: CleanupReport = { removedBackups: [], removedTemp: [], failedRuns: [] };
    const live = await this.#liveBackupIds();
    const keys = await this.storage.list('backups');
    const temps = await this.storage.listTemp('backups');
    const dirs = new Set([...keys, ...temps.map((temp) => temp.key)].map((key) => key.split('/')[1]!));
    const complete = new Set(keys.filter((key) => key.endsWith('/manifest.json')).map((key) => key.split('/')[1]!));
    for (const id of dirs) {
      if (complete.has(id) || live.has(id)) continue;
      await this.storage.deletePrefix(`backups/${id}`);
      report.removedBackups.push(id);
    }
    const now = this.clock.now();
    for (const temp of await this.storage.listTemp('')) {
      const inBackup = temp.key.startsWith('backups/');
      if (inBackup && live.has(temp.key.split('/')[1]!)) continue;
      if (!inBackup && now - temp.modified.getTime() < TEMP_GRACE_MS) continue;
      if (inBackup && !complete.has(temp.key.split('/')[1]!)) continue; // already removed with its directory
      await this.storage.deleteTemp(temp.key);
      report.removedTemp.push(temp.key);
    }
    for (const run of await this.listRuns()) {
      if (run.status !== 'running' || live.has(run.id)) continue;
      if (run.host !== this.self.host || processAlive(run.pid)) continue;
      const finishedAt = new Date(now).toISOString();
      await this.writeRun({
        ...run,
        status: 'failed',
        finishedAt,
        durationMs: now - Date.parse(run.startedAt),
        error: { code: 'INTERRUPTED', message: 'interrupted (process gone)' },
      });
      report.failedRuns.push(run.id);
    }
    return report;
  }
}

function notFound(id: string): OpsError {
  return new OpsError('BACKUP_NOT_FOUND', `no backup "${id}" in this repository`, { hint: 'list backups with `opsctl backup list`' });
}

function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Checks format and version before the shape, so a newer file gets the version error. */
function parseDocument<T>(raw: Buffer, name: string, format: string, version: number, schema: z.ZodType<T>): T {
  const value = safeJson(raw) as { format?: unknown; version?: unknown } | undefined;
  if (value === undefined || value.format !== format) {
    throw new OpsError('BACKUP_REPO_CORRUPT', `${name} is not a valid ${format} document`);
  }
  if (typeof value.version === 'number' && value.version > version) {
    throw new OpsError('BACKUP_REPO_VERSION', `${name} has format version ${value.version}; this opsctl reads version ${version}`, {
      hint: 'upgrade opsctl; nothing was changed',
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OpsError('BACKUP_REPO_CORRUPT', `${name} is damaged: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
  }
  return parsed.data;
}

/** Whether a process exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
