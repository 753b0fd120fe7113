import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type UsageError } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { delay, nextEvent, waitUntil } from '../helpers/wait.js';
import { startFaultServer } from './fault-server.js';

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start();
});
afterAll(async () => {
  await server?.close();
});

function watch(ws: WebSocketClient): { errors: string[]; closes: number[] } {
  const seen = { errors: [] as string[], closes: [] as number[] };
  ws.onError = (_c, code) => seen.errors.push(code);
  ws.onClose = (_c, code) => seen.closes.push(code);
  return seen;
}

describe('close() while connecting is graceful; terminate() is not', () => {
  it("connect(); send('a'); send('b'); close(): the server gets a and b, then a 1000 close; onClose once with 1000", async () => {
    const ws = new WebSocketClient(server.url());
    const seen = watch(ws);
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    ws.send('a');
    ws.send('b');
    ws.close();
    expect(ws.readyState).toBe('connecting');
    // Refused as before: nothing may be added after close().
    expect(ws.send('c')).toBe(false);
    expect(seen.errors).toEqual(['WSP_ERR_SEND_FAILED']);
    const [conn] = await connection;
    await waitUntil(() => seen.closes.length > 0, 5_000, 'onClose');
    expect(conn.messages.map((m) => m.data.toString())).toEqual(['a', 'b']);
    expect(conn.closeFrame).toEqual({ code: 1000, reason: '' });
    await delay(30);
    expect(seen.closes).toEqual([1000]);
    expect(seen.errors).toEqual(['WSP_ERR_SEND_FAILED']); // only the refused 'c'
    expect(ws.readyState).toBe('closed');
  });

  it('close(code, reason) while connecting sends that code and reason once open', async () => {
    const ws = new WebSocketClient(server.url());
    const seen = watch(ws);
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    ws.close(4000, 'done');
    const [conn] = await connection;
    await waitUntil(() => seen.closes.length > 0, 5_000, 'onClose');
    expect(conn.closeFrame).toEqual({ code: 4000, reason: 'done' });
    expect(seen.closes).toEqual([4000]);
    expect(seen.errors).toEqual([]);
  });

  it('terminate() while connecting aborts at once and reports the queued messages as not sent', async () => {
    const ws = new WebSocketClient(server.url());
    const seen = watch(ws);
    const messages: string[] = [];
    ws.onError = (_c, code, message) => {
      seen.errors.push(code);
      messages.push(message);
    };
    ws.connect();
    ws.send('a');
    ws.send('b');
    ws.terminate();
    expect(seen.errors).toEqual(['WSP_ERR_SEND_FAILED']);
    expect(messages[0]).toContain('2 queued message(s) were not sent');
    await waitUntil(() => seen.closes.length > 0, 1_000, 'onClose');
    await delay(30);
    expect(seen.closes).toEqual([1006]);
    expect(seen.errors).toEqual(['WSP_ERR_SEND_FAILED']);
    expect(ws.readyState).toBe('closed');
  });

  it('close() while connecting, then the handshake fails: the queued messages are reported not sent, onClose once', async () => {
    const faulty = await startFaultServer('request read', 'FIN');
    try {
      const ws = new WebSocketClient(`ws://127.0.0.1:${faulty.port}/`);
      const seen = watch(ws);
      ws.connect();
      ws.send('a');
      ws.close();
      await waitUntil(() => seen.closes.length > 0, 3_000, 'onClose');
      await delay(30);
      expect(seen.closes).toEqual([1006]);
      // The attempt's own error, then the one about the message it could not carry.
      expect(seen.errors).toEqual(['WSP_ERR_CONNECTION_LOST', 'WSP_ERR_SEND_FAILED']);
      expect(ws.readyState).toBe('closed');
    } finally {
      await faulty.close();
    }
  });

  it('close() while connecting with reconnect on does not reconnect', async () => {
    const ws = new WebSocketClient(server.url(), { reconnect: { initialDelayMs: 10 } });
    const seen = watch(ws);
    let connects = 0;
    ws.onConnect = () => connects++;
    ws.connect();
    ws.close();
    await waitUntil(() => seen.closes.length > 0, 5_000, 'onClose');
    await delay(100);
    expect(connects).toBe(1);
    expect(seen.closes).toEqual([1000]);
  });
});

