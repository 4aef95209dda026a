import { existsSync } from 'node:fs';

/** The spawn tests run the built binary: fail early and clearly when it is missing. */
export default function setup(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it for you)');
  }
}
