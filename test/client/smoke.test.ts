import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';

let server: EchoServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('WebSocketClient against the embedded echo server', () => {
  it('connects, echoes text and binary, closes cleanly', async () => {
    server = await startEchoServer();
    const order: string[] = [];
    const ws = new WebSocketClient(server.url);
    const got: Array<[string | Buffer | Buffer[], boolean]> = [];
    const closed = new Promise<[number, string]>((resolve) => {
      ws.onClose = (_c, code, reason) => resolve([code, reason]);
    });
    ws.onConnect = () => order.push('connect');
    ws.onWebSocketConnect = (conn, response) => {
      order.push(`open ${response.status}`);
      conn.send('hello');
      conn.send(Buffer.from([1, 2, 3]), { binary: true });
    };
    ws.onMessage = (conn, data, isBinary) => {
      got.push([data, isBinary]);
      if (got.length === 2) conn.close(1000, 'bye');
    };
    ws.send('queued first');
    ws.connect();
    expect(await closed).toEqual([1000, '']); // the server's echo carries no reason
    expect(order).toEqual(['connect', 'open 101']);
    expect(got).toEqual([
      ['queued first', false],
      ['hello', false],
      // Messages may still arrive after our close frame, until the server's close (RFC 6455 7.1.2).
      [Buffer.from([1, 2, 3]), true],
    ]);
  });
});
