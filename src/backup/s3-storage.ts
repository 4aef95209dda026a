import { PassThrough, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { OpsError } from '../core/errors.js';
import type { ObjectInfo, Storage, TempObject } from './storage.js';

/** Connection settings of an S3-compatible store (backup.s3 in the profile; unset ones come from the AWS_* environment). */
export interface S3Settings {
  endpoint?: string | undefined;
  region?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** `http://host/bucket/key` addressing (MinIO, s3rver, most non-AWS stores). */
  forcePathStyle?: boolean | undefined;
}

/** Parts of a multipart upload; S3's minimum part size is 5 MiB. */
const PART_SIZE = 8 * 1024 * 1024;
/** Marks an incomplete multipart upload in a TempObject key: `<key>#upload=<id>`. */
const UPLOAD_MARKER = '#upload=';

/** Splits `s3://bucket/prefix` into bucket and key prefix (`prefix/`, or empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (match === null || match[1] === '') throw new OpsError('CONFIG_INVALID', `"${url}" is not an s3://bucket/prefix URL`);
  const prefix = match[2]!.replace(/\/+$/, '');
  return { bucket: match[1]!, prefix: prefix === '' ? '' : `${prefix}/` };
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode === 404;
}

/**
 * A repository in an S3-compatible bucket, behind the same Storage contract as the local
 * directory. A PutObject or a completed multipart upload is the atomic commit of an object
 * (readers never see part of one), so the manifest written last is the backup's commit as on
 * disk. Incomplete multipart uploads are the temporary objects (listTemp/deleteTemp) where the
 * store can list them. `create` (locks) uses `If-None-Match: *` where the store honours it,
 * after a HEAD check for stores that ignore it (then it is best-effort).
 */
export class S3Storage implements Storage {
  readonly location: string;
  readonly #client: S3Client;

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    settings: S3Settings = {},
  ) {
    this.location = `s3://${bucket}/${prefix}`.replace(/\/$/, '');
    this.#client = new S3Client({
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      region: settings.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(settings.forcePathStyle === undefined ? {} : { forcePathStyle: settings.forcePathStyle }),
      ...(settings.accessKeyId === undefined || settings.secretAccessKey === undefined
        ? {}
        : { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }),
    });
  }

  static fromUrl(url: string, settings: S3Settings = {}): S3Storage {
    const { bucket, prefix } = parseS3Url(url);
    return new S3Storage(bucket, prefix, settings);
  }

  #key(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid storage key "${key}"`);
    return `${this.prefix}${key}`;
  }

  async put(key: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Readable, options: { signal?: AbortSignal } = {}): Promise<number> {
    const target = this.#key(key);
    const send = { abortSignal: options.signal };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let uploadId: string | undefined;
    const parts: { PartNumber: number; ETag: string }[] = [];
    const flushPart = async () => {
      uploadId ??= (await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target }), send)).UploadId;
      const body = Buffer.concat(pending, pendingBytes);
      const { ETag } = await this.#client.send(new UploadPartCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, PartNumber: parts.length + 1, Body: body }), send);
      parts.push({ PartNumber: parts.length + 1, ETag: ETag ?? '' });
      pending = [];
      pendingBytes = 0;
    };
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        options.signal?.throwIfAborted();
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        pending.push(buffer);
        pendingBytes += buffer.length;
        total += buffer.length;
        if (pendingBytes >= PART_SIZE) await flushPart();
      }
      options.signal?.throwIfAborted();
      if (uploadId === undefined) {
        await this.#client.send(new PutObjectCommand({ Bucket: this.bucket, Key: target, Body: Buffer.concat(pending, pendingBytes) }), send);
        return total;
      }
      if (pendingBytes > 0) await flushPart();
      await this.#client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId, MultipartUpload: { Parts: parts } }), send);
      return total;
    } catch (error) {
      if (uploadId !== undefined) await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId })).catch(() => undefined);
      throw error;
    }
  }

  async create(key: string, data: Uint8Array): Promise<boolean> {
    if ((await this.stat(key)) !== undefined) return false;
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.#key(key), Body: data, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) return false;
      throw error;
    }
  }

  get(key: string): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    this.#client
      .send(new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }))
      .then((response) => {
        const body = response.Body as Readable;
        body.on('error', (error) => out.destroy(error));
        body.pipe(out);
      })
      .catch((error: unknown) => {
        out.destroy(isNotFound(error) ? Object.assign(new Error(`ENOENT: no such object ${this.location}/${key}`), { code: 'ENOENT' }) : (error as Error));
      });
    return out;
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      const response = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
      return Buffer.from(await response.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0), version: head.ETag ?? String(head.LastModified?.getTime() ?? 0) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const base = prefix === '' ? this.prefix : `${this.#key(prefix)}/`;
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key.slice(this.prefix.length));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
  }

  async deletePrefix(prefix: string): Promise<void> {
    const keys = await this.list(prefix);
    for (let index = 0; index < keys.length; index += 16) await Promise.all(keys.slice(index, index + 16).map((key) => this.delete(key)));
    for (const temp of await this.listTemp(prefix)) await this.deleteTemp(temp.key);
  }

  async listTemp(prefix: string): Promise<TempObject[]> {
    try {
      const base = prefix === '' ? this.prefix : `${this.#key(prefix)}/`;
      const response = await this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: base }));
      return (response.Uploads ?? []).map((upload) => ({
        key: `${(upload.Key ?? '').slice(this.prefix.length)}${UPLOAD_MARKER}${upload.UploadId ?? ''}`,
        modified: upload.Initiated ?? new Date(0),
      }));
    } catch (error) {
      // Some stores (s3rver) cannot list uploads: nothing to report; their lifecycle rules expire them.
      if ((error as { name?: string }).name === 'NotImplemented') return [];
      throw error;
    }
  }

  async deleteTemp(key: string): Promise<void> {
    const at = key.lastIndexOf(UPLOAD_MARKER);
    if (at === -1) return;
    await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.#key(key.slice(0, at)), UploadId: key.slice(at + UPLOAD_MARKER.length) }));
  }

  /** Closes the client's connections. */
  close(): void {
    this.#client.destroy();
  }
}
