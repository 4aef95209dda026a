import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createHash,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OpsError } from '../core/errors.js';
import { bech32Decode, bech32Encode } from './bech32.js';

/**
 * The age v1 file format (https://age-encryption.org/v1) with X25519 recipients, written with
 * node:crypto only: the header (key wrapping, HMAC) is a few hundred bytes, and the payload — a
 * STREAM of ChaCha20-Poly1305 chunks — runs on OpenSSL's native cipher (about 2 GB/s here, where
 * the pure-JS `age-encryption` package streams about 100 MB/s). Files written here open with
 * `age -d -i key.txt`, and files `age -r age1…` writes open here.
 */

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_LABEL = 'age-encryption.org/v1/X25519';
/** Plaintext bytes per payload chunk. */
const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = CHUNK + TAG;
const FILE_KEY_BYTES = 16;
const NONCE_BYTES = 16;
const MAX_HEADER = 64 * 1024;
const IDENTITY_HRP = 'age-secret-key-';
const RECIPIENT_HRP = 'age';
// DER prefixes that turn a raw 32-byte X25519 key into PKCS#8 / SPKI for node:crypto.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** An X25519 identity (private key) with its recipient (public key). */
export interface AgeIdentity {
  /** `AGE-SECRET-KEY-1…` */
  identity: string;
  /** `age1…` */
  recipient: string;
}

interface ParsedIdentity {
  privateKey: KeyObject;
  publicRaw: Buffer;
}

/** A new X25519 identity, as `age-keygen` makes. */
export function generateIdentity(): AgeIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const privateRaw = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const publicRaw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return {
    identity: bech32Encode(IDENTITY_HRP, privateRaw).toUpperCase(),
    recipient: bech32Encode(RECIPIENT_HRP, publicRaw),
  };
}

/** The text of a key file in age-keygen's layout. */
export function formatIdentityFile(key: AgeIdentity, createdAt: Date): string {
  return `# created: ${createdAt.toISOString()}\n# public key: ${key.recipient}\n${key.identity}\n`;
}

/**
 * The identities of an age key file (`age-keygen` output: `AGE-SECRET-KEY-1…` lines, `#`
 * comments). Throws BACKUP_KEY_INVALID for anything else, never quoting the key.
 */
export function parseIdentityFile(text: string, source: string): AgeIdentity[] {
  const identities: AgeIdentity[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const decoded = line.startsWith('AGE-SECRET-KEY-1') ? bech32Decode(line) : undefined;
    if (decoded === undefined || decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
      throw new OpsError('BACKUP_KEY_INVALID', `${source} line ${index + 1} is not an age X25519 identity (AGE-SECRET-KEY-1…)`, {
        hint: 'create a key with `opsctl backup init --generate-key` or `age-keygen -o <file>`',
      });
    }
    identities.push({ identity: line, recipient: recipientOfRaw(decoded.data) });
  }
  if (identities.length === 0) {
    throw new OpsError('BACKUP_KEY_INVALID', `${source} holds no age identity`, {
      hint: 'create a key with `opsctl backup init --generate-key` or `age-keygen -o <file>`',
    });
  }
  return identities;
}

/** Checks an `age1…` recipient string. */
export function isRecipient(text: string): boolean {
  const decoded = bech32Decode(text);
  return decoded !== undefined && decoded.hrp === RECIPIENT_HRP && decoded.data.length === 32 && text === text.toLowerCase();
}

function recipientOfRaw(privateRaw: Buffer): string {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateRaw]), format: 'der', type: 'pkcs8' });
  const publicRaw = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return bech32Encode(RECIPIENT_HRP, publicRaw);
}

