import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OpsError } from '../core/errors.js';
import { ageEncryptBuffer, keyIdOf, parseIdentityFile, rewrapAgeHeader, type AgeIdentity } from './age.js';
import { Repository } from './repository.js';
import { HashTap } from './streams.js';
import { CHECK_TEXT, type KeyEntry, type Manifest, type ObjectRecord, type RepoFile } from './types.js';

/** Bytes read before the age header must have ended (age.ts reads at most this much header). */
const HEADER_WINDOW = 64 * 1024;

/**
 * Adds `key` to repo.json and makes it the active key: new backups are encrypted to it, older
 * objects keep needing the key recorded in their `keyId` until rewrapped. The check block is
 * sealed to every key of the repository, so any of them unlocks it. `repo` must be unlocked
 * (the current key proves the right to rotate). Returns the repository reopened and unlocked
 * with the old identities plus the new one.
 */
export async function addRepositoryKey(repo: Repository, key: AgeIdentity): Promise<{ repository: Repository; added: boolean }> {
  const encryption = repo.file.encryption;
  if (encryption.scheme !== 'age') {
    throw new OpsError('USAGE', `the repository at ${repo.storage.location} is not encrypted: it has no key to rotate`, {
      hint: 'create an encrypted repository with `opsctl backup init` and take new backups there',
    });
  }
  const identities = repo.identities;
  const id = keyIdOf(key.recipient);
  const known = encryption.keys.some((entry) => entry.id === id);
  const keys: KeyEntry[] = known ? encryption.keys : [...encryption.keys, { id, recipient: key.recipient, createdAt: new Date(repo.clock.now()).toISOString() }];
  const check = await ageEncryptBuffer(Buffer.from(JSON.stringify({ check: CHECK_TEXT, repository: repo.id })), keys.map((entry) => entry.recipient));
  const file: RepoFile = { ...repo.file, encryption: { scheme: 'age', activeKey: id, keys, check: check.toString('base64') } };
  await repo.storage.put('repo.json', [Buffer.from(`${JSON.stringify(file, null, 2)}\n`)]);
  const reopened = await Repository.open(repo.storage, { clock: repo.clock, self: repo.self });
  await reopened.unlock([...parseIdentityFile(identities.join('\n'), 'the current key'), key]);
  return { repository: reopened, added: !known };
}

/** One object a rewrap moved to the active key. */
export interface RewrappedObject {
  backup: string;
  from: string;
  to: string;
  oldKey: string;
  newKey: string;
}

/**
 * Re-encrypts the file key of every object not yet encrypted to the active key, keeping its
 * payload as stored (no decryption of the data, so the content hash is unchanged). Each new
 * object is written beside the old one (`<name>.<keyId>.age`), the backup's manifest is then
 * rewritten to name the new objects (the commit), and the old objects are deleted: an
 * interruption leaves either the old manifest with its objects intact, or the new one. With
 * `dryRun` nothing is written and the objects that would move are returned.
 */
export async function rewrapBackups(repo: Repository, options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<RewrappedObject[]> {
  const active = repo.activeKey;
  if (active === undefined) throw new OpsError('USAGE', 'an unencrypted repository has nothing to rewrap');
  const identities = repo.identities;
  const moved: RewrappedObject[] = [];
  for (const manifest of await repo.listBackups()) {
    const stale = manifest.objects.filter((object) => object.encryption === 'age' && object.keyId !== active.id);
    if (stale.length === 0) continue;
    const replaced = new Map<string, ObjectRecord>();
    for (const object of stale) {
      options.signal?.throwIfAborted();
      const to = `${object.path.replace(/(\.k-[0-9a-f]{16})?\.age$/, '')}.${active.id}.age`;
      moved.push({ backup: manifest.id, from: object.path, to, oldKey: object.keyId ?? '', newKey: active.id });
      if (options.dryRun === true) continue;
      const tap = new HashTap();
      const swap = new HeaderSwap(identities, [active.recipient]);
      const written = repo.storage.put(`backups/${manifest.id}/${to}`, tap, options.signal === undefined ? {} : { signal: options.signal });
      await Promise.all([pipeline(repo.storage.get(`backups/${manifest.id}/${object.path}`), swap, tap), written]);
      replaced.set(object.path, { ...object, path: to, keyId: active.id, sizeStored: tap.bytes, sha256Stored: tap.digest() });
    }
    if (options.dryRun === true) continue;
    const updated: Manifest = { ...manifest, objects: manifest.objects.map((object) => replaced.get(object.path) ?? object) };
    updated.totals = { ...manifest.totals, sizeStored: updated.objects.reduce((sum, object) => sum + object.sizeStored, 0) };
    await repo.writeManifest(updated);
    for (const path of replaced.keys()) await repo.storage.delete(`backups/${manifest.id}/${path}`);
  }
  return moved;
}

/** Replaces an age file's header (rewrapAgeHeader) and passes the rest of the file through. */
class HeaderSwap extends Transform {
  #head: Buffer[] = [];
  #headLength = 0;
  #done = false;

  constructor(
    private readonly identities: readonly string[],
    private readonly recipients: readonly string[],
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#done) {
      callback(null, chunk);
      return;
    }
    this.#head.push(chunk);
    this.#headLength += chunk.length;
    if (this.#headLength < HEADER_WINDOW) {
      callback();
      return;
    }
    this.#swap(callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#done) callback();
    else this.#swap(callback);
  }

  #swap(callback: TransformCallback): void {
    try {
      const head = Buffer.concat(this.#head, this.#headLength);
      const { header, headerLength } = rewrapAgeHeader(head, this.identities, this.recipients);
      this.#done = true;
      this.#head = [];
      this.push(header);
      callback(null, head.subarray(headerLength));
    } catch (error) {
      callback(error as Error);
    }
  }
}
