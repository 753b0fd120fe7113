// Security properties: masking keys and handshake keys look random and are
// never reused, header injection is impossible, and errors never carry the
// credentials the user gave (Authorization, Cookie, URL userinfo).
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, UsageError } from '../../src/protocol/errors.js';
import { WebSocketClient } from '../conformance/client-under-test.js';
import { Peer } from '../conformance/peer.js';
import { payloadOf } from '../conformance/wire.js';
import { record, type Recorded } from './harness.js';

const peers: Peer[] = [];
const clients: Recorded[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const p of peers.splice(0)) await p.stop();
});

/** The fraction of 1 bits in `buffers`. */
function ones(buffers: Buffer[]): number {
  let set = 0;
  let total = 0;
  for (const b of buffers) {
    for (const byte of b) {
      let v = byte;
      while (v) {
        set += v & 1;
        v >>= 1;
      }
    }
    total += b.length * 8;
  }
  return set / total;
}

describe('masking keys', () => {
  it('2,000 frames of every size class: keys never repeat consecutively, never zero, nearly all distinct, bits balanced', async () => {
    const COUNT = 2000;
    const peer = await Peer.start(async (conn) => {
      await conn.accept();
      await conn.waitMessages(COUNT, 10_000);
      await conn.finish();
    });
    peers.push(peer);
    const r = record(peer.url());
    clients.push(r);
    r.ws.onWebSocketConnect = () => {
      for (let i = 0; i < COUNT; i++) {
        // Small frames go through the encoder's slab; large ones get a buffer of their own.
        const size = i % 100 === 0 ? 20_000 : i % 10 === 0 ? 300 : i % 50;
        r.ws.send(payloadOf(size, 'binary', i), { binary: true });
      }
    };
    r.ws.connect();
    expect(await r.waitCloses(1, 10_000)).toBe(true);
    const conn = peer.connections[0]!;
    expect(conn.violations).toEqual([]);
    const keys = conn.maskKeys.slice(0, COUNT);
    expect(keys.length).toBe(COUNT);
    expect(keys.filter((k) => k.readUInt32BE(0) === 0)).toEqual([]);
    // 2,000 draws of 32 bits: a repeat is about a 1 in 2,000 event; allow a couple.
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBeGreaterThanOrEqual(COUNT - 2);
    const p = ones(keys);
    expect(p).toBeGreaterThan(0.47);
    expect(p).toBeLessThan(0.53);
    // Every byte position of the key varies.
    for (let i = 0; i < 4; i++) expect(new Set(keys.map((k) => k[i])).size).toBeGreaterThan(200);
  });
});

describe('handshake keys', () => {
  it('50 connections: each key is base64 of 16 bytes, all different, bits balanced', async () => {
    const peer = await Peer.start(async (conn) => {
      await conn.accept();
      await conn.finish();
    });
    peers.push(peer);
    for (let i = 0; i < 50; i++) {
      const r = record(peer.url());
      clients.push(r);
      r.ws.connect();
      await r.waitCloses(1, 3000);
    }
    const keys = peer.connections.map((c) => c.request!.key);
    expect(keys.length).toBe(50);
    const raw = keys.map((k) => Buffer.from(k, 'base64'));
    for (const [i, b] of raw.entries()) {
      expect(b.length).toBe(16);
      expect(b.toString('base64')).toBe(keys[i]);
    }
    expect(new Set(keys).size).toBe(50);
    const p = ones(raw);
    expect(p).toBeGreaterThan(0.44);
    expect(p).toBeLessThan(0.56);
    expect(peer.connections.flatMap((c) => c.violations)).toEqual([]);
  });
});

describe('header injection', () => {
  const url = 'ws://127.0.0.1:9/';
  const throwsUsage = (fn: () => unknown, code: string): void => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe(code);
  };
  it.each([
    ['CRLF in a value', { 'X-Test': 'a\r\nX-Injected: 1' }],
    ['LF in a value', { 'X-Test': 'a\nX-Injected: 1' }],
    ['CR in a value', { 'X-Test': 'a\rX-Injected: 1' }],
    ['NUL in a value', { 'X-Test': 'a\u0000b' }],
    ['CRLF in one value of a list', { 'X-Test': ['fine', 'a\r\nX-Injected: 1'] }],
    ['CRLF in a name', { 'X-Test\r\nX-Injected': '1' }],
    ['a colon in a name', { 'X-Test: 1\r\nX': '1' }],
    ['a space in a name', { 'X Test': '1' }],
    ['CRLF in an Authorization value', { Authorization: 'Bearer abc\r\nX-Injected: 1' }],
  ])('%s: UsageError at construction', (_name, headers) => {
    throwsUsage(() => new WebSocketClient(url, { headers: headers as Record<string, string> }), ErrorCode.InvalidHeader);
  });
  it('CRLF in the origin: UsageError at construction', () => {
    throwsUsage(() => new WebSocketClient(url, { origin: 'http://a\r\nX-Injected: 1' }), ErrorCode.InvalidHeader);
  });
  it('CRLF or a comma in a subprotocol: UsageError at construction', () => {
    throwsUsage(() => new WebSocketClient(url, { protocols: ['chat\r\nX-Injected: 1'] }), ErrorCode.InvalidOption);
    throwsUsage(() => new WebSocketClient(url, { protocols: ['a, b'] }), ErrorCode.InvalidOption);
  });
  it('CR/LF/space in the URL never reach the wire as a header', async () => {
    const peer = await Peer.start(async (conn) => {
      await conn.accept();
      await conn.finish();
    });
    peers.push(peer);
    for (const path of ['/a\r\nX-Injected: 1', '/a\nX-Injected:%201', '/a b\r\n\r\nGET / HTTP/1.1']) {
      let ws: WebSocketClient | undefined;
      try {
        ws = new WebSocketClient(`ws://127.0.0.1:${peer.port}${path}`);
      } catch (error) {
        // Refusing the URL is fine too.
        expect(error).toBeInstanceOf(UsageError);
        continue;
      }
      const r = { closed: false };
      ws.onClose = () => (r.closed = true);
      ws.connect();
      for (let i = 0; i < 200 && !r.closed; i++) await sleep(5);
      ws.terminate();
    }
    for (const c of peer.connections) {
      expect(c.request?.headers['x-injected']).toBeUndefined();
      expect(c.request?.raw.split('\r\n')[0]).toMatch(/^GET \S+ HTTP\/1\.1$/);
    }
  });
});

