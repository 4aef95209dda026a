import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { OpsError } from '../core/errors.js';
import { findExecutable } from '../postgres/tools.js';
import { runBackupJob, type BackupJobResult, type BackupRunOptions } from './backup-job.js';
import { childStage, resolveCodec } from './compression.js';
import { storeToolOutput } from './pg-logical.js';

/** One configured vault source: an absolute file/directory path, or a command (argv, no shell). */
export type VaultSource = { path: string } | { command: readonly string[] };

/** The repository must be encrypted. */
export interface VaultBackupOptions extends BackupRunOptions {
  sources: readonly VaultSource[];
}

/**
 * Backs up the secrets vault: each path source as a tar archive (`tar -cf - -C <dir> <name>`,
 * so `tar -xf` restores it under its own name), each command source as its standard output,
 * one object per source, through the same compression, encryption and hashing as every
 * backup. Refused before anything runs on an unencrypted repository: secrets are never stored
 * in the clear.
 */
export async function runVaultBackup(options: VaultBackupOptions): Promise<BackupJobResult> {
  const repo = options.repository;
  if (!repo.encrypted) {
    throw new OpsError('BACKUP_VAULT_UNENCRYPTED', `the repository at ${repo.storage.location} is not encrypted: a vault backup is refused`, {
      hint: 'back the vault up into an encrypted repository (opsctl backup init --generate-key)',
    });
  }
  if (options.sources.length === 0) throw new OpsError('CONFIG_INVALID', 'no vault sources are configured', { hint: 'set backup.vault.sources in the profile' });
  const env = options.env ?? process.env;
  for (const source of options.sources) {
    if ('path' in source && (await stat(source.path).catch(() => undefined)) === undefined) {
      throw new OpsError('CONFIG_INVALID', `vault source ${source.path} does not exist`, { hint: 'fix backup.vault.sources in the profile' });
    }
  }
  const tar = options.sources.some((source) => 'path' in source) ? await findExecutable('tar', env) : undefined;
  if (tar === undefined && options.sources.some((source) => 'path' in source)) {
    throw new OpsError('TOOL_NOT_FOUND', 'tar not found on PATH', { hint: 'install tar', details: { tool: 'tar' } });
  }
  const codec = await resolveCodec(options.compression, env);
  return runBackupJob(
    {
      repository: repo,
      kind: 'vault',
      ...(options.label === undefined ? {} : { label: options.label }),
      ...(options.set === undefined ? {} : { set: options.set }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.progress === undefined ? {} : { progress: options.progress }),
    },
    async (job) => {
      for (const [index, source] of options.sources.entries()) {
        const isPath = 'path' in source;
        const stem = `vault-${index + 1}-${(isPath ? basename(source.path) : basename(source.command[0]!)).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
        const path = `${stem}.${isPath ? 'tar' : 'out'}${codec.extension}.age`;
        const stored = await storeToolOutput({
          repo,
          backupId: job.id,
          path,
          codec,
          producer: () =>
            isPath
              ? childStage(tar!, ['-cf', '-', '-C', dirname(source.path), basename(source.path)], `tar (${source.path})`, { env })
              : childStage(source.command[0]!, source.command.slice(1), source.command.join(' '), { env }),
          signal: options.signal,
          onBytes: job.onBytes(path),
        });
        job.add({
          ...stored.record,
          role: 'vault',
          format: isPath ? 'tar' : 'command-output',
          vault: isPath ? { path: source.path } : { command: [...source.command] },
        });
      }
      return { server: 'vault', serverVersion: '' };
    },
  );
}
