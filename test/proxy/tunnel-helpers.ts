// What the HTTP CONNECT and SOCKS5 tests share: opened tunnels closed after
// each test, a rejected tunnel's error, and a round trip through a tunnel.
import type { Socket } from 'node:net';
import { expect } from 'vitest';
import { openProxyTunnel, ProxyError } from '../../src/client/proxy.js';
import { ConnectionError } from '../../src/protocol/errors.js';
import { readBytes } from './helpers.js';

const opened: Socket[] = [];

/** For afterEach: destroys every tunnel `tunnelTo` opened. */
export function closeTunnels(): void {
  for (const socket of opened.splice(0)) socket.destroy();
}

/** Opens a tunnel, remembering the socket so that it is closed after the test. */
export async function tunnelTo(options: Parameters<typeof openProxyTunnel>[0]): Promise<Socket> {
  const socket = await openProxyTunnel(options);
  opened.push(socket);
  return socket;
}

/** The error a tunnel attempt was rejected with: always a ProxyError, a ConnectionError. */
export async function failure(promise: Promise<unknown>): Promise<ProxyError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProxyError);
  expect(error).toBeInstanceOf(ConnectionError);
  return error as ProxyError;
}

/** Both directions through the tunnel: the echo server's greeting, then an echo of 70,000 bytes. */
export async function expectEcho(socket: Socket, step = 7): Promise<void> {
  expect((await readBytes(socket, 6)).toString()).toBe('hello\n');
  const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * step) & 0xff));
  socket.write(payload);
  expect((await readBytes(socket, payload.length)).equals(payload)).toBe(true);
}
