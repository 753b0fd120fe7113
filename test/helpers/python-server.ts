import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './wait.js';

/** Debian's python3-websockets is only visible to the system interpreter. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const INSTALL_HINT = "The interop tests need Debian's python3-websockets. Install it with: apt-get install -y python3 python3-websockets";
const SCRIPT = fileURLToPath(new URL('../interop/ws_server.py', import.meta.url));

/** test/interop/ws_server.py, running. */
export interface PythonServer {
  port: number;
  url(path?: string): string;
  /** What the script wrote on stderr so far (for failure messages). */
  stderr(): string;
  /** Closes its stdin (it exits by itself then) and kills it if it lingers. */
  stop(): Promise<void>;
}

export async function startPythonServer(lifetimeSeconds = 120): Promise<PythonServer> {
  const child: ChildProcess = spawn(SYSTEM_PYTHON, [SCRIPT, '0', '--lifetime', String(lifetimeSeconds)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      let stdout = '';
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const line = /^(\d+)\r?\n/.exec(stdout);
        if (line) resolve(Number(line[1]));
      });
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error(`${SYSTEM_PYTHON} is missing. ${INSTALL_HINT}`, { cause: error }) : error),
      );
      child.once('exit', (code) => {
        // A clear failure, not a skip: CI installs it.
        const hint = /No module named .?websockets/.test(stderr) ? `\n${INSTALL_HINT}` : '';
        reject(new Error(`ws_server.py exited with ${code} before listening:\n${stderr}${hint}`));
      });
    }),
    15_000,
    'ws_server.py to print its port',
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    port,
    url: (path = '/echo') => `ws://127.0.0.1:${port}${path}`,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end();
      try {
        await withTimeout(exited, 3_000, 'ws_server.py to exit after stdin closed');
      } catch {
        child.kill('SIGKILL');
        await withTimeout(exited, 3_000, 'ws_server.py to die');
      }
    },
  };
}