describe('send() while an attempt fails before opening', () => {
  it('is queued for the automatic reconnection, and delivered once on it', async () => {
    const refusing = await TestServer.start({ handshake: { status: 503, body: 'later' } });
    try {
      const ws = new WebSocketClient(refusing.url(), { reconnect: { initialDelayMs: 20, jitter: 'none' } });
      const seen = watch(ws);
      ws.onError = (_c, code) => {
        seen.errors.push(code);
        if (code === 'WSP_ERR_HANDSHAKE_STATUS') {
          expect(ws.send('from onError')).toBe(true);
          refusing.handshake = 'accept';
        }
      };
      const connection = nextEvent<[TestConnection]>(refusing, 'connection', 5_000);
      ws.connect();
      const [conn] = await connection;
      await waitUntil(() => conn.messages.length > 0, 5_000, 'the queued message');
      expect(conn.messages.map((m) => m.data.toString())).toEqual(['from onError']);
      expect(seen.errors).toEqual(['WSP_ERR_HANDSHAKE_STATUS']);
      expect(seen.closes).toEqual([1006]);
      ws.close();
      await waitUntil(() => seen.closes.length === 2, 5_000, 'the second onClose');
    } finally {
      await refusing.close();
    }
  });
});

describe('close() and reconnect() take numbers only', () => {
  const usage = (f: () => void): UsageError => {
    try {
      f();
    } catch (error) {
      return error as UsageError;
    }
    throw new Error('did not throw');
  };

  it.each([['1000'], [null], [{}], [true]])('close(%j) throws WSP_ERR_INVALID_CLOSE_ARGUMENT saying it must be a number', (code) => {
    const ws = new WebSocketClient('ws://127.0.0.1:1/');
    const error = usage(() => ws.close(code as unknown as number));
    expect(error.name).toBe('UsageError');
    expect(error.code).toBe('WSP_ERR_INVALID_CLOSE_ARGUMENT');
    expect(error.message).toMatch(/number/);
  });

  it.each([[-1], [2 ** 31], [Number.NaN], [Infinity], ['100'], [null]])('reconnect(%s) throws WSP_ERR_INVALID_OPTION', (delayMs) => {
    const ws = new WebSocketClient('ws://127.0.0.1:1/');
    const error = usage(() => ws.reconnect(delayMs as unknown as number));
    expect(error.code).toBe('WSP_ERR_INVALID_OPTION');
    expect(error.message).toMatch(/number from 0 to 2147483647/);
  });

  it('reconnect(2 ** 31 - 1) and reconnect(0) are accepted', () => {
    const ws = new WebSocketClient('ws://127.0.0.1:1/');
    ws.reconnect(2 ** 31 - 1);
    ws.cancelReconnect();
    ws.reconnect(0);
    ws.cancelReconnect();
  });
});

describe('reconnecting against a server that accepts, then closes at once', () => {
  it('follows the backoff schedule: many attempts in a second, not one per handshake timeout', async () => {
    const sockets = new Set<net.Socket>();
    const closer = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.resume();
      socket.end();
    });
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
    const port = (closer.address() as net.AddressInfo).port;
    // initialDelayMs 100, no jitter, capped at 200: delays 100, 200, 200, ... With the bug, the
    // second attempt came only after the 10 s handshake timeout.
    const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`, {
      reconnect: { initialDelayMs: 100, maxDelayMs: 200, jitter: 'none' },
    });
    const seen = watch(ws);
    const delays: number[] = [];
    ws.on('reconnecting', ({ delayMs }: { delayMs: number }) => delays.push(delayMs));
    try {
      ws.connect();
      await waitUntil(() => seen.closes.length >= 4, 5_000, 'four attempts');
      expect(delays.slice(0, 3)).toEqual([100, 200, 200]);
      expect(seen.closes.slice(0, 4)).toEqual([1006, 1006, 1006, 1006]);
      expect(seen.errors.slice(0, 4)).toEqual(Array(4).fill('WSP_ERR_CONNECTION_LOST'));
    } finally {
      ws.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => closer.close(() => resolve()));
    }
  });
});
