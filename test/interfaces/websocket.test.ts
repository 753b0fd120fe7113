import * as net from 'node:net';
import { Blob } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, CloseEvent, ErrorEvent } from '../../src/index.js';
import type { TestConnection } from '../helpers/test-server.js';
import { startPythonServer, type PythonServer } from '../helpers/python-server.js';
import { nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { useTestServer } from './helpers.js';

const env = useTestServer();

function track(ws: WebSocket): WebSocket {
  env.clients.push(ws.client);
  return ws;
}

/** Every event a WebSocket fires, in order, as `type` or `type:detail`. */
function record(ws: WebSocket): { log: string[]; events: Event[] } {
  const log: string[] = [];
  const events: Event[] = [];
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => {
      events.push(event);
      if (event instanceof CloseEvent) log.push(`close:${event.code}:${event.reason}:${event.wasClean}:${ws.readyState}`);
      else if (event instanceof MessageEvent) log.push(`message:${typeof event.data === 'string' ? event.data : 'binary'}`);
      else log.push(type);
    });
  }
  return { log, events };
}

function nextDomEvent<E extends Event = Event>(target: EventTarget, type: string, ms = 5_000): Promise<E> {
  return withTimeout(new Promise<E>((resolve) => target.addEventListener(type, (e) => resolve(e as E), { once: true })), ms, `DOM event '${type}'`);
}

async function openSocket(...args: ConstructorParameters<typeof WebSocket> extends [unknown, ...infer R] ? R : never): Promise<{ ws: WebSocket; conn: TestConnection }> {
  const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
  const ws = track(new WebSocket(env.server.url(), ...args));
  const [conn] = await connection;
  await nextDomEvent(ws, 'open');
  return { ws, conn };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function expectDomException(fn: () => unknown, name: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DOMException);
  expect((thrown as DOMException).name).toBe(name);
}

