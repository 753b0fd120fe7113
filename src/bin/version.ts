// The version of the package this file belongs to, read from its package.json:
// two folders up from src/bin/ (a clone) and from dist/bin/ (a build or an installed package).
import { readFileSync } from 'node:fs';

/** The `version` field of wspipe's package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== 'wspipe' || typeof pkg.version !== 'string') throw new Error('package.json next to wspipe is not the wspipe package');
  return pkg.version;
}
