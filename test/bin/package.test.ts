// The package as npm would publish it: `npm pack --dry-run --json` on a fresh
// build in a temporary folder (the same package.json "files", the same tsconfig.build.json).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, runCli, type BuiltPackage } from './package-build.js';

interface PackedFile {
  path: string;
  size: number;
}

let pkg: BuiltPackage;
let files: string[];
let manifest: { version: string; main: string; types: string; bin: Record<string, string>; exports: unknown };

beforeAll(async () => {
  pkg = await buildPackage();
  manifest = JSON.parse(readFileSync(join(pkg.dir, 'package.json'), 'utf8')) as typeof manifest;
  // --ignore-scripts: prepack would build again, into the real dist/; this folder is already built.
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg.dir, timeout: 60_000 }, (error, out, err) =>
      error ? reject(new Error(`npm pack failed: ${error.message}\n${err}`)) : resolve(out),
    );
  });
  const [report] = JSON.parse(stdout) as Array<{ files: PackedFile[] }>;
  files = report!.files.map((f) => f.path).sort();
}, 120_000);

afterAll(() => pkg?.remove());

describe('npm pack --dry-run', () => {
  it('includes LICENSE, README.md, package.json, the library entry point and the command', () => {
    for (const path of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/bin/wspipe.js', 'dist/server/echo-server.js']) {
      expect(files).toContain(path);
    }
  });

  it('ships every file that "main", "types", "exports" and "bin" name', () => {
    // Every string in "exports", however its conditions nest.
    const leaves = (value: unknown): string[] =>
      typeof value === 'string' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(leaves) : [];
    const named = [...leaves(manifest.exports), ...Object.values(manifest.bin), manifest.main, manifest.types];
    for (const path of named) expect(files).toContain(path.replace(/^\.\//, ''));
  });

  it('ships no source map without its sources', () => {
    for (const path of files.filter((p) => p.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(pkg.dir, path), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      const embedded = map.sourcesContent?.filter((s) => typeof s === 'string').length ?? 0;
      expect(embedded, `${path} points at sources the package does not have`).toBe(map.sources.length);
    }
  });

  it('ships no declarations for the command or for modules nobody can import', () => {
    expect(files.filter((p) => /^dist\/(bin|server)\/.*\.d\.ts$/.test(p))).toEqual([]);
    expect(files.filter((p) => !p.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(p))).toEqual([]);
  });

  it('the LICENSE is the MIT license the manifest names', () => {
    expect(readFileSync(join(pkg.dir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the wspipe authors\n/);
  });

  it('the README tells an installed package how to run the command', () => {
    const readme = readFileSync(join(pkg.dir, 'README.md'), 'utf8');
    expect(readme).toContain('npx wspipe');
  });

  it('the packed command runs from the package layout: --version is the manifest version', async () => {
    expect(existsSync(pkg.bin)).toBe(true);
    const result = await runCli(pkg.bin, ['--version']);
    expect(result).toMatchObject({ status: 0, stdout: `${manifest.version}\n`, stderr: '' });
  });
});
