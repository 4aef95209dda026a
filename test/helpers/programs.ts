import { execFileSync } from 'node:child_process';

/** Whether `program --version` runs here (for tests of interoperability with optional tools). */
export function hasProgram(program: string): boolean {
  try {
    execFileSync(program, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
