// Builds the package as it is published, into a fresh temporary folder:
// package.json, README.md, LICENSE and dist/ from tsconfig.build.json. The CLI
// tests run the command from there (so they pass on a fresh clone, without a
// prior `npm run build`), and the package test packs it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface BuiltPackage {
  /** The folder that holds package.json and dist/. */
  dir: string;
  /** dist/bin/wspipe.js in it. */
  bin: string;
  remove(): void;
}

/** Runs `tsc -p tsconfig.build.json --outDir <tmp>/dist` (bounded) and copies the package's files beside it. */
export async function buildPackage(): Promise<BuiltPackage> {
  const dir = mkdtempSync(join(tmpdir(), 'wspipe-package-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    for (const file of ['package.json', 'README.md', 'LICENSE']) copyFileSync(join(ROOT, file), join(dir, file));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')],
        { cwd: ROOT, timeout: 120_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`tsc failed: ${error.message}\n${stdout}${stderr}`)) : resolve()),
      );
    });
    return { dir, bin: join(dir, 'dist', 'bin', 'wspipe.js'), remove };
  } catch (error) {
    remove();
    throw error;
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The helper had to kill it: it did not end by itself. */
  killed: boolean;
}

/**
 * Runs the built command with `args`, feeding `stdin` and then ending it (or, with
 * `holdStdin`, keeping it open until the command exits); kills it after `timeoutMs`.
 */
export function runCli(
  bin: string,
  args: string[],
  options: { stdin?: string | Buffer; holdStdin?: boolean; timeoutMs?: number; cwd?: string; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd ?? tmpdir() });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, killed });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading all of it
    options.onSpawn?.(child);
    if (options.holdStdin) child.stdin.write(options.stdin ?? '');
    else child.stdin.end(options.stdin ?? '');
  });
}
