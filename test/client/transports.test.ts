import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { ErrorCode, type HandshakeError, type WebSocketError } from '../../src/protocol/errors.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { makeCertificate } from '../helpers/certificate.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(options: Parameters<typeof startEchoServer>[0] = {}): Promise<EchoServer & { heads: Record<string, string>[] }> {
  const heads: Record<string, string>[] = [];
  const server = await startEchoServer({ ...options, onConnection: (conn) => heads.push(conn.request.headers) });
  cleanups.push(() => server.close());
  return Object.assign(server, { heads });
}

/** A server that answers every handshake with `status` and a Location header. */
async function redirector(status: number, location: (port: number) => string, secure?: { key: Buffer; cert: Buffer }): Promise<{ port: number; heads: string[] }> {
  const heads: string[] = [];
  const onSocket = (socket: net.Socket): void => {
    let head = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      heads.push(head);
      socket.end(`HTTP/1.1 ${status} Moved\r\nLocation: ${location(port)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
  };
  const server = secure ? tls.createServer(secure, onSocket) : net.createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { port, heads };
}

/** Opens, sends one message, closes; resolves with what happened (bounded). */
function roundTrip(url: string, options: WebSocketClientOptions = {}) {
  return new Promise<{ echoed: unknown; closeCode: number; errors: WebSocketError[]; redirects: unknown[] }>((resolve, reject) => {
    const errors: WebSocketError[] = [];
    const redirects: unknown[] = [];
    let echoed: unknown;
    const ws = new WebSocketClient(url, { handshakeTimeoutMs: 5_000, ...options });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no close within 8 s'));
    }, 8_000);
    ws.on('redirect', (r) => redirects.push(r));
    ws.onWebSocketConnect = (conn) => conn.send('ping?');
    ws.onMessage = (conn, data) => {
      echoed = data;
      conn.close();
    };
    ws.onError = (_c, _code, _m, error) => errors.push(error);
    ws.onClose = (_c, closeCode) => {
      clearTimeout(timer);
      resolve({ echoed, closeCode, errors, redirects });
    };
    ws.connect();
  });
}

describe('transports', () => {
  it('ws+unix: connects over a unix domain socket with the request path after the colon', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wspipe-unix-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'ws.sock');
    const server = await echoServer({ path });
    const result = await roundTrip(`ws+unix://${path}:/chat?room=1`);
    expect(result).toMatchObject({ echoed: 'ping?', closeCode: 1000, errors: [] });
    expect(server.heads[0]!['host']).toBe('localhost');
  });

  it('IPv6 loopback: the echo server on [::1] says so in its url, and the client connects to it', async () => {
    const server = await echoServer({ host: '::1' });
    expect(server.url).toBe(`ws://[::1]:${server.port}`);
    const result = await roundTrip(`${server.url}/v6`);
    expect(result).toMatchObject({ echoed: 'ping?', closeCode: 1000, errors: [] });
    expect(server.heads[0]!['host']).toBe(`[::1]:${server.port}`);
  });

  it('user:password in the URL becomes Basic authorization, and is not in client.url', async () => {
    const server = await echoServer();
    const ws = new WebSocketClient(`ws://alice:s%20cret@127.0.0.1:${server.port}/`);
    expect(ws.url).not.toContain('cret');
    const result = await roundTrip(`ws://alice:s%20cret@127.0.0.1:${server.port}/`);
    expect(result.echoed).toBe('ping?');
    expect(server.heads[0]!['authorization']).toBe(`Basic ${Buffer.from('alice:s cret').toString('base64')}`);
  });

  it('an invalid URL error does not repeat the URL (it may hold credentials)', () => {
    expect(() => new WebSocketClient('ws://user:hunter2@[::1')).toThrow(expect.objectContaining({ code: ErrorCode.InvalidUrl }));
    try {
      new WebSocketClient('ws://user:hunter2@[::1');
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });
});

describe('redirects', () => {
  it('are not followed by default: the 3xx is a handshake error with its status and Location', async () => {
    const target = await echoServer();
    const from = await redirector(302, () => `ws://127.0.0.1:${target.port}/`);
    const result = await roundTrip(`ws://127.0.0.1:${from.port}/`);
    const error = result.errors[0] as HandshakeError;
    expect([error.code, error.status, error.headers?.['location']]).toEqual([ErrorCode.HandshakeStatus, 302, `ws://127.0.0.1:${target.port}/`]);
    expect(result.closeCode).toBe(1006);
  });

  it.each([301, 302, 303, 307, 308])('%i is followed with followRedirects, with a fresh handshake at the new place', async (status) => {
    const target = await echoServer();
    const from = await redirector(status, () => `/elsewhere`);
    // A relative Location resolves against the current URL: same host and port, so point the test at a chain.
    const first = await redirector(status, () => `ws://127.0.0.1:${target.port}/landed?x=1`);
    const result = await roundTrip(`ws://127.0.0.1:${first.port}/start`, { followRedirects: true });
    expect(result).toMatchObject({ echoed: 'ping?', closeCode: 1000, errors: [] });
    expect(result.redirects).toEqual([{ from: `ws://127.0.0.1:${first.port}/start`, to: `ws://127.0.0.1:${target.port}/landed?x=1` }]);
    expect(from.heads).toHaveLength(0);
  });

  it('stops after maxRedirects with WSP_ERR_HANDSHAKE_REDIRECT', async () => {
    const loop = await redirector(302, (port) => `ws://127.0.0.1:${port}/again`);
    const result = await roundTrip(`ws://127.0.0.1:${loop.port}/`, { followRedirects: true, maxRedirects: 3 });
    expect(result.errors.map((e) => e.code)).toEqual([ErrorCode.HandshakeRedirect]);
    expect(loop.heads).toHaveLength(4);
  });

  it('never follows wss: to ws:', async () => {
    const certificate = makeCertificate();
    const target = await echoServer();
    const from = await redirector(302, () => `ws://127.0.0.1:${target.port}/`, certificate);
    const result = await roundTrip(`wss://localhost:${from.port}/`, { followRedirects: true, tls: { ca: certificate.cert } });
    expect(result.errors.map((e) => e.code)).toEqual([ErrorCode.HandshakeRedirect]);
    expect(target.heads).toHaveLength(0);
  });

  it('drops Authorization and Cookie when the host changes, keeps other headers', async () => {
    const target = await echoServer();
    const sameHost = await redirector(307, () => `ws://127.0.0.1:${target.port}/same`);
    const otherHost = await redirector(307, () => `ws://localhost:${target.port}/other`);
    const headers = { Authorization: 'Bearer t0ken', Cookie: 'sid=1', 'X-Trace': 'kept' };
    await roundTrip(`ws://127.0.0.1:${sameHost.port}/`, { followRedirects: true, headers });
    await roundTrip(`ws://127.0.0.1:${otherHost.port}/`, { followRedirects: true, headers });
    // The same host on another port: RFC 6454 would call it another origin; like ws, we compare host and port.
    expect(target.heads.map((h) => [h['authorization'], h['cookie'], h['x-trace']])).toEqual([
      [undefined, undefined, 'kept'],
      [undefined, undefined, 'kept'],
    ]);
    expect(sameHost.heads[0]).toContain('Bearer t0ken');
  });
});
