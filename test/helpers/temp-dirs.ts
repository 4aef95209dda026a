import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach } from 'vitest';

/**
 * A fresh directory for every test, all under one temporary root removed after the file.
 * Returns the root and a getter for the current test's directory.
 */
export function useCaseDirs(prefix: string): { root: string; dir: () => string } {
  const root = mkdtempSync(path.join(tmpdir(), `opsctl-${prefix}-`));
  let current = '';
  let counter = 0;
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    counter += 1;
    current = path.join(root, `case-${counter}`);
    mkdirSync(current, { recursive: true });
  });
  return { root, dir: () => current };
}