describe('credentials never appear in errors', () => {
  const SECRETS = [
    'SECRET-BEARER-1234',
    'SECRET-COOKIE-5678',
    'SECRET-PASSWORD-90',
    // The URL's credentials as they may travel (Basic), and the proxy's.
    Buffer.from('user:SECRET-PASSWORD-90').toString('base64'),
    'SECRET-PROXY-4242',
    Buffer.from('puser:SECRET-PROXY-4242').toString('base64'),
  ];
  const options = { headers: { Authorization: `Bearer ${SECRETS[0]}`, Cookie: `sid=${SECRETS[1]}` }, handshakeTimeoutMs: 300 };
  const userinfo = `user:${SECRETS[2]}@`;

  function leaks(error: unknown): string[] {
    const texts = [String(error), inspect(error, { depth: 10, showHidden: true }), JSON.stringify(error) ?? '', (error as Error).stack ?? ''];
    for (let cause = (error as Error)?.cause; cause !== undefined && cause !== null; cause = (cause as Error).cause) {
      texts.push(String(cause), inspect(cause, { depth: 10, showHidden: true }), (cause as Error).stack ?? '');
    }
    return SECRETS.filter((s) => texts.some((t) => t.includes(s)));
  }

  it('an invalid credential value: the UsageError does not quote it', () => {
    let error: unknown;
    try {
      new WebSocketClient('ws://127.0.0.1:9/', { headers: { Authorization: `Bearer ${SECRETS[0]}\r\n` } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(leaks(error)).toEqual([]);
  });

  it.each([
    ['401 with a body', 'HTTP/1.1 401 Unauthorized'],
    ['403', 'HTTP/1.1 403 Forbidden'],
    ['a wrong accept', undefined],
    ['no answer (handshake timeout)', null],
  ])('refused handshake (%s): no secret in any error', async (_name, statusLine) => {
    const peer = await Peer.start(async (conn) => {
      if (statusLine === null) return conn.waitTcpClosed(2000).then(() => undefined);
      if (statusLine === undefined) await conn.accept({ accept: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
      else await conn.accept({ statusLine, extraHeaders: [['Content-Length', '12'], ['WWW-Authenticate', 'Bearer']], trailing: Buffer.from('unauthorized') });
      await conn.waitTcpClosed(2000);
    });
    peers.push(peer);
    const r = record(`ws://${userinfo}127.0.0.1:${peer.port}/private`, options);
    clients.push(r);
    r.ws.connect();
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(r.errors.length).toBeGreaterThan(0);
    for (const e of r.errors) {
      expect(leaks(e.error), `${e.code}: ${e.message}`).toEqual([]);
      expect(leaks(e.message)).toEqual([]);
    }
    // The password in the URL is not put in the request line or Host header either.
    const request = peer.connections[0]!.request!;
    expect(request.raw.split('\r\n').filter((l) => !/^(authorization|cookie):/i.test(l)).join('\n')).not.toContain(SECRETS[2]);
  });

  it.each([
    ['407 from the proxy', 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n'],
    ['502 from the proxy', 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'],
    ['the proxy hangs up', ''],
  ])('an HTTP proxy with credentials (%s): no secret in any error', async (_name, answer) => {
    const { createServer } = await import('node:net');
    const requests: string[] = [];
    const proxy = createServer((socket) => {
      socket.once('data', (d) => {
        requests.push(d.toString('latin1'));
        if (answer) socket.end(answer);
        else socket.destroy();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    const r = record(`ws://${userinfo}127.0.0.1:9/target`, { ...options, proxy: `http://puser:${SECRETS[4]}@127.0.0.1:${port}` });
    clients.push(r);
    r.ws.connect();
    expect(await r.waitCloses(1, 3000)).toBe(true);
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    expect(requests[0]).toMatch(/^CONNECT /);
    expect(r.errors.length).toBeGreaterThan(0);
    for (const e of r.errors) expect(leaks(e.error), `${e.code}: ${e.message}`).toEqual([]);
    expect(leaks(r.ws.url)).toEqual([]);
  });

  it('connection refused: no secret in the error', async () => {
    const peer = await Peer.start(async () => {});
    const port = peer.port;
    await peer.stop();
    const r = record(`ws://${userinfo}127.0.0.1:${port}/`, options);
    clients.push(r);
    r.ws.connect();
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.ConnectFailed]);
    for (const e of r.errors) expect(leaks(e.error)).toEqual([]);
  });
});
