import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { startPythonServer, type PythonServer } from '../helpers/python-server.js';
import { ClientRecorder, withTimeout } from '../helpers/wait.js';

// The client against a server we did not write: Debian's python3-websockets,
// run by test/interop/ws_server.py.

let server: PythonServer;
const clients: WebSocketClient[] = [];

beforeAll(async () => {
  server = await startPythonServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => {
  for (const client of clients.splice(0)) client.terminate();
});

function open(path: string, options: WebSocketClientOptions = {}): { ws: WebSocketClient; events: ClientRecorder } {
  const ws = new WebSocketClient(server.url(path), options);
  clients.push(ws);
  const events = new ClientRecorder(ws);
  ws.connect();
  return { ws, events };
}

type Header = [string, string];
function headersOf(message: unknown): Header[] {
  return (JSON.parse(message as string) as { headers: Header[] }).headers;
}
function header(headers: Header[], name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

describe('interop with python-websockets', () => {
  it('echoes text and binary messages of several sizes, in order', async () => {
    const { ws, events } = open('/echo');
    await events.first('open', 5_000);
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024];
    const sent: Array<string | Buffer> = [];
    for (const size of sizes) {
      const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2); // two-byte UTF-8 characters
      const binary = Buffer.alloc(size);
      for (let i = 0; i < size; i++) binary[i] = (i * 31 + 7) & 0xff;
      ws.send(text);
      ws.send(binary, { binary: true });
      sent.push(text, binary);
    }
    await events.nth('message', sent.length, 15_000);
    const received = events.of('message').map((e) => e.args);
    expect(received.length).toBe(sent.length);
    received.forEach(([data, isBinary], i) => {
      const expected = sent[i]!;
      expect(isBinary, `message ${i}`).toBe(typeof expected !== 'string');
      if (typeof expected === 'string') expect(data, `text message ${i}`).toBe(expected);
      else expect((data as Buffer).equals(expected), `binary message ${i} (${expected.length} bytes)`).toBe(true);
    });
  });

  it('sends the custom headers with the handshake', async () => {
    const { events } = open('/headers', {
      headers: { Cookie: 'PHPSID=abc; token=xyz', OtherKey: 'values', 'X-Many': ['one', 'two'] },
      origin: 'http://example.test',
    });
    const [message] = (await events.first('message', 5_000)).args;
    const headers = headersOf(message);
    expect(header(headers, 'cookie')).toBe('PHPSID=abc; token=xyz');
    expect(header(headers, 'otherkey')).toBe('values');
    expect(headers.filter(([n]) => n.toLowerCase() === 'x-many').map(([, v]) => v)).toEqual(['one', 'two']);
    expect(header(headers, 'origin')).toBe('http://example.test');
    expect(header(headers, 'host')).toBe(`127.0.0.1:${server.port}`);
    expect(header(headers, 'sec-websocket-version')).toBe('13');
  });

  it('sends pings at the interval and python answers them', async () => {
    const connectAt = Date.now(); // before the client can start its ping clock
    const { events } = open('/pings', { pingIntervalMs: 100, pongTimeoutMs: 1_000 });
    const opened = await events.first('open', 5_000);
    // The server reports {"pings": n} on every ping it receives.
    const fifth = await events.nth('message', 5, 3_000);
    expect(events.of('message').slice(0, 5).map((e) => JSON.parse(e.args[0] as string))).toEqual(
      [1, 2, 3, 4, 5].map((pings) => ({ pings })),
    );
    // Five pings at 100 ms: no sooner than 500 ms; the upper bound is generous for a loaded machine.
    expect(fifth.at - connectAt).toBeGreaterThanOrEqual(500);
    expect(fifth.at - opened.at).toBeLessThan(2_000);
    expect(events.count('pong')).toBeGreaterThanOrEqual(4);
    expect(events.count('error')).toBe(0);
  });

  it.each([
    [1000, 'done'],
    [1001, 'going away'],
    [1011, ''],
    [4001, 'custom'],
  ])('propagates close code %i to onClose', async (code, reason) => {
    const ws = new WebSocketClient(server.url(`/close?code=${code}&reason=${encodeURIComponent(reason)}`));
    clients.push(ws);
    const closed = new Promise<[number, string]>((resolve) => {
      ws.onClose = (_conn, c, r) => resolve([c, r]);
    });
    const errors: string[] = [];
    ws.onError = (_conn, c) => errors.push(c);
    ws.connect();
    expect(await withTimeout(closed, 5_000, 'onClose')).toEqual([code, reason]);
    expect(errors).toEqual([]);
    expect(ws.readyState).toBe('closed');
  });

  it('a close from the client: python answers with the same code, onClose reports it', async () => {
    const { ws, events } = open('/echo');
    await events.first('open', 5_000);
    ws.close(4002, 'client done');
    const close = await events.first('close', 5_000);
    expect(close.args[0]).toBe(4002);
    expect(events.count('error')).toBe(0);
  });

  it('reconnects from onClose with a fresh handshake (a new Sec-WebSocket-Key)', async () => {
    // /headers?code=1000: report the request headers, then close.
    const ws = new WebSocketClient(server.url('/headers?code=1000'));
    clients.push(ws);
    const events = new ClientRecorder(ws);
    let closes = 0;
    ws.onClose = (conn) => {
      closes++;
      if (closes === 1) conn.reconnect(50);
    };
    ws.connect();
    const second = await events.nth('message', 2, 5_000);
    await events.nth('close', 2, 5_000);
    const keys = [events.of('message')[0]!.args[0], second.args[0]].map((m) => header(headersOf(m), 'sec-websocket-key'));
    expect(keys[0]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(keys[1]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(keys[0]).not.toBe(keys[1]);
    expect(events.types(['connect', 'open', 'close'])).toEqual(['connect', 'open', 'close', 'connect', 'open', 'close']);
    expect(events.of('close').map((e) => e.args[0])).toEqual([1000, 1000]);
  });
});
