// Regressions found by using the standard interfaces as browser, undici and
// ws code uses them, and comparing with undici's WebSocket on the same server.
import { describe, expect, it } from 'vitest';
import { CloseEvent, ErrorEvent, UsageError, WebSocket, WebSocketClient, WebSocketStream, WebSocketStreamError, createWebSocketStream } from '../../src/index.js';
import { delay, waitUntil, withTimeout } from '../helpers/wait.js';
import type { TestConnection } from '../helpers/test-server.js';
import { useTestServer } from './helpers.js';

const env = useTestServer();

function track<T extends { client: { terminate(): void } }>(socket: T): T {
  env.clients.push(socket.client as never);
  return socket;
}

function nextDomEvent<E extends Event = Event>(target: EventTarget, type: string, ms = 5_000): Promise<E> {
  return withTimeout(new Promise<E>((resolve) => target.addEventListener(type, (e) => resolve(e as E), { once: true })), ms, `DOM event '${type}'`);
}

/** A 101 that selects no subprotocol, whatever the client offered (RFC 6455 allows it). */
function answerWithoutSubprotocol(): void {
  env.server.handshake = {
    raw: (_request, accept) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
  };
}

describe('a 101 that selects none of the subprotocols offered (Fetch: "fail the WebSocket connection")', () => {
  it('WebSocket: no open; error (WSP_ERR_HANDSHAKE_PROTOCOL), then close 1006, not clean', async () => {
    answerWithoutSubprotocol();
    const ws = track(new WebSocket(env.server.url(), ['chat']));
    const log: string[] = [];
    let error: ErrorEvent | undefined;
    ws.addEventListener('open', () => log.push('open'));
    ws.addEventListener('error', (event) => {
      error = event as ErrorEvent;
      log.push(`error:${ws.readyState}`);
    });
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    log.push(`close:${close.code}:${close.wasClean}:${ws.readyState}`);
    expect(log).toEqual([`error:${WebSocket.CLOSED}`, `close:1006:false:${WebSocket.CLOSED}`]);
    expect((error?.error as { code: string }).code).toBe('WSP_ERR_HANDSHAKE_PROTOCOL');
    expect(ws.protocol).toBe('');
  });

  it('WebSocket: with reconnect on, the failure is final (one close, CLOSED)', async () => {
    answerWithoutSubprotocol();
    const ws = track(new WebSocket(env.server.url(), { protocols: ['chat'], reconnect: { initialDelayMs: 1, maxAttempts: 3 } }));
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    expect(close.code).toBe(1006);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(ws.client.readyState).toBe('closed');
  });

  it('WebSocket: without subprotocols offered, the same 101 opens', async () => {
    answerWithoutSubprotocol();
    const ws = track(new WebSocket(env.server.url()));
    await nextDomEvent(ws, 'open');
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('WebSocketStream: opened and closed reject with a WebSocketError 1006 caused by the handshake check', async () => {
    answerWithoutSubprotocol();
    const wss = track(new WebSocketStream(env.server.url(), { protocols: ['chat'] }));
    const opened = await withTimeout(wss.opened.then(() => undefined, (e: unknown) => e), 5_000, 'opened');
    const closed = await withTimeout(wss.closed.then(() => undefined, (e: unknown) => e), 5_000, 'closed');
    for (const error of [opened, closed]) {
      expect(error).toBeInstanceOf(WebSocketStreamError);
      expect((error as WebSocketStreamError).closeCode).toBe(1006);
    }
    expect(((opened as Error).cause as { code: string }).code).toBe('WSP_ERR_HANDSHAKE_PROTOCOL');
  });
});

describe('Web IDL argument conversions, as undici applies them', () => {
  it('new WebSocket() and new WebSocketStream() with no argument are TypeErrors (a missing URL is not a SyntaxError)', () => {
    const NoArgs = WebSocket as unknown as new () => WebSocket;
    const NoArgsStream = WebSocketStream as unknown as new () => WebSocketStream;
    expect(() => new NoArgs()).toThrow(TypeError);
    expect(() => new NoArgsStream()).toThrow(TypeError);
  });

  it('send() with no argument is a TypeError; send(undefined) sends the text "undefined"', async () => {
    const ws = track(new WebSocket(env.server.url()));
    await nextDomEvent(ws, 'open');
    const bare = ws.send as unknown as () => void;
    expect(() => bare.call(ws)).toThrow(TypeError);
    const conn = env.server.connections.at(-1)!;
    const message = withTimeout(new Promise<{ binary: boolean; data: Buffer }>((resolve) => conn.once('message', resolve)), 5_000, 'message');
    ws.send(undefined as unknown as string);
    const received = await message;
    expect(received.binary).toBe(false);
    expect(received.data.toString()).toBe('undefined');
  });

  it('WebSocketStream.close(null) is close({}): a clean close', async () => {
    const wss = track(new WebSocketStream(env.server.url()));
    await withTimeout(wss.opened, 5_000, 'opened');
    wss.close(null);
    const closed = await withTimeout(wss.closed, 5_000, 'closed');
    expect(closed.closeCode).toBe(1005); // no code given: a close frame with no status code
  });
});

describe('WebSocket.bufferedAmount counts application data only (WebSockets standard, "bufferedAmount")', () => {
  it('after send("hello") and 3 bytes in the same turn it is 8 (no frame headers), then 0', async () => {
    const ws = track(new WebSocket(env.server.url()));
    await nextDomEvent(ws, 'open');
    ws.send('hello');
    ws.send(new Uint8Array([1, 2, 3]));
    // The frames wait in the encoder's batch until the end of this turn: nothing was written yet.
    expect(ws.bufferedAmount).toBe(8);
    await waitUntil(() => ws.bufferedAmount === 0, 5_000, 'everything written');
    ws.send('é');
    expect(ws.bufferedAmount).toBe(2);
  });
});

/** What `fn` throws (or undefined). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** `call` on a fresh idle client throws UsageError WSP_ERR_INVALID_OPTION and leaves the client idle. */
function expectRefusedBeforeConnecting(call: (client: WebSocketClient) => unknown): void {
  const client = new WebSocketClient(env.server.url());
  const error = thrown(() => call(client));
  expect(error).toBeInstanceOf(UsageError);
  expect((error as UsageError).code).toBe('WSP_ERR_INVALID_OPTION');
  expect(client.readyState).toBe('idle');
}

describe('createWebSocketStream() from plain JS: a UsageError at the call, never a crash later', () => {
  it.each([
    ['null', null],
    ['a URL string', 'ws://127.0.0.1:1/'],
    ['a plain object', { on() {} }],
  ])('refuses %s in place of a client', (_name, value) => {
    const error = thrown(() => createWebSocketStream(value as unknown as WebSocketClient));
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe('WSP_ERR_INVALID_OPTION');
  });

  it('refuses a wspipe WebSocket and says to pass its .client', () => {
    const ws = track(new WebSocket(env.server.url()));
    const error = thrown(() => createWebSocketStream(ws as unknown as WebSocketClient));
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain('.client');
  });

  it.each([
    ['errorCloseCode 1005', { errorCloseCode: 1005 }],
    ['errorCloseCode "x"', { errorCloseCode: 'x' }],
    ['errorCloseCode 1011.5', { errorCloseCode: 1011.5 }],
    ['objectMode "no"', { objectMode: 'no' }],
    ['options 5', 5],
  ])('refuses %s (before: accepted, and a bad close code was thrown out of destroy() as an uncaught exception)', (_name, options) => {
    expectRefusedBeforeConnecting((client) => createWebSocketStream(client, options as never));
  });

  it('a write that is not a string or buffer destroys the stream with a UsageError and closes 1011', async () => {
    const client = new WebSocketClient(env.server.url());
    env.clients.push(client);
    const duplex = createWebSocketStream(client);
    const failed = withTimeout(new Promise<Error>((resolve) => duplex.once('error', resolve)), 5_000, 'error');
    await withTimeout(client.opened, 5_000, 'opened');
    duplex.write({ not: 'a message' });
    const error = await failed;
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe('WSP_ERR_INVALID_OPTION');
    expect((await withTimeout(client.closed, 5_000, 'closed')).code).toBe(1011);
  });
});

describe('client.messages() options from plain JS', () => {
  it.each([
    ['highWaterMark "x" (was NaN: never paused, no backpressure)', { highWaterMark: 'x' }],
    ['highWaterMark 0', { highWaterMark: 0 }],
    ['highWaterMark -5', { highWaterMark: -5 }],
    ['highWaterMark 2.5', { highWaterMark: 2.5 }],
    ['closeOnReturn "no" (was true)', { closeOnReturn: 'no' }],
    ['options 5', 5],
  ])('refuses %s with a UsageError, before connecting', (_name, options) => {
    expectRefusedBeforeConnecting((client) => client.messages(options as never));
  });

  it('messages(null) is messages(): the defaults (was a TypeError reading null.highWaterMark)', async () => {
    const client = new WebSocketClient(env.server.url());
    env.clients.push(client);
    const iterator = client.messages(null as never);
    await withTimeout(client.opened, 5_000, 'opened');
    await withTimeout(iterator.return!(), 5_000, 'return');
    expect(client.readyState).toBe('closed');
  });
});

describe('WebSocket with a signal (wspipe extension): aborting is a failed connection', () => {
  it('aborted while CONNECTING: error (WSP_ERR_ABORTED), then close 1006, as close() while CONNECTING', async () => {
    env.server.handshake = 'silent';
    const controller = new AbortController();
    const ws = track(new WebSocket(env.server.url(), { signal: controller.signal }));
    const log: string[] = [];
    let error: ErrorEvent | undefined;
    ws.onerror = (event) => {
      error = event as ErrorEvent;
      log.push('error');
    };
    await waitUntil(() => env.server.requests.length > 0, 5_000, 'the request');
    const closed = nextDomEvent<CloseEvent>(ws, 'close');
    controller.abort();
    const close = await closed;
    log.push(`close:${close.code}:${close.wasClean}:${ws.readyState}`);
    expect(log).toEqual(['error', `close:1006:false:${WebSocket.CLOSED}`]);
    expect((error?.error as { code: string }).code).toBe('WSP_ERR_ABORTED');
  });

  it('aborted while open: error, then close 1006', async () => {
    const controller = new AbortController();
    const ws = track(new WebSocket(env.server.url(), { signal: controller.signal }));
    await nextDomEvent(ws, 'open');
    const log: string[] = [];
    ws.onerror = () => log.push('error');
    const closed = nextDomEvent<CloseEvent>(ws, 'close');
    controller.abort();
    const close = await closed;
    log.push(`close:${close.code}:${close.wasClean}`);
    expect(log).toEqual(['error', 'close:1006:false']);
  });

  it('aborted between two attempts of a reconnecting socket: one more close, then CLOSED', async () => {
    env.server.handshake = { status: 503, body: 'later' };
    const controller = new AbortController();
    const ws = track(new WebSocket(env.server.url(), { signal: controller.signal, reconnect: { initialDelayMs: 60_000, maxAttempts: 2 } }));
    await nextDomEvent(ws, 'close');
    expect(ws.readyState).toBe(WebSocket.CONNECTING); // a reconnect waits
    const second = nextDomEvent<CloseEvent>(ws, 'close');
    controller.abort();
    expect((await second).code).toBe(1006);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });
});

describe("adapters of whole messages over a client with fragments: 'stream'", () => {
  // Before: binary messages came only as 'messageStream' Readables, which the Duplex and messages()
  // did not listen to: they were lost without a word, and the text around them still came.
  /** A fragments: 'stream' client, `adapt`ed before it opens, and the server's side once open. */
  async function openStreaming<T>(adapt: (client: WebSocketClient) => T): Promise<{ adapted: T; conn: TestConnection }> {
    const client = new WebSocketClient(env.server.url(), { fragments: 'stream' });
    env.clients.push(client);
    const adapted = adapt(client);
    await withTimeout(client.opened, 5_000, 'opened');
    return { adapted, conn: env.server.connections.at(-1)! };
  }

  it('messages() yields text and binary in order, a large binary message whole', async () => {
    const { adapted: iterator, conn } = await openStreaming((client) => client.messages());
    const large = Buffer.alloc(3 * 1024 * 1024, 0x61);
    conn.send('first');
    conn.send(large);
    conn.send('last');
    const got: Array<string | Buffer> = [];
    for (let i = 0; i < 3; i++) got.push((await withTimeout(iterator.next(), 5_000, `message ${i}`)).value as string | Buffer);
    expect(got[0]).toBe('first');
    expect(Buffer.isBuffer(got[1]) && got[1].equals(large)).toBe(true);
    expect(got[2]).toBe('last');
    await withTimeout(iterator.return!(), 5_000, 'return');
  });

  it('createWebSocketStream() pushes text and binary in order', async () => {
    const got: unknown[] = [];
    const { adapted: duplex, conn } = await openStreaming((client) => createWebSocketStream(client).on('data', (chunk) => got.push(chunk)));
    conn.send('a');
    conn.send(Buffer.from('bin'));
    conn.send('c');
    await waitUntil(() => got.length === 3, 5_000, 'three chunks');
    expect(got).toEqual(['a', Buffer.from('bin'), 'c']);
    duplex.destroy();
  });

  it('a connection lost mid-message: no partial message; the loop throws the connection error', async () => {
    const { adapted: iterator, conn } = await openStreaming((client) => client.messages());
    conn.send('before');
    conn.sendRaw(Buffer.from([0x02, 0x03, 0x61, 0x62, 0x63])); // binary, not final: "abc" of more to come
    await delay(20);
    conn.destroy();
    expect((await withTimeout(iterator.next(), 5_000, 'first')).value).toBe('before');
    const error = await withTimeout(iterator.next().then(() => undefined, (e: unknown) => e), 5_000, 'the end');
    expect((error as { code: string }).code).toBe('WSP_ERR_CONNECTION_LOST');
  });
});

describe('subprotocols repeated in another case', () => {
  it('are a SyntaxError for WebSocket and WebSocketStream (web-platform-tests Create-protocols-repeated-case-insensitive)', () => {
    for (const create of [() => new WebSocket(env.server.url(), ['chat', 'CHAT']), () => new WebSocketStream(env.server.url(), { protocols: ['v1', 'V1'] })]) {
      const error = thrown(create);
      expect(error).toBeInstanceOf(DOMException);
      expect((error as DOMException).name).toBe('SyntaxError');
    }
  });
});

describe('WebSocketStream binary chunks', () => {
  it("own their ArrayBuffer: chunk.buffer is the message, not the socket read around it (before: other frames' bytes)", async () => {
    const wss = track(new WebSocketStream(env.server.url()));
    const { readable } = await withTimeout(wss.opened, 5_000, 'opened');
    // Two binary messages in one TCP write, so they arrive in one read.
    env.server.connections.at(-1)!.sendRaw(Buffer.from([0x82, 0x02, 0x01, 0x02, 0x82, 0x02, 0x03, 0x04]));
    const reader = readable.getReader();
    for (const expected of [[1, 2], [3, 4]]) {
      const { value } = await withTimeout(reader.read(), 5_000, 'a chunk');
      const chunk = value as Uint8Array;
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.buffer.byteLength).toBe(2);
      expect([...new Uint8Array(chunk.buffer)]).toEqual(expected);
    }
    reader.releaseLock();
    wss.close();
  });
});

describe('a listener that throws does not stop the connection', () => {
  it("a Duplex 'data' listener that throws: the error is uncaught (as in any listener), the next message still comes", async () => {
    // Catch the uncaught exception here instead of vitest, for this test only.
    const theirs = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught: unknown[] = [];
    process.on('uncaughtException', (error) => uncaught.push(error));
    try {
      const client = new WebSocketClient(env.server.url());
      env.clients.push(client);
      const duplex = createWebSocketStream(client);
      const got: unknown[] = [];
      duplex.on('data', (chunk) => {
        got.push(chunk);
        if (got.length === 1) throw new Error('thrown by a listener');
      });
      await withTimeout(client.opened, 5_000, 'opened');
      const conn = env.server.connections.at(-1)!;
      conn.send('one');
      conn.send('two');
      await waitUntil(() => got.length === 2 && uncaught.length === 1, 5_000, 'both messages and the uncaught error');
      expect(got).toEqual(['one', 'two']);
      expect((uncaught[0] as Error).message).toBe('thrown by a listener');
      expect(client.readyState).toBe('open');
      duplex.destroy();
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of theirs) process.on('uncaughtException', listener);
    }
  });
});

