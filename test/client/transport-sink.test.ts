// connectTransport: the cheap opening path of the client (no proxy, no
// createConnection) reports to a TransportSink's methods, leaves no listener
// of its own on a socket that is up, and reports nothing once cancelled.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, type WebSocketError } from '../../src/protocol/errors.js';
import { cancelTransport, connectTransport, openTransport, type TransportSink } from '../../src/client/transport.js';
import { makeCertificate } from '../helpers/certificate.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

/** A TCP server that keeps every socket open until the test ends. */
async function holdingServer(): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    sockets.push(s);
  });
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  return listen(server);
}

/** A port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

interface Heard {
  events: string[];
  socket?: Duplex;
  error?: WebSocketError;
}

function recordingSink(heard: Heard, done: () => void): TransportSink {
  return {
    transportTcpConnected: () => heard.events.push('tcp'),
    transportReady: (socket) => {
      heard.events.push('ready');
      heard.socket = socket;
      socket.on('error', () => undefined); // as the client does, within transportReady
      cleanups.push(() => socket.destroy());
      done();
    },
    transportFailed: (error) => {
      heard.events.push('failed');
      heard.error = error;
      done();
    },
  };
}

function bounded<T>(what: string, run: (done: () => void) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within 5 s`)), 5_000);
    const result = run(() => {
      clearTimeout(timer);
      setImmediate(() => resolve(result));
    });
  });
}

const OPENING_EVENTS = ['connect', 'secureConnect', 'close', 'error'] as const;
/** The transport module's own listeners (shared functions named onOpening*) left on `socket`. */
function openingListeners(socket: Duplex): string[] {
  return OPENING_EVENTS.flatMap((e) => socket.listeners(e).map((f) => `${e}:${f.name}`)).filter((l) => l.includes(':onOpening'));
}

describe('connectTransport', () => {
  it('TCP: reports ready once, leaving none of its listeners on the socket', async () => {
    const port = await holdingServer();
    const heard: Heard = { events: [] };
    await bounded('ready', (done) => connectTransport({ host: '127.0.0.1', port, secure: false }, recordingSink(heard, done)));
    expect(heard.events).toEqual(['ready']);
    expect(openingListeners(heard.socket!)).toEqual([]);
    expect(heard.socket!.listenerCount('error')).toBe(1); // the sink's own
    expect(Object.getOwnPropertySymbols(heard.socket!).map(String)).not.toContain('Symbol(wspipe.transportSink)');
  });

  it('TLS: reports TCP up, then ready after the TLS handshake', async () => {
    const { key, cert } = makeCertificate();
    const sockets: tls.TLSSocket[] = [];
    const server = tls.createServer({ key, cert }, (s) => {
      s.on('error', () => undefined);
      sockets.push(s);
    });
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const port = await listen(server);
    const heard: Heard = { events: [] };
    await bounded('ready', (done) =>
      connectTransport({ host: '127.0.0.1', port, secure: true, tls: { ca: cert, servername: 'localhost' } }, recordingSink(heard, done)),
    );
    expect(heard.events).toEqual(['tcp', 'ready']);
    expect(openingListeners(heard.socket!)).toEqual([]);
  });

  it('a refused connection is one transportFailed with WSP_ERR_CONNECT_FAILED', async () => {
    const port = await closedPort();
    const heard: Heard = { events: [] };
    await bounded('failed', (done) => connectTransport({ host: '127.0.0.1', port, secure: false }, recordingSink(heard, done)));
    expect(heard.events).toEqual(['failed']);
    expect(heard.error?.code).toBe(ErrorCode.ConnectFailed);
  });

  it('cancelTransport: the socket is destroyed and the sink hears nothing', async () => {
    const port = await holdingServer();
    const heard: Heard = { events: [] };
    const socket = connectTransport({ host: '127.0.0.1', port, secure: false }, recordingSink(heard, () => undefined))!;
    cancelTransport(socket);
    await new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
    await new Promise((r) => setTimeout(r, 50)); // a late 'connect' or 'error' would have come by now
    expect(socket.destroyed).toBe(true);
    expect(heard.events).toEqual([]);
  });
});

describe('openTransport over the shared listeners', () => {
  it('an aborted signal while connecting rejects with WSP_ERR_ABORTED and destroys the socket', async () => {
    const port = await holdingServer();
    const controller = new AbortController();
    const opening = openTransport({ host: '127.0.0.1', port, secure: false, signal: controller.signal });
    controller.abort();
    await expect(opening).rejects.toMatchObject({ code: ErrorCode.Aborted });
  });

  it('resolves with a socket whose opening listeners are gone a turn later', async () => {
    const port = await holdingServer();
    const socket = await openTransport({ host: '127.0.0.1', port, secure: false, signal: new AbortController().signal });
    socket.on('error', () => undefined);
    cleanups.push(() => socket.destroy());
    expect(openingListeners(socket)).toEqual(['error:onOpeningError']); // kept one turn
    await new Promise((r) => setImmediate(r));
    expect(openingListeners(socket)).toEqual([]);
  });
});