describe('WebSocket (WHATWG): the constructor', () => {
  it.each([
    ['not a URL', 'SyntaxError'],
    ['/relative/path', 'SyntaxError'],
    ['ftp://127.0.0.1/', 'SyntaxError'],
    ['file:///tmp/x', 'SyntaxError'],
    ['ws://127.0.0.1/#frag', 'SyntaxError'],
    ['ws://127.0.0.1/#', 'SyntaxError'],
  ])('new WebSocket(%j) throws %s', (url, name) => {
    expectDomException(() => new WebSocket(url), name);
  });

  it.each([
    [['chat', 'chat']],
    [['a b']],
    [['']],
    [['chat', 'x,y']],
    ['with space'],
  ])('refuses the subprotocols %j with a SyntaxError', (protocols) => {
    expectDomException(() => new WebSocket('ws://127.0.0.1:1/', protocols), 'SyntaxError');
  });

  it('maps http: and https: to ws: and wss:, and serialises the URL', () => {
    const a = new WebSocket('http://127.0.0.1:1/a?b=c', { reconnect: false });
    const b = new WebSocket('HTTPS://Example.INVALID/x');
    expect(a.url).toBe('ws://127.0.0.1:1/a?b=c');
    expect(b.url).toBe('wss://example.invalid/x');
    a.client.terminate();
    b.client.terminate();
  });

  it('has the readyState constants on the class and on instances', () => {
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    const ws = new WebSocket('ws://127.0.0.1:1/');
    expect([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    expect(ws.binaryType).toBe('blob');
    expect(ws.bufferedAmount).toBe(0);
    expect(ws).toBeInstanceOf(EventTarget);
    ws.client.terminate();
  });

  it('sends the subprotocols and reports the one selected', async () => {
    const request = nextEvent<[{ headers: Record<string, string> }]>(env.server, 'request', 5_000);
    env.server.handshake = {
      raw: (_req, accept) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: v2\r\n\r\n`,
    };
    const ws = track(new WebSocket(env.server.url(), ['v1', 'v2']));
    const [head] = await request;
    expect(head.headers['sec-websocket-protocol']).toBe('v1, v2');
    await nextDomEvent(ws, 'open');
    expect(ws.protocol).toBe('v2');
    expect(ws.extensions).toBe('');
  });

  it('reports the extensions the server accepted', async () => {
    env.server.handshake = {
      raw: (_req, accept) =>
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
    };
    const ws = track(new WebSocket(env.server.url()));
    await nextDomEvent(ws, 'open');
    expect(ws.extensions).toBe('permessage-deflate');
  });

  it('takes wspipe options as the second argument (headers) or the third', async () => {
    const first = nextEvent<[{ headers: Record<string, string> }]>(env.server, 'request', 5_000);
    track(new WebSocket(env.server.url(), { protocols: 'p1', headers: { 'X-Test': 'one' } }));
    const [a] = await first;
    expect(a.headers['x-test']).toBe('one');
    expect(a.headers['sec-websocket-protocol']).toBe('p1');
    const second = nextEvent<[{ headers: Record<string, string> }]>(env.server, 'request', 5_000);
    track(new WebSocket(env.server.url(), ['p2'], { headers: { 'X-Test': 'two' } }));
    const [b] = await second;
    expect(b.headers['x-test']).toBe('two');
    expect(b.headers['sec-websocket-protocol']).toBe('p2');
  });
});

describe('WebSocket (WHATWG): events', () => {
  it('open, message, close in order; the server closing with 1000 is clean', async () => {
    const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    const ws = track(new WebSocket(env.server.url()));
    const { log } = record(ws);
    const [conn] = await connection;
    await nextDomEvent(ws, 'open');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    conn.send('one');
    conn.send('two');
    conn.close(1000, 'bye');
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    expect(log).toEqual(['open', 'message:one', 'message:two', `close:1000:bye:true:${WebSocket.CLOSED}`]);
    expect(close.wasClean).toBe(true);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('a refused connection fires error, then close with 1006, not clean', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${await closedPort()}/`);
    const { log, events } = record(ws);
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
    expect(close.code).toBe(1006);
    const error = events[0] as ErrorEvent;
    expect(error).toBeInstanceOf(Event);
    expect((error.error as { code: string }).code).toBe('WSP_ERR_CONNECT_FAILED');
  });

  it('a handshake refused with 403 fires error, then close 1006', async () => {
    env.server.handshake = { status: 403, body: 'no' };
    const ws = track(new WebSocket(env.server.url()));
    const { log } = record(ws);
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
  });

  it('a connection lost without a close frame: error, close 1006, not clean', async () => {
    const { ws, conn } = await openSocket();
    const { log } = record(ws);
    conn.destroy();
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
  });

  it('a protocol violation by the server: error, close 1006, and the server got 1002', async () => {
    const { ws, conn } = await openSocket();
    const { log } = record(ws);
    const closeFrame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    conn.sendRaw(Buffer.from([0x83, 0x00])); // reserved opcode 3
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
    expect((await closeFrame)[0].code).toBe(1002);
  });

  it('on* attributes: setting replaces the handler in place, null removes it', async () => {
    const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    const ws = track(new WebSocket(env.server.url()));
    const calls: string[] = [];
    ws.addEventListener('message', () => calls.push('listener-before'));
    ws.onmessage = () => calls.push('first');
    ws.onmessage = function (this: WebSocket, event) {
      calls.push(`second:${this === ws}:${event.data}`);
      return false;
    };
    ws.addEventListener('message', (event) => calls.push(`listener-after:${event.defaultPrevented}`));
    expect(typeof ws.onmessage).toBe('function');
    ws.onopen = () => calls.push('open');
    const [conn] = await connection;
    await nextDomEvent(ws, 'open');
    conn.send('m1');
    await nextDomEvent(ws, 'message');
    // Returning false cancels only cancelable events, and a message event is not one.
    expect(calls).toEqual(['open', 'listener-before', 'second:true:m1', 'listener-after:false']);
    calls.length = 0;
    ws.onmessage = null;
    expect(ws.onmessage).toBe(null);
    conn.send('m2');
    await nextDomEvent(ws, 'message');
    expect(calls).toEqual(['listener-before', 'listener-after:false']);
  });
});

describe('WebSocket (WHATWG): binaryType', () => {
  it('delivers binary as a Blob by default, an ArrayBuffer, or a Buffer (nodebuffer); text as a string', async () => {
    const { ws, conn } = await openSocket();
    const payload = Buffer.from([1, 2, 3, 250]);
    const received: unknown[] = [];
    ws.onmessage = (event) => received.push(event.data);
    conn.send(payload);
    await waitUntil(() => received.length === 1, 5_000, 'a blob');
    ws.binaryType = 'arraybuffer';
    conn.send(payload);
    await waitUntil(() => received.length === 2, 5_000, 'an arraybuffer');
    ws.binaryType = 'nodebuffer';
    conn.send(payload);
    conn.send('text é');
    await waitUntil(() => received.length === 4, 5_000, 'a buffer and a text');
    ws.binaryType = 'bogus' as never; // ignored, as Web IDL says
    expect(ws.binaryType).toBe('nodebuffer');

    const [blob, arrayBuffer, buffer, text] = received;
    expect(blob).toBeInstanceOf(Blob);
    expect(Buffer.from(await (blob as Blob).arrayBuffer())).toEqual(payload);
    expect(arrayBuffer).toBeInstanceOf(ArrayBuffer);
    expect((arrayBuffer as ArrayBuffer).byteLength).toBe(4);
    expect(Buffer.from(arrayBuffer as ArrayBuffer)).toEqual(payload);
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect(buffer).toEqual(payload);
    expect(text).toBe('text é');
  });

  it('MessageEvent.origin is the URL origin', async () => {
    const { ws, conn } = await openSocket();
    conn.send('x');
    const event = await nextDomEvent<MessageEvent>(ws, 'message');
    expect(event).toBeInstanceOf(MessageEvent);
    expect(event.origin).toBe(`ws://127.0.0.1:${env.server.port}`);
  });
});

describe('WebSocket (WHATWG): send()', () => {
  it('throws InvalidStateError while CONNECTING', () => {
    const ws = track(new WebSocket(env.server.url()));
    expectDomException(() => ws.send('too early'), 'InvalidStateError');
  });

  it('sends strings, ArrayBuffers, views and Blobs, in order even behind a Blob', async () => {
    const { ws, conn } = await openSocket();
    const bytes = new Uint8Array([9, 8, 7, 6, 5]);
    ws.send('first');
    ws.send(new Blob([Buffer.from('blob-one'), Buffer.from('-two')]));
    ws.send('after blob');
    ws.send(bytes.buffer);
    ws.send(bytes.subarray(1, 3));
    ws.send(new DataView(bytes.buffer, 2, 2));
    ws.send(12345 as never); // Web IDL turns it into the string "12345"
    await waitUntil(() => conn.messages.length === 7, 5_000, 'seven messages');
    expect(conn.messages.map((m) => [m.binary, m.binary ? [...m.data] : m.data.toString()])).toEqual([
      [false, 'first'],
      [true, [...Buffer.from('blob-one-two')]],
      [false, 'after blob'],
      [true, [9, 8, 7, 6, 5]],
      [true, [8, 7]],
      [true, [7, 6]],
      [false, '12345'],
    ]);
  });

  it('changing a buffer after send() does not change what is sent (open, and queued behind a Blob)', async () => {
    const { ws, conn } = await openSocket();
    const buffer = Buffer.alloc(1000, 0x41);
    ws.send(buffer);
    buffer.fill(0x42);
    ws.send(new Blob(['b']));
    const behind = new Uint8Array(64).fill(0x43);
    ws.send(behind);
    behind.fill(0x44);
    await waitUntil(() => conn.messages.length === 3, 5_000, 'three messages');
    expect(conn.messages[0]!.data.equals(Buffer.alloc(1000, 0x41))).toBe(true);
    expect(conn.messages[2]!.data.equals(Buffer.alloc(64, 0x43))).toBe(true);
  });

  it('bufferedAmount counts unsent bytes, and keeps growing after close', async () => {
    const { ws, conn } = await openSocket();
    conn.pause();
    const chunk = Buffer.alloc(256 * 1024);
    // Enough to fill the kernel buffers of both sides; bounded.
    for (let i = 0; i < 64 && ws.bufferedAmount < 2 * 1024 * 1024; i++) {
      ws.send(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(ws.bufferedAmount).toBeGreaterThan(0);
    conn.resume();
    await waitUntil(() => ws.bufferedAmount === 0, 10_000, 'everything sent');
    ws.close();
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    ws.send('12345');
    ws.send(new Uint8Array(10));
    expect(ws.bufferedAmount).toBe(15);
    await nextDomEvent(ws, 'close');
    ws.send('abc');
    expect(ws.bufferedAmount).toBe(18);
  });
});

describe('WebSocket (WHATWG): close()', () => {
  it.each([[1001], [1005], [999], [2999], [5000], [0]])('close(%i) throws InvalidAccessError', async (code) => {
    const ws = track(new WebSocket(env.server.url()));
    expectDomException(() => ws.close(code), 'InvalidAccessError');
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
  });

  it('a reason over 123 bytes of UTF-8 is a SyntaxError; 123 bytes is fine', async () => {
    const ws = track(new WebSocket(env.server.url()));
    expectDomException(() => ws.close(1000, 'é'.repeat(62)), 'SyntaxError'); // 124 bytes
    expect(() => ws.close(1000, 'x'.repeat(123))).not.toThrow();
  });

  it.each([
    [[1000, 'done'], 1000, 'done'],
    [[3000], 3000, ''],
    [[4999, 'app'], 4999, 'app'],
    [[undefined, 'only a reason'], 1000, 'only a reason'],
    [[1000.5], 1000, ''], // [Clamp]: rounds half to even
  ] as const)('close(%j) sends code %i and reason %j; the close is clean', async (args, code, reason) => {
    // The close event reports the server's close frame: it echoes the code (RFC 6455 5.5.1), not the reason.
    const { ws, conn } = await openSocket();
    const { log } = record(ws);
    const frame = nextEvent<[{ code: number; reason: string }]>(conn, 'closeFrame', 5_000);
    ws.close(...(args as [number, string]));
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    expect(await frame).toEqual([{ code, reason }]);
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    expect(close.code).toBe(code);
    expect(close.wasClean).toBe(true);
    expect(log).toEqual([`close:${code}::true:${WebSocket.CLOSED}`]);
  });

  it('close() while CONNECTING fails the connection: error, then close 1006; no open', async () => {
    env.server.handshake = 'silent';
    const request = nextEvent(env.server, 'request', 5_000);
    const ws = track(new WebSocket(env.server.url()));
    const { log } = record(ws);
    await request;
    ws.close();
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
  });

  it('close() right after construction, before any socket: error, close 1006', async () => {
    const ws = new WebSocket(env.server.url());
    const { log } = record(ws);
    ws.close(1000);
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CLOSED}`]);
  });

  it('messages after close() are not delivered; a second close() does nothing', async () => {
    const { ws, conn } = await openSocket();
    const { log } = record(ws);
    conn.pause(); // the server sees our close frame only later
    ws.close(1000);
    ws.close(3000);
    conn.send('late');
    conn.resume();
    await nextDomEvent(ws, 'close');
    expect(log).toEqual([`close:1000::true:${WebSocket.CLOSED}`]);
  });
});

describe('WebSocket (WHATWG): reconnect (wspipe extension)', () => {
  it('each connection ends in one close; readyState is CONNECTING in it when another attempt follows', async () => {
    const ws = track(new WebSocket(env.server.url(), { reconnect: { initialDelayMs: 10, maxDelayMs: 20 } }));
    const { log } = record(ws);
    let sendInGap: unknown;
    ws.addEventListener('close', () => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      try {
        ws.send('between connections');
      } catch (error) {
        sendInGap = error;
      }
    });
    const first = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    const [conn1] = await first;
    await nextDomEvent(ws, 'open');
    const second = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    conn1.destroy();
    const [conn2] = await second;
    await nextDomEvent(ws, 'open');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    conn2.send('again');
    await nextDomEvent(ws, 'message');
    ws.close(1000);
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['open', 'error', `close:1006::false:${WebSocket.CONNECTING}`, 'open', 'message:again', `close:1000::true:${WebSocket.CLOSED}`]);
    expect((sendInGap as DOMException).name).toBe('InvalidStateError');
  });

  it('close() between two attempts ends it with one close', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${await closedPort()}/`, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    const { log } = record(ws);
    await nextDomEvent(ws, 'close');
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    ws.close();
    await nextDomEvent(ws, 'close');
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(log).toEqual(['error', `close:1006::false:${WebSocket.CONNECTING}`, 'error', `close:1006::false:${WebSocket.CLOSED}`]);
  });
});

describe('WebSocket (WHATWG) against python-websockets', () => {
  let python: PythonServer;
  beforeAll(async () => {
    python = await startPythonServer();
  });
  afterAll(async () => {
    await python?.stop();
  });

  it('echoes text and binary, then closes cleanly with our code', async () => {
    const ws = track(new WebSocket(python.url('/echo')));
    ws.binaryType = 'arraybuffer';
    const { log, events } = record(ws);
    await nextDomEvent(ws, 'open');
    ws.send('hello');
    ws.send(new Uint8Array([1, 2, 3]));
    await waitUntil(() => events.length === 3, 5_000, 'two echoes');
    ws.close(4000, 'bye');
    await nextDomEvent(ws, 'close');
    expect(log).toEqual(['open', 'message:hello', 'message:binary', `close:4000:bye:true:${WebSocket.CLOSED}`]);
    expect([...new Uint8Array((events[2] as MessageEvent).data as ArrayBuffer)]).toEqual([1, 2, 3]);
  });

  it('reports the server close code and reason', async () => {
    const ws = track(new WebSocket(python.url('/close?code=4321&reason=server%20says')));
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    expect([close.code, close.reason, close.wasClean]).toEqual([4321, 'server says', true]);
  });
});

describe('CloseEvent', () => {
  it('has the standard shape', () => {
    const event = new CloseEvent('close', { code: 4000, reason: 'r', wasClean: true });
    expect(event).toBeInstanceOf(Event);
    expect([event.type, event.code, event.reason, event.wasClean]).toEqual(['close', 4000, 'r', true]);
    const empty = new CloseEvent('close');
    expect([empty.code, empty.reason, empty.wasClean]).toEqual([0, '', false]);
  });
});
