import * as net from 'node:net';
import * as v8 from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { resolveOptions } from '../../src/client/options.js';
import { Route } from '../../src/client/redirect.js';
import { HandshakeReader } from '../../src/streams/handshake-stream.js';
import { TestServer } from '../helpers/test-server.js';
import { withTimeout } from '../helpers/wait.js';

// Issue 12 (idle memory): an open idle connection keeps only what it needs;
// what it let go of (the URL objects, the handshake state, the defaults it
// shares) must still be there whenever a reconnection, a redirect or a
// reader of `currentUrl`, `response` or the options needs it.

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof TestServer.start>[0] = {}): Promise<TestServer> {
  const s = await TestServer.start(options);
  cleanups.push(() => s.close());
  return s;
}

function client(url: string, options: WebSocketClientOptions = {}): WebSocketClient {
  const ws = new WebSocketClient(url, { handshakeTimeoutMs: 5_000, perMessageDeflate: false, ...options });
  ws.onError = () => {};
  cleanups.push(() => ws.terminate());
  return ws;
}

function open(ws: WebSocketClient): Promise<unknown> {
  return withTimeout(new Promise((resolve) => ws.once('open', resolve)), 8_000, 'open');
}

function closed(ws: WebSocketClient): Promise<unknown> {
  return withTimeout(new Promise((resolve) => ws.once('close', resolve)), 8_000, 'close');
}

/** Answers every handshake with a 302 to `location`. */
async function redirector(location: string): Promise<{ port: number; requests: number }> {
  const state = { port: 0, requests: 0 };
  const srv = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      state.requests++;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  state.port = (srv.address() as net.AddressInfo).port;
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return state;
}

describe('options: each client holds only what differs from the shared defaults', () => {
  it('the defaults read as documented, and only the options given are own properties', () => {
    const defaults = resolveOptions({});
    expect(Object.keys(defaults)).toEqual([]);
    expect(defaults).toMatchObject({ handshakeTimeoutMs: 10_000, closeTimeoutMs: 5_000, maxQueuedBytes: 16 * 1024 * 1024, highWaterMarkBytes: 1024 * 1024 });
    expect(defaults).toMatchObject({ fragments: 'concat', pingIntervalMs: 0, pongTimeoutMs: 0, maxRedirects: 5, followRedirects: false, protocols: [] });
    expect(defaults.perMessageDeflate).toMatchObject({ clientMaxWindowBits: true, serverNoContextTakeover: false });
    const some = resolveOptions({ perMessageDeflate: false, pingIntervalMs: 30_000, closeTimeoutMs: 5_000 });
    // closeTimeoutMs equals its default: not held; pongTimeoutMs follows pingIntervalMs, so it differs.
    expect(Object.keys(some).sort()).toEqual(['perMessageDeflate', 'pingIntervalMs', 'pongTimeoutMs']);
    expect(some).toMatchObject({ perMessageDeflate: undefined, pingIntervalMs: 30_000, pongTimeoutMs: 30_000, closeTimeoutMs: 5_000 });
  });

  it('what clients share cannot be changed through one of them', () => {
    const a = resolveOptions({});
    expect(Object.isFrozen(a.protocols)).toBe(true);
    expect(Object.isFrozen(a.perMessageDeflate)).toBe(true);
    expect(Object.isFrozen(resolveOptions({ reconnect: true }).reconnect)).toBe(true);
    // A client's own options shadow the defaults without touching them.
    expect(resolveOptions({ maxRedirects: 1 }).maxRedirects).toBe(1);
    expect(resolveOptions({}).maxRedirects).toBe(5);
  });
});

describe('options of plain values: one resolved object for all clients given the same', () => {
  it('is shared (and frozen) for the same plain values, and not for other values or object options', () => {
    const a = resolveOptions({ perMessageDeflate: false, reconnect: false });
    expect(resolveOptions({ perMessageDeflate: false, reconnect: false })).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(resolveOptions({ perMessageDeflate: false, reconnect: true })).not.toBe(a);
    const headers = { 'X-A': '1' };
    expect(resolveOptions({ headers })).not.toBe(resolveOptions({ headers }));
    expect(resolveOptions({ headers }).headers).toEqual({ 'X-A': '1' });
    // Options that are not a plain object (here one inheriting a value) are resolved as given.
    expect(resolveOptions(Object.create({ pingIntervalMs: 5 }) as never).pingIntervalMs).toBe(5);
    expect(resolveOptions({}).pingIntervalMs).toBe(0);
  });

  it('a refused option is refused every time, and a string is not taken for a number', () => {
    for (let i = 0; i < 2; i++) {
      expect(() => resolveOptions({ maxRedirects: '5' } as never)).toThrow(expect.objectContaining({ code: 'WSP_ERR_INVALID_OPTION' }));
    }
    expect(resolveOptions({ maxRedirects: 3 }).maxRedirects).toBe(3);
    expect(() => resolveOptions({ maxRedirects: '3' } as never)).toThrow(expect.objectContaining({ code: 'WSP_ERR_INVALID_OPTION' }));
  });
});