function parseIdentity(identity: string): ParsedIdentity {
  const decoded = bech32Decode(identity)!;
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, decoded.data]), format: 'der', type: 'pkcs8' });
  const publicRaw = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { privateKey, publicRaw };
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function base64Raw(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function aead(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Undefined when the tag does not verify. */
function aeadOpen(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** Payload chunk nonce: 11-byte big-endian counter, then 0x01 on the last chunk. */
function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** The header (with MAC) and payload key for a new file encrypted to `recipients`. */
function newHeader(recipients: readonly string[]): { header: Buffer; payloadKey: Buffer } {
  const fileKey = randomBytes(FILE_KEY_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  return {
    header: Buffer.concat([sealHeader(fileKey, recipients), nonce]),
    payloadKey: hkdf(fileKey, nonce, 'payload'),
  };
}

/** The text header wrapping `fileKey` for each recipient, ending with its MAC line. */
function sealHeader(fileKey: Buffer, recipients: readonly string[]): Buffer {
  let text = `${VERSION_LINE}\n`;
  for (const recipient of recipients) {
    const decoded = bech32Decode(recipient);
    if (decoded === undefined || decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32) {
      throw new OpsError('BACKUP_KEY_INVALID', `"${recipient}" is not an age X25519 recipient (age1…)`);
    }
    const ephemeral = generateKeyPairSync('x25519');
    const share = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyFromRaw(decoded.data) });
    const wrapKey = hkdf(shared, Buffer.concat([share, decoded.data]), X25519_LABEL);
    const body = aead(wrapKey, Buffer.alloc(12), fileKey);
    text += `-> X25519 ${base64Raw(share)}\n${base64Raw(body)}\n`;
  }
  text += '---';
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(text).digest();
  return Buffer.from(`${text} ${base64Raw(mac)}\n`);
}

/**
 * Re-wraps an age file's key for other recipients without touching its payload: `head` holds at
 * least the file's text header (the first 64 KiB suffice). The file key is unwrapped with
 * `identities` and the header MAC checked; the result is the new text header and the length of
 * the old one, so new file = header + old file from headerLength on (nonce and payload as they
 * were, still readable: the payload key derives from the same file key).
 */
export function rewrapAgeHeader(head: Buffer, identities: readonly string[], recipients: readonly string[]): { header: Buffer; headerLength: number } {
  const parsed = parseHeader(head);
  if (parsed === undefined) throw corrupt('the age header is incomplete');
  const fileKey = unwrapFileKey(parsed.stanzas, identities.map(parseIdentity));
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(parsed.macInput).digest();
  if (parsed.mac.length !== mac.length || !timingSafeEqual(parsed.mac, mac)) throw corrupt('header MAC mismatch');
  return { header: sealHeader(fileKey, recipients), headerLength: parsed.length };
}

/** A Transform that turns plaintext into an age file encrypted to `recipients`. */
export function createAgeEncryptStream(recipients: readonly string[]): Transform {
  if (recipients.length === 0) throw new OpsError('BACKUP_KEY_INVALID', 'no age recipient to encrypt to');
  const { header, payloadKey } = newHeader(recipients);
  const buffer = Buffer.allocUnsafe(CHUNK);
  let fill = 0;
  let counter = 0;
  let headerSent = false;
  const seal = (plaintext: Buffer, last: boolean): Buffer => {
    const sealed = aead(payloadKey, chunkNonce(counter, last), plaintext);
    counter += 1;
    return sealed;
  };
  return new Transform({
    transform(data: Buffer, _encoding, callback: TransformCallback) {
      if (!headerSent) {
        this.push(header);
        headerSent = true;
      }
      let offset = 0;
      while (offset < data.length) {
        // A full chunk is sealed only once more data arrives: the last chunk is flagged.
        if (fill === CHUNK) {
          this.push(seal(buffer, false));
          fill = 0;
        }
        const take = Math.min(CHUNK - fill, data.length - offset);
        data.copy(buffer, fill, offset, offset + take);
        fill += take;
        offset += take;
      }
      callback();
    },
    flush(callback: TransformCallback) {
      if (!headerSent) this.push(header);
      this.push(seal(buffer.subarray(0, fill), true));
      callback();
    },
  });
}

interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

/** Parses the text header; undefined while incomplete. Throws on a malformed header. */
function parseHeader(data: Buffer): { stanzas: Stanza[]; macInput: Buffer; mac: Buffer; length: number } | undefined {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const end = data.indexOf(0x0a, start);
    if (end === -1) {
      if (data.length > MAX_HEADER) throw corrupt('the age header is too long or missing');
      return undefined;
    }
    const line = data.subarray(start, end).toString('latin1');
    lines.push(line);
    if (lines.length === 1 && line !== VERSION_LINE) throw corrupt('not an age v1 file');
    if (line.startsWith('---')) {
      const macText = line.slice(4);
      const macInputEnd = start + 3;
      return { stanzas: parseStanzas(lines.slice(1, -1)), macInput: data.subarray(0, macInputEnd), mac: Buffer.from(macText, 'base64'), length: end + 1 };
    }
    start = end + 1;
  }
}

function parseStanzas(lines: readonly string[]): Stanza[] {
  const stanzas: Stanza[] = [];
  let index = 0;
  while (index < lines.length) {
    const head = lines[index]!;
    if (!head.startsWith('-> ')) throw corrupt('malformed age header stanza');
    const [type = '', ...args] = head.slice(3).split(' ');
    index += 1;
    const body: string[] = [];
    // The body is base64 in 64-column lines; the first shorter line ends it.
    for (;;) {
      const line = lines[index];
      if (line === undefined) throw corrupt('truncated age header stanza');
      index += 1;
      body.push(line);
      if (line.length < 64) break;
    }
    stanzas.push({ type, args, body: Buffer.from(body.join(''), 'base64') });
  }
  return stanzas;
}

function corrupt(reason: string): OpsError {
  return new OpsError('BACKUP_DECRYPT_FAILED', `cannot decrypt: ${reason}`, { details: { reason } });
}

function unwrapFileKey(stanzas: readonly Stanza[], identities: readonly ParsedIdentity[]): Buffer {
  for (const stanza of stanzas) {
    if (stanza.type !== 'X25519' || stanza.args.length !== 1) continue;
    const share = Buffer.from(stanza.args[0]!, 'base64');
    if (share.length !== 32) throw corrupt('malformed X25519 stanza');
    for (const identity of identities) {
      const shared = diffieHellman({ privateKey: identity.privateKey, publicKey: publicKeyFromRaw(share) });
      const wrapKey = hkdf(shared, Buffer.concat([share, identity.publicRaw]), X25519_LABEL);
      const fileKey = aeadOpen(wrapKey, Buffer.alloc(12), stanza.body);
      if (fileKey !== undefined && fileKey.length === FILE_KEY_BYTES) return fileKey;
    }
  }
  throw new OpsError('BACKUP_WRONG_KEY', 'no configured key can decrypt this file', {
    hint: 'use the key file this repository was created with (repo.json lists its key ids)',
  });
}

/**
 * A Transform from an age file to its plaintext. Each chunk is authenticated before it is
 * passed on; a truncated or altered file fails with BACKUP_DECRYPT_FAILED, a file for another key
 * with BACKUP_WRONG_KEY.
 */
export function createAgeDecryptStream(identities: readonly string[]): Transform {
  const parsed = identities.map(parseIdentity);
  let pending: Buffer = Buffer.alloc(0);
  let payloadKey: Buffer | undefined;
  let counter = 0;
  const open = (sealed: Buffer, last: boolean): Buffer => {
    const plaintext = aeadOpen(payloadKey!, chunkNonce(counter, last), sealed);
    if (plaintext === undefined) throw corrupt(`payload chunk ${counter} failed authentication (altered or truncated)`);
    counter += 1;
    return plaintext;
  };
  return new Transform({
    transform(data: Buffer, _encoding, callback: TransformCallback) {
      try {
        pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
        if (payloadKey === undefined) {
          const header = parseHeader(pending);
          if (header === undefined || pending.length < header.length + NONCE_BYTES) return callback();
          const fileKey = unwrapFileKey(header.stanzas, parsed);
          const expected = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header.macInput).digest();
          if (header.mac.length !== expected.length || !timingSafeEqual(header.mac, expected)) throw corrupt('header MAC mismatch');
          payloadKey = hkdf(fileKey, pending.subarray(header.length, header.length + NONCE_BYTES), 'payload');
          pending = pending.subarray(header.length + NONCE_BYTES);
        }
        // Keep at least one byte beyond a full chunk back: only the final chunk is flagged last.
        let offset = 0;
        while (pending.length - offset > SEALED_CHUNK) {
          this.push(open(pending.subarray(offset, offset + SEALED_CHUNK), false));
          offset += SEALED_CHUNK;
        }
        pending = offset === 0 ? pending : Buffer.from(pending.subarray(offset));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      try {
        if (payloadKey === undefined) throw corrupt('the file ends inside the age header');
        if (pending.length === 0 && counter > 0) throw corrupt('the file is truncated (final chunk missing)');
        const plaintext = open(pending, true);
        if (plaintext.length === 0 && counter > 1) throw corrupt('empty final chunk');
        this.push(plaintext);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** Encrypts a small buffer in one go (the repository check block). */
export async function ageEncryptBuffer(plaintext: Buffer, recipients: readonly string[]): Promise<Buffer> {
  return collect(createAgeEncryptStream(recipients), plaintext);
}

/** Decrypts a small age file in one go. */
export async function ageDecryptBuffer(file: Buffer, identities: readonly string[]): Promise<Buffer> {
  return collect(createAgeDecryptStream(identities), file);
}

function collect(transform: Transform, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    transform.on('data', (chunk: Buffer) => chunks.push(chunk));
    transform.on('error', reject);
    transform.on('end', () => resolve(Buffer.concat(chunks)));
    transform.end(input);
  });
}

/** `k-` + 16 hex digits of SHA-256 over the recipient string: the key fingerprint. */
export function keyIdOf(recipient: string): string {
  return `k-${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}`;
}
