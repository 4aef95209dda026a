import { spawn } from 'node:child_process';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { OpsError } from '../core/errors.js';
import { findExecutable } from '../postgres/tools.js';
import type { Compression } from './types.js';

/** Compression settings of one object. */
export interface CompressionSpec {
  algorithm: Compression;
  /** zstd 1–19, gzip 1–9. */
  level: number;
  /** zstd worker threads (`-T`). */
  threads: number;
}

export const DEFAULT_COMPRESSION: CompressionSpec = { algorithm: 'zstd', level: 3, threads: 2 };

/**
 * One stage of a stream pipeline: bytes are written to `input` and read from `output`; `done`
 * settles when the stage has finished (a child process exited 0) or failed; `abort` stops it.
 */
export interface Stage {
  input: Writable;
  output: Readable;
  done: Promise<void>;
  abort(): void;
}

/** A codec ready to make stages: zstd runs as a child process, gzip in node:zlib. */
export interface Codec {
  algorithm: Compression;
  level: number | undefined;
  /** File name extension (`.zst`, `.gz`, or empty). */
  extension: string;
  compress(): Stage;
  decompress(): Stage;
}

/**
 * Finds what the spec needs. zstd is the `zstd` binary (about 500 MB/s with -T2 where node:zlib's
 * gzip does about 45 MB/s); without it, TOOL_NOT_FOUND says to install it or choose gzip.
 */
export async function resolveCodec(spec: CompressionSpec, env: NodeJS.ProcessEnv = process.env): Promise<Codec> {
  switch (spec.algorithm) {
    case 'zstd': {
      const zstd = await findExecutable('zstd', env);
      if (zstd === undefined) {
        throw new OpsError('TOOL_NOT_FOUND', 'zstd not found on PATH', {
          hint: 'install it (apt-get install zstd, brew install zstd) or set backup.compression.algorithm: gzip',
          details: { tool: 'zstd' },
        });
      }
      return {
        algorithm: 'zstd',
        level: spec.level,
        extension: '.zst',
        compress: () => childStage(zstd, ['-q', '-c', `-${spec.level}`, `-T${spec.threads}`], 'zstd'),
        decompress: () => childStage(zstd, ['-q', '-d', '-c'], 'zstd -d'),
      };
    }
    case 'gzip':
      return {
        algorithm: 'gzip',
        level: spec.level,
        extension: '.gz',
        compress: () => transformStage(createGzip({ level: Math.min(spec.level, 9) })),
        decompress: () => transformStage(createGunzip()),
      };
    case 'none':
      return { algorithm: 'none', level: undefined, extension: '', compress: () => transformStage(new PassThrough()), decompress: () => transformStage(new PassThrough()) };
  }
}

/** A codec by name, for reading objects whose manifest names it. */
export function codecFor(algorithm: Compression, env: NodeJS.ProcessEnv = process.env): Promise<Codec> {
  return resolveCodec({ algorithm, level: DEFAULT_COMPRESSION.level, threads: DEFAULT_COMPRESSION.threads }, env);
}

function transformStage(stream: PassThrough | ReturnType<typeof createGzip>): Stage {
  return { input: stream, output: stream, done: finished(stream), abort: () => stream.destroy() };
}

/**
 * A child process as a stage: stdin in, stdout out; `done` rejects with TOOL_FAILED (its stderr
 * quoted) on a non-zero exit. Errors writing to a child that already exited surface through
 * `done`, not as unhandled stream errors.
 */
export function childStage(command: string, args: readonly string[], label: string, options: { env?: NodeJS.ProcessEnv } = {}): Stage & { stderr(): string } {
  const child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(options.env === undefined ? {} : { env: options.env }) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  child.stdin.on('error', () => undefined);
  let stopped = false;
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new OpsError('TOOL_FAILED', `${label} could not start: ${error.message}`, { cause: error })));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else if (stopped) {
        // Killed by abort(): a consequence of another failure, not a failure of the tool.
        reject(Object.assign(new Error(`${label} stopped`), { name: 'AbortError', code: 'ABORT_ERR' }));
      } else {
        const quoted = quoteStderr(stderr);
        reject(new OpsError('TOOL_FAILED', `${label} failed (${signal ?? `exit ${code}`})${quoted === '' ? '' : `: ${quoted}`}`, { details: { tool: label } }));
      }
    });
  });
  done.catch(() => undefined);
  return {
    input: child.stdin,
    output: child.stdout,
    done,
    abort: () => {
      if (child.exitCode === null && child.signalCode === null) {
        stopped = true;
        child.kill('SIGKILL');
      }
    },
    stderr: () => stderr,
  };
}

/** From the first `error:` line (or the last line), up to three lines: the cause and its detail. */
function quoteStderr(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const first = lines.findIndex((line) => /error:/i.test(line));
  return lines.slice(first === -1 ? -1 : first, (first === -1 ? lines.length : first) + 3).join(' / ');
}
