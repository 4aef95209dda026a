import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isOpsError } from '../core/errors.js';
import { findPgTool } from '../postgres/tools.js';
import { createAgeDecryptStream } from './age.js';
import { childStage, codecFor } from './compression.js';
import type { Repository } from './repository.js';
import { HashTap, settleAll } from './streams.js';
import { TocTee } from './toc.js';
import type { ObjectInfo } from './storage.js';
import type { Manifest, ObjectRecord, TocEntry } from './types.js';
import { readVerification, unchangedSincePassed, VERIFICATION_FORMAT, VERIFICATION_VERSION, writeVerification, type VerificationRecord } from './verification.js';

/** What verification found about one object. */
export type ObjectStatus = 'ok' | 'missing' | 'size-mismatch' | 'hash-mismatch' | 'decrypt-failed' | 'decompress-failed' | 'content-mismatch' | 'toc-mismatch'
  | 'block-mismatch' | 'wal-missing';

export interface ObjectCheck {
  backup: string;
  object: string;
  status: ObjectStatus;
  detail: string;
}

export interface VerifyOptions {
  /** Decrypt, decompress, hash the content and list dumps with pg_restore (needs the key). */
  deep?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * Checks every object of a backup. Fast: each object is present, of the recorded size, and its
 * stored bytes hash to the manifest's sha256Stored (no key needed). Deep, in the same read:
 * decrypts, decompresses, compares size and SHA-256 of the content, and runs `pg_restore --list`
 * on dumps, comparing the table of contents with the manifest's. Problems are returned, not
 * thrown; the caller decides the exit code.
 */
export async function verifyBackup(repo: Repository, manifest: Manifest, options: VerifyOptions = {}): Promise<ObjectCheck[]> {
  return (await checkObjects(repo, manifest, options, undefined)).checks;
}

/**
 * verifyBackup, incrementally: a fast check does not read objects unchanged since they passed
 * (`full` reads everything; deep always reads), and the outcome is recorded for the next run and
 * for retention (verification.ts).
 */
export async function verifyBackupIncrementally(repo: Repository, manifest: Manifest, options: VerifyOptions & { full?: boolean } = {}): Promise<ObjectCheck[]> {
  const previous = options.full === true ? undefined : await readVerification(repo, manifest.id);
  const { checks, seen } = await checkObjects(repo, manifest, options, previous);
  const objects: VerificationRecord['objects'] = {};
  for (const [path, info] of seen) {
    const ok = checks.every((check) => check.object !== path || check.status === 'ok');
    const skipped = unchangedSincePassed(previous, path, info, options.deep === true);
    objects[path] = { size: info.size, modified: info.modified.toISOString(), version: info.version, ok, deep: skipped ? previous!.objects[path]!.deep : options.deep === true };
  }
  await writeVerification(repo, { format: VERIFICATION_FORMAT, version: VERIFICATION_VERSION, backup: manifest.id, verifiedAt: new Date(repo.clock.now()).toISOString(), objects });
  return checks;
}

async function checkObjects(
  repo: Repository,
  manifest: Manifest,
  options: VerifyOptions,
  previous: VerificationRecord | undefined,
): Promise<{ checks: ObjectCheck[]; seen: Map<string, ObjectInfo> }> {
  const env = options.env ?? process.env;
  const pgRestore = options.deep === true && manifest.objects.some((object) => object.toc !== undefined)
    ? await findPgTool('pg_restore', { env })
    : undefined;
  const checks: ObjectCheck[] = [];
  const seen = new Map<string, ObjectInfo>();
  for (const object of manifest.objects) {
    options.signal?.throwIfAborted();
    const result = (status: ObjectStatus, detail: string): ObjectCheck => ({ backup: manifest.id, object: object.path, status, detail });
    const key = `backups/${manifest.id}/${object.path}`;
    const info = await repo.storage.stat(key);
    if (info === undefined) {
      checks.push(result('missing', `${key} is missing`));
      continue;
    }
    seen.set(object.path, info);
    if (unchangedSincePassed(previous, object.path, info, options.deep === true)) {
      checks.push(result('ok', `unchanged since it passed on ${previous!.verifiedAt}: not read again (--full reads it)`));
      continue;
    }
    if (info.size !== object.sizeStored) {
      checks.push(result('size-mismatch', `${info.size} bytes stored, manifest says ${object.sizeStored} (truncated or appended)`));
      continue;
    }
    checks.push(
      options.deep === true
        ? await deepCheck(repo, object, key, pgRestore?.path, env, options.signal, result)
        : await fastCheck(repo.storage.get(key), object, options.signal, result),
    );
  }
  if (options.deep === true && manifest.kind === 'pg-physical' && checks.every((check) => check.status === 'ok')) {
    // Physical: every block of every pack it reads (its reference's too) and its WAL range.
    const { verifyPhysicalBlocks } = await import('./pg-physical.js');
    for (const found of await verifyPhysicalBlocks(repo, manifest, options)) {
      checks.push({ backup: manifest.id, ...found });
    }
  }
  return { checks, seen };
}

async function fastCheck(
  source: Readable,
  object: ObjectRecord,
  signal: AbortSignal | undefined,
  result: (status: ObjectStatus, detail: string) => ObjectCheck,
): Promise<ObjectCheck> {
  const tap = new HashTap();
  await pipeline(source, tap, new PassThrough().resume(), signal === undefined ? {} : { signal });
  const digest = tap.digest();
  return digest === object.sha256Stored
    ? result('ok', 'stored bytes match')
    : result('hash-mismatch', `stored bytes hash to ${digest.slice(0, 12)}…, manifest says ${object.sha256Stored.slice(0, 12)}…`);
}

async function deepCheck(
  repo: Repository,
  object: ObjectRecord,
  key: string,
  pgRestorePath: string | undefined,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
  result: (status: ObjectStatus, detail: string) => ObjectCheck,
): Promise<ObjectCheck> {
  const storedTap = new HashTap();
  const decrypt = object.encryption === 'age' ? createAgeDecryptStream(repo.identities) : new PassThrough();
  const codec = await codecFor(object.compression, env);
  const decompress = codec.decompress();
  const content = new HashTap();
  const lister = object.toc !== undefined && pgRestorePath !== undefined
    ? childStage(pgRestorePath, ['--list'], 'pg_restore --list', { env: { PATH: env.PATH, LC_ALL: 'C' } })
    : undefined;
  const tee = lister === undefined ? undefined : new TocTee(lister);
  const sink = new PassThrough().resume();
  const stop = () => {
    decompress.abort();
    lister?.abort();
  };
  const upstream = pipeline(repo.storage.get(key), storedTap, decrypt, decompress.input, signal === undefined ? {} : { signal });
  const downstream = tee === undefined ? pipeline(decompress.output, content, sink) : pipeline(decompress.output, content, tee, sink);
  try {
    await settleAll([upstream, downstream, decompress.done, ...(lister === undefined ? [] : [lister.done])], stop);
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason;
    const message = error instanceof Error ? error.message : String(error);
    if (isOpsError(error) && (error.code === 'BACKUP_DECRYPT_FAILED' || error.code === 'BACKUP_WRONG_KEY')) return result('decrypt-failed', message);
    if (isOpsError(error) && /pg_restore/.test(error.message)) return result('toc-mismatch', message);
    return result('decompress-failed', message);
  }
  if (storedTap.digest() !== object.sha256Stored) return result('hash-mismatch', 'stored bytes do not match the manifest');
  // A v2 pack's content SHA-256 is over its block hashes: the physical check below compares them.
  const contentHashed = object.format !== 'opsctl-pack-v2';
  if (content.bytes !== object.sizeLogical || (contentHashed && content.digest() !== object.sha256Content)) {
    return result('content-mismatch', `content is ${content.bytes} bytes with another SHA-256 than the manifest records (${object.sizeLogical} bytes)`);
  }
  if (tee !== undefined) {
    const toc = await tee.entries();
    if (!sameToc(toc, object.toc ?? [])) return result('toc-mismatch', `pg_restore --list shows ${toc.length} entries, manifest records ${object.toc?.length ?? 0}`);
    return result('ok', `decrypted, decompressed, content matches; pg_restore lists ${toc.length} entries`);
  }
  return result('ok', contentHashed ? 'decrypted, decompressed, content matches' : 'decrypted, decompressed, size matches (its blocks: see blocks)');
}

function sameToc(a: readonly TocEntry[], b: readonly TocEntry[]): boolean {
  return a.length === b.length && a.every((entry, index) => JSON.stringify(entry) === JSON.stringify(b[index]));
}
