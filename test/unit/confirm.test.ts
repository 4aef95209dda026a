import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandContext, type GlobalOptions } from '../../src/cli/context.js';
import { testIO } from '../../src/cli/ui/io.js';
import { expandYesProfile } from '../../src/cli/argv.js';
import { systemClock } from '../../src/core/clock.js';
import { OpsError } from '../../src/core/errors.js';
import { useCaseDirs } from '../helpers/temp-dirs.js';

const { dir } = useCaseDirs('confirm');

function context(globals: GlobalOptions) {
  writeFileSync(
    path.join(dir(), 'opsctl.config.yaml'),
    'version: 2\ndefaultProfile: dev\nprofiles:\n  dev:\n    redis: { url: "redis://127.0.0.1:6379" }\n  prod:\n    protected: true\n    redis: { url: "redis://10.0.0.1:6379" }\n',
  );
  const io = testIO({ tty: false });
  const ctx = new CommandContext({ io, env: {}, cwd: dir(), clock: systemClock, signal: new AbortController().signal }, globals);
  return { ctx, io };
}

async function refusal(promise: Promise<void>): Promise<OpsError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(OpsError);
  return error as OpsError;
}

describe('confirmations', () => {
  it('states the impact, then accepts --yes on an unprotected profile', async () => {
    const { ctx, io } = context({ yes: true });
    await ctx.confirm('Flush the cache?', { impact: 'deletes 12,408 keys', onProfile: true });
    expect(io.err()).toBe('profile "dev": impact: deletes 12,408 keys\n');
  });

  it('refuses without a terminal and without --yes, naming the flag', async () => {
    const { ctx } = context({});
    const error = await refusal(ctx.confirm('Flush the cache?', { onProfile: true }));
    expect(error.code).toBe('INPUT_REQUIRED');
    expect(error.exitCode).toBe(2);
    expect(error.hint).toBe('pass --yes');
  });

  it('refuses a bare --yes on a protected profile and names --yes=<profile>', async () => {
    const { ctx, io } = context({ yes: true, profile: 'prod' });
    const error = await refusal(ctx.confirm('Flush the cache?', { impact: 'deletes 3 keys', onProfile: true }));
    expect(error.message).toBe('profile "prod" is protected: a bare --yes is not enough');
    expect(error.hint).toBe('pass --yes=prod');
    // Survives NO_COLOR: the word is in the text, not only in a colour.
    expect(io.err()).toBe('PROTECTED profile "prod": impact: deletes 3 keys\n');
  });

  it('accepts --yes=<profile> only for that profile', async () => {
    await context({ yes: true, yesProfile: 'prod', profile: 'prod' }).ctx.confirm('Flush?', { onProfile: true });
    const error = await refusal(context({ yesProfile: 'dev', profile: 'prod' }).ctx.confirm('Flush?', { onProfile: true }));
    expect(error.message).toBe('--yes=dev does not match the protected profile "prod"');
  });

  it('rewrites --yes=<profile> before parsing so --yes stays a flag', () => {
    expect(expandYesProfile(['reset', '--yes=prod', 'x'])).toEqual(['reset', '--yes-profile', 'prod', 'x']);
    expect(expandYesProfile(['reset', '--yes', 'x'])).toEqual(['reset', '--yes', 'x']);
  });
});
