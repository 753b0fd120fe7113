import * as net from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HandshakeError,
  UsageError,
  WebSocketClient,
  type WebSocketClientOptions,
  type WebSocketError,
} from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { useTestServer } from '../helpers/use-test-server.js';
import { ClientRecorder, nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';

const env = useTestServer();
const clients = env.clients;
let server: TestServer;
beforeAll(() => {
  server = env.server;
});

function client(url: string, options: WebSocketClientOptions = {}): WebSocketClient {
  const ws = new WebSocketClient(url, options);
  clients.push(ws);
  return ws;
}

/** Records onError and onClose (the callbacks) in the order they fire. */
function callbacks(ws: WebSocketClient): {
  log: string[];
  errors: WebSocketError[];
  closed: Promise<[number, string]>;
} {
  const log: string[] = [];
  const errors: WebSocketError[] = [];
  ws.onError = (_conn, code, _message, error) => {
    log.push(`error ${code}`);
    errors.push(error);
  };
  const closed = new Promise<[number, string]>((resolve) => {
    ws.onClose = (_conn, code, reason) => {
      log.push(`close ${code}`);
      resolve([code, reason]);
    };
  });
  return { log, errors, closed: withTimeout(closed, 5_000, 'onClose') };
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function usageErrorOf(construct: () => unknown): UsageError {
  try {
    construct();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError at construction');
}

describe('bad input is refused at construction with a UsageError', () => {
  it.each([
    ['not a url', 'WSP_ERR_INVALID_URL'],
    ['', 'WSP_ERR_INVALID_URL'],
    ['ftp://127.0.0.1/', 'WSP_ERR_INVALID_URL'],
    ['file:///etc/passwd', 'WSP_ERR_INVALID_URL'],
    ['ws://127.0.0.1:1234/#fragment', 'WSP_ERR_INVALID_URL'],
    ['ws://127.0.0.1:1234/path?q=1#frag', 'WSP_ERR_INVALID_URL'],
  ])('URL %j -> %s', (url, code) => {
    expect(usageErrorOf(() => new WebSocketClient(url)).code).toBe(code);
  });

  it.each([
    ['CR/LF in a value', { 'X-Header': 'a\r\nX-Injected: 1' }],
    ['LF in a value', { 'X-Header': 'a\nb' }],
    ['CR in a value', { 'X-Header': 'a\rb' }],
    ['NUL in a value', { 'X-Header': 'a\u0000b' }],
    ['CR/LF in one value of a list', { 'X-Many': ['fine', 'bad\r\n'] }],
    ['a space in a name', { 'Bad Name': 'v' }],
    ['a colon in a name', { 'Bad:Name': 'v' }],
    ['CR/LF in a name', { 'X\r\nInjected': 'v' }],
    ['an empty name', { '': 'v' }],
    ['a non-ASCII name', { 'X-Ünïcode': 'v' }],
    ['a handshake header', { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }],
  ])('headers with %s -> WSP_ERR_INVALID_HEADER', (_what, headers) => {
    const error = usageErrorOf(() => new WebSocketClient('ws://127.0.0.1:1234/', { headers }));
    expect(error.code).toBe('WSP_ERR_INVALID_HEADER');
    // A header value may be a secret: the message must not echo it.
    expect(error.message).not.toContain('Injected: 1');
  });

  it.each([
    ['a negative pingIntervalMs', { pingIntervalMs: -1 }],
    ['a NaN handshakeTimeoutMs', { handshakeTimeoutMs: Number.NaN }],
    ['an unknown messageType', { messageType: 'blob' as 'text' }],
  ])('options with %s -> WSP_ERR_INVALID_OPTION', (_what, options) => {
    expect(usageErrorOf(() => new WebSocketClient('ws://127.0.0.1:1234/', options)).code).toBe('WSP_ERR_INVALID_OPTION');
  });
});

describe('failures on the wire are reported through onError, then onClose', () => {
  it('connection refused: WSP_ERR_CONNECT_FAILED, then onClose 1006', async () => {
    const ws = client(`ws://127.0.0.1:${await closedPort()}/`);
    const { log, errors, closed } = callbacks(ws);
    const connected: string[] = [];
    ws.onConnect = () => connected.push('connect');
    ws.connect();
    expect(await closed).toEqual([1006, '']);
    expect(log).toEqual(['error WSP_ERR_CONNECT_FAILED', 'close 1006']);
    expect((errors[0]!.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(connected).toEqual([]);
    expect(ws.readyState).toBe('closed');
  });

  it('a server that never answers the handshake: WSP_ERR_HANDSHAKE_TIMEOUT', async () => {
    server.handshake = 'silent';
    const ws = client(server.url(), { handshakeTimeoutMs: 200 });
    const { log, closed } = callbacks(ws);
    const request = nextEvent(server, 'request', 5_000);
    const startedAt = Date.now();
    ws.connect();
    await request;
    expect(await closed).toEqual([1006, '']);
    const elapsedMs = Date.now() - startedAt;
    expect(log).toEqual(['error WSP_ERR_HANDSHAKE_TIMEOUT', 'close 1006']);
    // Node's timers count from the event loop's cached clock, which can be a little behind Date.now().
    expect(elapsedMs).toBeGreaterThanOrEqual(150);
    expect(elapsedMs).toBeLessThan(1_500);
    await waitUntil(() => server.openSockets === 0, 2_000, 'the client dropped its socket');
  });

  it('a 403 reply: a HandshakeError with the status and the start of the body', async () => {
    const body = 'Forbidden: your token has expired. ' + 'x'.repeat(2_000);
    server.handshake = { status: 403, reason: 'Forbidden', body };
    const ws = client(server.url());
    const { log, errors, closed } = callbacks(ws);
    const opened: string[] = [];
    ws.onWebSocketConnect = () => opened.push('open');
    ws.connect();
    expect(await closed).toEqual([1006, '']);
    expect(log).toEqual(['error WSP_ERR_HANDSHAKE_STATUS', 'close 1006']);
    const error = errors[0]!;
    expect(error).toBeInstanceOf(HandshakeError);
    const refusal = error as HandshakeError;
    expect(refusal.status).toBe(403);
    expect(refusal.bodyStart).toMatch(/^Forbidden: your token has expired\. x+$/);
    expect(refusal.bodyStart!.length).toBeLessThanOrEqual(512);
    expect(refusal.headers?.['content-type']).toBe('text/plain');
    expect(opened).toEqual([]);
  });

  it('a 500 reply with an empty body still reports the status', async () => {
    server.handshake = { status: 500, reason: 'Internal Server Error', body: '' };
    const ws = client(server.url());
    const { errors, closed } = callbacks(ws);
    ws.connect();
    expect(await closed).toEqual([1006, '']);
    expect(errors.map((e) => e.code)).toEqual(['WSP_ERR_HANDSHAKE_STATUS']);
    expect((errors[0] as HandshakeError).status).toBe(500);
  });

  it('a server that stops answering pings: WSP_ERR_PONG_TIMEOUT within interval + timeout', async () => {
    server.answerPings = false;
    const pingIntervalMs = 100;
    const pongTimeoutMs = 150;
    const ws = client(server.url(), { pingIntervalMs, pongTimeoutMs });
    const { log, closed } = callbacks(ws);
    const events = new ClientRecorder(ws);
    // Taken when the server sends its 101: before the client can start its ping clock.
    let upgradedAt = 0;
    server.once('connection', () => (upgradedAt = Date.now()));
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    const opened = await events.first('open', 5_000);
    const error = await events.first('error', 3_000);
    expect((error.args[0] as WebSocketError).code).toBe('WSP_ERR_PONG_TIMEOUT');
    // Not before a ping went unanswered for pongTimeoutMs; not much after (slack for a loaded machine).
    expect(error.at - upgradedAt).toBeGreaterThanOrEqual(pingIntervalMs + pongTimeoutMs);
    expect(error.at - opened.at).toBeLessThan(pingIntervalMs + pongTimeoutMs + 750);
    expect(conn.pings).toBeGreaterThanOrEqual(1);
    const [code] = await closed;
    expect(code).toBe(1006);
    expect(log).toEqual(['error WSP_ERR_PONG_TIMEOUT', 'close 1006']);
  });

  it('a server that answered pings, then stops: WSP_ERR_PONG_TIMEOUT within interval + timeout', async () => {
    const pingIntervalMs = 100;
    const pongTimeoutMs = 150;
    const ws = client(server.url(), { pingIntervalMs, pongTimeoutMs });
    const { log, closed } = callbacks(ws);
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.nth('pong', 3, 5_000);
    server.answerPings = false;
    const stoppedAt = Date.now();
    const error = await events.first('error', 3_000);
    expect((error.args[0] as WebSocketError).code).toBe('WSP_ERR_PONG_TIMEOUT');
    // The next ping is due within an interval; its pong is overdue a timeout later.
    expect(error.at - stoppedAt).toBeLessThan(pingIntervalMs + pongTimeoutMs + 750);
    expect((await closed)[0]).toBe(1006);
    expect(log).toEqual(['error WSP_ERR_PONG_TIMEOUT', 'close 1006']);
  });

  it('a server that never answers our close: WSP_ERR_CLOSE_TIMEOUT after closeTimeoutMs, onClose 1006', async () => {
    const ws = client(server.url(), { closeTimeoutMs: 150 });
    const { log, closed } = callbacks(ws);
    const events = new ClientRecorder(ws);
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    await events.first('open', 5_000);
    conn.pause(); // it never reads the close frame
    const closeAt = Date.now();
    ws.close(1000, 'bye');
    expect(ws.readyState).toBe('closing');
    expect(await closed).toEqual([1006, '']);
    const elapsedMs = Date.now() - closeAt;
    expect(log).toEqual(['error WSP_ERR_CLOSE_TIMEOUT', 'close 1006']);
    expect(elapsedMs).toBeGreaterThanOrEqual(100); // Node's timers may start from a slightly stale loop clock
    expect(elapsedMs).toBeLessThan(1_500);
    conn.resume(); // reading again, it sees the end of the connection
    await waitUntil(() => server.openSockets === 0, 2_000, 'the client dropped its socket');
  });

  it('pings answered in time never fail the connection', async () => {
    const ws = client(server.url(), { pingIntervalMs: 50, pongTimeoutMs: 1_000 });
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.first('open', 5_000);
    await events.nth('pong', 8, 3_000);
    expect(events.count('error')).toBe(0);
    expect(ws.readyState).toBe('open');
  });

  it('a server that dies mid-message: WSP_ERR_CONNECTION_LOST, onClose 1006, no partial message', async () => {
    const ws = client(server.url());
    const { log, closed } = callbacks(ws);
    const messages: unknown[] = [];
    ws.onMessage = (_conn, data) => messages.push(data);
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    conn.send('whole');
    conn.dieMidMessage(1000);
    expect(await closed).toEqual([1006, '']);
    expect(log).toEqual(['error WSP_ERR_CONNECTION_LOST', 'close 1006']);
    expect(messages).toEqual(['whole']);
  });

  it('maxQueuedBytes: a send that would overflow the queue throws WSP_ERR_QUEUE_FULL, nothing is dropped', async () => {
    const ws = client(server.url(), { maxQueuedBytes: 1_000 });
    expect(ws.send('a'.repeat(600))).toBe(true);
    let error: unknown;
    try {
      ws.send('b'.repeat(600));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe('WSP_ERR_QUEUE_FULL');
    expect(ws.send('c'.repeat(400))).toBe(true); // exactly at the bound still fits
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    await waitUntil(() => conn.messages.length === 2, 5_000, 'the queued messages');
    expect(conn.messages.map((m) => m.data.toString())).toEqual(['a'.repeat(600), 'c'.repeat(400)]);
  });

  it('send on a closed client: onError WSP_ERR_SEND_FAILED, returns false, does not throw', async () => {
    const ws = client(server.url());
    const { log, closed } = callbacks(ws);
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.first('open', 5_000);
    ws.close();
    await closed;
    expect(ws.send('too late')).toBe(false);
    expect(log).toEqual(['close 1000', 'error WSP_ERR_SEND_FAILED']);
  });

  it('send after terminate(): onError WSP_ERR_SEND_FAILED', async () => {
    const ws = client(server.url());
    const { log, closed } = callbacks(ws);
    const events = new ClientRecorder(ws);
    ws.connect();
    await events.first('open', 5_000);
    ws.terminate();
    await closed;
    expect(ws.send(Buffer.from([1]))).toBe(false);
    expect(log).toEqual(['close 1006', 'error WSP_ERR_SEND_FAILED']);
  });
});

describe('a 101 that is not a valid upgrade: a HandshakeError, onClose 1006', () => {
  const head = (...lines: string[]): string => lines.join('\r\n') + '\r\n\r\n';
  const status = 'HTTP/1.1 101 Switching Protocols';
  const upgrade = 'Upgrade: websocket';
  const connection = 'Connection: Upgrade';
  const accept = (value: string): string => `Sec-WebSocket-Accept: ${value}`;
  it.each([
    ['a wrong Sec-WebSocket-Accept', {}, () => head(status, upgrade, connection, accept('d3Jvbmc=')), 'WSP_ERR_HANDSHAKE_ACCEPT'],
    ['no Upgrade header', {}, (a: string) => head(status, connection, accept(a)), 'WSP_ERR_HANDSHAKE_UPGRADE'],
    [
      'no Connection: upgrade',
      {},
      (a: string) => head(status, upgrade, 'Connection: keep-alive', accept(a)),
      'WSP_ERR_HANDSHAKE_CONNECTION',
    ],
    [
      'a subprotocol that was not offered',
      { protocols: ['chat'] },
      (a: string) => head(status, upgrade, connection, accept(a), 'Sec-WebSocket-Protocol: superchat'),
      'WSP_ERR_HANDSHAKE_PROTOCOL',
    ],
    [
      'an extension that was not offered',
      { perMessageDeflate: false },
      (a: string) => head(status, upgrade, connection, accept(a), 'Sec-WebSocket-Extensions: permessage-deflate'),
      'WSP_ERR_HANDSHAKE_EXTENSION',
    ],
    ['not HTTP at all', {}, () => 'SSH-2.0-OpenSSH_9.2\r\n\r\n', 'WSP_ERR_HANDSHAKE_MALFORMED'],
  ])('%s -> %s', async (_what, options: WebSocketClientOptions, response: (accept: string) => string, code) => {
    server.handshake = { raw: (_request, accept) => response(accept) };
    const ws = client(server.url(), options);
    const { log, errors, closed } = callbacks(ws);
    const opened: string[] = [];
    ws.onWebSocketConnect = () => opened.push('open');
    ws.connect();
    expect(await closed).toEqual([1006, '']);
    expect(log).toEqual([`error ${code}`, 'close 1006']);
    expect(errors[0]).toBeInstanceOf(HandshakeError);
    expect(opened).toEqual([]);
    await waitUntil(() => server.openSockets === 0, 2_000, 'the client dropped its socket');
  });
});

describe('a server that breaks the protocol: onError with the code, a close frame with the close code', () => {
  it.each([
    ['invalid UTF-8 in a text message', '8102c328', {}, 'WSP_ERR_INVALID_UTF8', 1007],
    ['a masked frame', '818137fa213d56', {}, 'WSP_ERR_MASKED_FRAME', 1002],
    ['a reserved opcode', '8300', {}, 'WSP_ERR_RESERVED_OPCODE', 1002],
    ['RSV1 with no extension', 'c100', {}, 'WSP_ERR_RESERVED_BITS', 1002],
    ['a continuation with no message', '8000', {}, 'WSP_ERR_UNEXPECTED_CONTINUATION', 1002],
    ['a fragmented ping', '0900', {}, 'WSP_ERR_FRAGMENTED_CONTROL_FRAME', 1002],
    ['a message over maxMessageBytes (announced, not sent)', '827e07d0', { maxMessageBytes: 1_000 }, 'WSP_ERR_MESSAGE_TOO_BIG', 1009],
    [
      'fragments that together go over maxMessageBytes',
      '013c' + '61'.repeat(60) + '803c' + '61'.repeat(60),
      { maxMessageBytes: 100 },
      'WSP_ERR_MESSAGE_TOO_BIG',
      1009,
    ],
  ])('%s -> %s, close %i', async (_what, hex, options: WebSocketClientOptions, code, closeCode) => {
    const ws = client(server.url(), options);
    const { log, closed } = callbacks(ws);
    const messages: unknown[] = [];
    ws.onMessage = (_conn, data) => messages.push(data);
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    conn.send('before');
    conn.sendRaw(Buffer.from(hex, 'hex'));
    const [onCloseCode] = await closed;
    await waitUntil(() => conn.closeFrame !== undefined, 2_000, 'the client close frame');
    expect(conn.closeFrame!.code).toBe(closeCode);
    expect(onCloseCode).toBe(closeCode);
    expect(log).toEqual([`error ${code}`, `close ${closeCode}`]);
    expect(messages).toEqual(['before']);
  });
});

describe('no error listener', () => {
  it('never crashes the process (refused connect, handshake timeout, pong timeout, send after close)', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    try {
      const endings: Array<Promise<number>> = [];
      const start = (url: string, options: WebSocketClientOptions): WebSocketClient => {
        const ws = client(url, options);
        endings.push(new Promise((resolve) => ws.once('close', (code: number) => resolve(code))));
        expect(ws.listenerCount('error')).toBe(0);
        ws.connect();
        return ws;
      };
      start(`ws://127.0.0.1:${await closedPort()}/`, {});
      const silent = await TestServer.start({ handshake: 'silent' });
      const deaf = await TestServer.start({ answerPings: false });
      try {
        start(silent.url(), { handshakeTimeoutMs: 100 });
        start(deaf.url(), { pingIntervalMs: 50, pongTimeoutMs: 50 });
        const codes = await withTimeout(Promise.all(endings), 5_000, 'every client to close');
        expect(codes).toEqual([1006, 1006, 1006]);
        for (const ws of clients) expect(ws.send('x')).toBe(false);
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        await silent.close();
        await deaf.close();
      }
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    }
  });
});
