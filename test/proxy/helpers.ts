// Real proxies and a raw echo server on loopback, for the tunnel tests.
// Every wait is bounded; every process and server is stopped by its owner.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The full path of `name` on PATH; a clear failure (not a skip) when it is missing: CI installs it. */
export function requireBinary(name: string, debianPackage: string): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `'${name}' is not on PATH; these tests need a real proxy. Install it with: apt-get install -y ${debianPackage} (see test/proxy/README.md)`,
  );
}

/** A loopback port that nothing listens on (just released by the kernel). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the process exited with code ${child.exitCode} before listening`);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 500);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A started proxy process. */
export interface RunningProxy {
  port: number;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

async function startProcess(command: string, args: string[], port: number, cleanup?: () => void): Promise<RunningProxy> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup?.();
  };
  try {
    await Promise.race([waitForPort(port, 5_000, child), spawnError]);
  } catch (error) {
    await stop();
    throw new Error(`${command} did not start: ${(error as Error).message}\n${output}`);
  }
  return { port, output: () => output, stop };
}

/**
 * tinyproxy on 127.0.0.1, in the foreground, allowing CONNECT to `connectPorts`
 * only (an empty list would allow every port), with Basic auth when given.
 */
export async function startTinyproxy(options: {
  connectPorts: number[];
  basicAuth?: { user: string; password: string };
}): Promise<RunningProxy> {
  const binary = requireBinary('tinyproxy', 'tinyproxy');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wspipe-tinyproxy-'));
  const config = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'MaxClients 20',
    'LogLevel Info',
    'Allow 127.0.0.1',
    'DisableViaHeader Yes',
    ...options.connectPorts.map((p) => `ConnectPort ${p}`),
    ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
  ];
  const configPath = join(dir, 'tinyproxy.conf');
  writeFileSync(configPath, config.join('\n') + '\n');
  return startProcess(binary, ['-d', '-c', configPath], port, () => rmSync(dir, { recursive: true, force: true }));
}

/** microsocks on 127.0.0.1, with username/password auth when given. */
export async function startMicrosocks(options: { user?: string; password?: string } = {}): Promise<RunningProxy> {
  const binary = requireBinary('microsocks', 'microsocks');
  const port = await freePort();
  const args = ['-i', '127.0.0.1', '-p', String(port)];
  if (options.user !== undefined) args.push('-u', options.user, '-P', options.password ?? '');
  return startProcess(binary, args, port);
}

/** A raw TCP server that greets each connection, then echoes everything back. */
export interface EchoServer {
  port: number;
  /** How many connections it has accepted. */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 (and on ::1 at the same port when the host has IPv6
 * loopback, so that a proxy resolving `localhost` either way finds it).
 * `greeting` is written as soon as a connection is accepted: it arrives right
 * behind the proxy's answer, which is what the leftover handling must keep.
 */
export async function startEchoServer(greeting = 'hello\n'): Promise<EchoServer> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket): void => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(greeting);
    socket.pipe(socket);
  };
  const listen = (server: Server, port: number, host: string): Promise<boolean> =>
    new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, host, () => resolve(true));
    });
  const v4 = createServer(onConnection);
  if (!(await listen(v4, 0, '127.0.0.1'))) throw new Error('the echo server could not listen on 127.0.0.1');
  const port = (v4.address() as AddressInfo).port;
  const v6 = createServer(onConnection);
  const servers = [v4];
  if (await listen(v6, port, '::1')) servers.push(v6);
  return {
    port,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/** A scripted proxy: records what the client sent and answers with `respond`. */
export interface ScriptedProxy {
  port: number;
  /** All bytes received on the last connection. */
  received(): Buffer;
  close(): Promise<void>;
}

/**
 * A fake proxy for wire-level checks that real proxies cannot be made to do
 * (every SOCKS5 reply code, 502/503/504, answers split across writes).
 * `respond` is called with everything received so far on the connection and
 * returns what to write back now (or nothing).
 */
export async function startScriptedProxy(
  respond: (received: Buffer, socket: Socket) => Buffer | Buffer[] | undefined,
): Promise<ScriptedProxy> {
  let last = Buffer.alloc(0);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      last = received;
      const answer = respond(received, socket);
      if (answer === undefined) return;
      for (const piece of Array.isArray(answer) ? answer : [answer]) socket.write(piece);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => last,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Reads from `socket` until `expected` bytes have arrived, then pauses it (so
 * nothing is lost before the next read); rejects after `timeoutMs`.
 */
export function readBytes(socket: Socket, expected: number, timeoutMs = 3_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('error', done);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, length));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= expected) done();
    };
    const onClose = (): void => done(new Error(`closed after ${length} of ${expected} bytes`));
    const timer = setTimeout(() => done(new Error(`got ${length} of ${expected} bytes in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('error', done);
    socket.on('close', onClose);
    socket.resume();
  });
}