describe('the URL is kept as one string and parsed again when needed', () => {
  it('every reconnection goes to the URL given, with its credentials', async () => {
    const s = await server();
    const ws = client(`ws://alice:s%20cret@127.0.0.1:${s.port}/first?q=1`);
    expect(ws.url).toBe(`ws://127.0.0.1:${s.port}/first?q=1`);
    for (let i = 0; i < 2; i++) {
      const opened = open(ws);
      ws.connect();
      await opened;
      expect(ws.currentUrl).toBe(ws.url);
      const ended = closed(ws);
      ws.close();
      await ended;
    }
    const basic = `Basic ${Buffer.from('alice:s cret').toString('base64')}`;
    expect(s.requests.map((r) => [r.path, r.headers['authorization']])).toEqual([
      ['/first?q=1', basic],
      ['/first?q=1', basic],
    ]);
  });

  it('currentUrl says where a redirect led while that connection lasts; the next connect() starts from the URL given', async () => {
    const target = await server();
    const from = await redirector(`ws://127.0.0.1:${target.port}/landed`);
    const ws = client(`ws://127.0.0.1:${from.port}/start`, { followRedirects: true });
    expect(ws.currentUrl).toBe(`ws://127.0.0.1:${from.port}/start`);
    for (let i = 0; i < 2; i++) {
      const opened = open(ws);
      ws.connect();
      await opened;
      expect(ws.currentUrl).toBe(`ws://127.0.0.1:${target.port}/landed`);
      const ended = closed(ws);
      ws.close();
      await ended;
      // Between connections, the last one's (as before issue 12); the next connect() starts from the URL given.
      expect(ws.currentUrl).toBe(`ws://127.0.0.1:${target.port}/landed`);
      expect(from.requests).toBe(i + 1);
    }
    expect(from.requests).toBe(2);
    expect(target.requests.map((r) => r.path)).toEqual(['/landed', '/landed']);
  });
});

describe('the kept 101', () => {
  it('keeps every header as sent, long values included, once they are its own strings', async () => {
    const server2 = await server({
      handshake: {
        raw: (_request: unknown, accept: string) =>
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${accept}\r\nServer: an-example-server/1.2.3 (with a long name)\r\nX-Short: ok\r\n` +
          'X-Repeated: first value, long enough\r\nX-Repeated: second\r\n\r\n',
      },
    });
    const ws = client(server2.url('/'));
    const opened = open(ws);
    ws.connect();
    await opened;
    const response = ws.response!;
    expect(response.headers).toMatchObject({
      upgrade: 'websocket',
      server: 'an-example-server/1.2.3 (with a long name)',
      'x-short': 'ok',
      'x-repeated': 'first value, long enough, second',
    });
    expect(response.rawHeaders).toEqual([
      'Upgrade',
      'websocket',
      'Connection',
      'Upgrade',
      'Sec-WebSocket-Accept',
      response.headers['sec-websocket-accept'],
      'Server',
      'an-example-server/1.2.3 (with a long name)',
      'X-Short',
      'ok',
      'X-Repeated',
      'first value, long enough',
      'X-Repeated',
      'second',
    ]);
    expect(response.rawHeaders).toHaveLength(14);
  });
});

// v8.queryObjects (Node 20.13 and later) counts the live instances of a class, after a full GC.
const queryObjects = (v8 as { queryObjects?: (ctor: unknown, options: { format: 'count' }) => number }).queryObjects;

describe.skipIf(queryObjects === undefined)('what an open idle connection lets go of', () => {
  it('no URL, Route or HandshakeReader stays per open connection', async () => {
    const count = (ctor: unknown): number => queryObjects!(ctor, { format: 'count' });
    const s = await server();
    const n = 8;
    const before = [count(URL), count(Route), count(HandshakeReader)];
    const clients = Array.from({ length: n }, () => client(s.url('/idle')));
    await Promise.all(
      clients.map((ws) => {
        const opened = open(ws);
        ws.connect();
        return opened;
      }),
    );
    const after = [count(URL), count(Route), count(HandshakeReader)];
    // Some other code may make a URL meanwhile; one per connection would be n more.
    expect(after[0]! - before[0]!).toBeLessThan(n);
    expect(after.slice(1)).toEqual(before.slice(1));
    for (const ws of clients) expect(ws.readyState).toBe('open');
  });
});