describe('browser-style TypeScript compiles against WebSocket (type-checked with `npm run typecheck`)', () => {
  it('addEventListener types each event as the DOM library does', async () => {
    const ws = track(new WebSocket(env.server.url()));
    const seen: string[] = [];
    ws.addEventListener('message', (event) => seen.push(String(event.data)));
    ws.addEventListener('close', (event) => seen.push(`close:${event.code}:${event.reason}:${event.wasClean}`));
    ws.addEventListener('error', (event) => seen.push(String(event.message)));
    ws.addEventListener('open', { handleEvent: (event) => seen.push(event.type) }, { once: true });
    // @ts-expect-error a CloseEvent has no data
    ws.addEventListener('close', (event) => event.data);
    const any = (event: Event): void => void seen.push(`any:${event.type}`);
    ws.addEventListener('open', any);
    ws.removeEventListener('open', any);
    await nextDomEvent(ws, 'open');
    env.server.connections.at(-1)!.send('typed');
    await waitUntil(() => seen.includes('typed'), 5_000, 'the message');
    expect(seen).toEqual(['open', 'typed']);
  });
});

describe('close() with no code (WebSockets standard, "close the WebSocket": no status code on the wire)', () => {
  it.each([
    ['close()', [], undefined, 1005, ''],
    ["close(undefined, 'bye'): a reason alone gets code 1000", [undefined, 'bye'], 1000, 1000, 'bye'],
    ["close(4000, 'done')", [4000, 'done'], 4000, 4000, 'done'],
  ] as const)('WebSocket %s', async (_name, args, sent, code, reason) => {
    const ws = track(new WebSocket(env.server.url()));
    await nextDomEvent(ws, 'open');
    const conn = env.server.connections.at(-1)!;
    ws.close(...(args as unknown as [number?, string?]));
    const close = await nextDomEvent<CloseEvent>(ws, 'close');
    // What we sent; the test server echoes the code only, so the event's reason is its (empty) one.
    expect(conn.closeFrame).toEqual({ code: sent, reason });
    expect([close.code, close.wasClean]).toEqual([code, true]);
  });

  it('WebSocketClient: close(1005) sends a close frame with no body; close(1005, reason) is refused', async () => {
    const client = new WebSocketClient(env.server.url());
    env.clients.push(client);
    expect(() => client.close(1005, 'x')).toThrow(expect.objectContaining({ code: 'WSP_ERR_INVALID_CLOSE_ARGUMENT' }));
    client.connect();
    await withTimeout(client.opened, 5_000, 'opened');
    const conn = env.server.connections.at(-1)!;
    client.close(1005);
    const closed = await withTimeout(client.closed, 5_000, 'closed');
    expect(conn.closeFrame).toEqual({ code: undefined, reason: '' });
    expect(closed.code).toBe(1005);
  });
});
