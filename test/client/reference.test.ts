import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type HandshakeResponse } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { useTestServer } from '../helpers/use-test-server.js';
import { ClientRecorder, delay, nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';

// The reference scenario (shared/reference/seed-ws-client.md), step by step,
// against a server built from our own server-role stages.

const env = useTestServer();
const clients = env.clients;
let server: TestServer;
beforeAll(() => {
  server = env.server;
});

function client(path: string, options: ConstructorParameters<typeof WebSocketClient>[1] = {}): WebSocketClient {
  const ws = new WebSocketClient(server.url(path), options);
  clients.push(ws);
  return ws;
}

function nextConnection(): Promise<TestConnection> {
  return nextEvent<[TestConnection]>(server, 'connection', 5_000).then(([conn]) => conn);
}

describe('the reference scenario', () => {
  it('runs the reference program: headers, callbacks in order, hello, server close, reconnect', async () => {
    const ws = client('/ref?x=1', {
      pingIntervalMs: 55_000,
      headers: { Cookie: 'PHPSID=abc; token=xyz', OtherKey: 'values' },
      messageType: 'binary',
    });
    const order: string[] = [];
    const responses: HandshakeResponse[] = [];
    const received: Array<[unknown, boolean]> = [];
    let closes = 0;
    const secondOpen = new Promise<void>((resolve) => {
      ws.onConnect = () => order.push('connect');
      ws.onWebSocketConnect = (conn, response) => {
        order.push('websocketConnect');
        responses.push(response);
        conn.send('hello');
        if (responses.length === 2) resolve();
      };
    });
    ws.onMessage = (_conn, data, isBinary) => received.push([data, isBinary]);
    ws.onClose = (conn, code) => {
      order.push(`close ${code}`);
      closes++;
      if (closes === 1) conn.reconnect(100);
    };
    const first = nextConnection();
    ws.connect();
    const conn1 = await first;
    await waitUntil(() => conn1.messages.length === 1, 5_000, 'hello arrives');

    // Headers, path and query arrive as given.
    expect(conn1.request.path).toBe('/ref?x=1');
    expect(conn1.request.headers['cookie']).toBe('PHPSID=abc; token=xyz');
    expect(conn1.request.headers['otherkey']).toBe('values');
    expect(conn1.request.headers['host']).toBe(`127.0.0.1:${server.port}`);
    // messageType 'binary': a string goes out as a binary frame.
    expect(conn1.messages[0]).toEqual({ binary: true, data: Buffer.from('hello') });
    expect(responses[0]!.status).toBe(101);

    conn1.send('from server');
    await waitUntil(() => received.length === 1, 5_000, 'a message from the server');
    expect(received[0]).toEqual(['from server', false]);

    const second = nextConnection();
    conn1.close(1000, 'restart');
    const conn2 = await second;
    await withTimeout(secondOpen, 5_000, 'the second onWebSocketConnect');
    expect(order).toEqual(['connect', 'websocketConnect', 'close 1000', 'connect', 'websocketConnect']);
    expect(conn1.closeFrame?.code).toBe(1000); // the client answered the close
    // A fresh handshake: a new key, the same headers.
    expect(conn2.key).not.toBe(conn1.key);
    expect(conn2.request.headers['cookie']).toBe('PHPSID=abc; token=xyz');
    await waitUntil(() => conn2.messages.length === 1, 5_000, 'hello on the second connection');
    expect(conn2.messages[0]).toEqual({ binary: true, data: Buffer.from('hello') });
  });

  it('sends from onClose, before reconnect(…) opens, arrive first and in order on the new connection', async () => {
    const ws = client('/');
    let closes = 0;
    ws.onClose = (conn) => {
      closes++;
      if (closes > 1) return;
      conn.reconnect(50);
      conn.send('queued 1');
      conn.send('queued 2');
    };
    ws.onWebSocketConnect = (conn) => conn.send(`open ${closes}`);
    const first = nextConnection();
    ws.connect();
    const conn1 = await first;
    await waitUntil(() => conn1.messages.length === 1, 5_000, 'the first open message');
    const second = nextConnection();
    conn1.close(1001);
    const conn2 = await second;
    await waitUntil(() => conn2.messages.length === 3, 5_000, 'three messages on the second connection');
    expect(conn2.messages.map((m) => m.data.toString())).toEqual(['queued 1', 'queued 2', 'open 1']);
    expect(conn1.messages.map((m) => m.data.toString())).toEqual(['open 0']);
  });

  it('reconnect(…) on an open connection closes it with 1000 and opens a new one', async () => {
    const ws = client('/');
    const events = new ClientRecorder(ws);
    const first = nextConnection();
    ws.connect();
    const conn1 = await first;
    await events.first('open', 5_000);
    const second = nextConnection();
    ws.reconnect(20);
    const conn2 = await second;
    await events.nth('open', 2, 5_000);
    expect(conn1.closeFrame?.code).toBe(1000);
    expect(events.types(['open', 'close'])).toEqual(['open', 'close', 'open']);
    expect(events.of('close')[0]!.args[0]).toBe(1000);
    expect(conn2.key).not.toBe(conn1.key);
    expect(events.count('error')).toBe(0);
  });

  it('automatic reconnect: messages sent while disconnected arrive once, in order, on the next connection', async () => {
    const ws = client('/', { reconnect: { initialDelayMs: 50, maxDelayMs: 50 } });
    const events = new ClientRecorder(ws);
    const first = nextConnection();
    ws.connect();
    const conn1 = await first;
    await events.first('open', 5_000);
    const second = nextConnection();
    conn1.close(1011, 'restarting'); // 1011 is worth retrying
    await events.first('close', 5_000);
    expect(events.count('reconnecting')).toBe(1);
    expect(ws.send('while away 1')).toBe(true);
    expect(ws.send(Buffer.from('while away 2'), { binary: true })).toBe(true);
    const conn2 = await second;
    await events.nth('open', 2, 5_000);
    ws.send('after');
    await waitUntil(() => conn2.messages.length === 3, 5_000, 'three messages');
    await delay(50);
    expect(conn2.messages).toEqual([
      { binary: false, data: Buffer.from('while away 1') },
      { binary: true, data: Buffer.from('while away 2') },
      { binary: false, data: Buffer.from('after') },
    ]);
    expect(conn1.messages).toEqual([]);
    expect(events.of('close')[0]!.args).toEqual([1011, 'restarting']);
    expect(events.count('error')).toBe(0);
  });

  it('fires onConnect (TCP) before onWebSocketConnect (handshake), each once', async () => {
    const ws = client('/');
    const order: string[] = [];
    const opened = new Promise<void>((resolve) => {
      ws.onConnect = (conn) => order.push(`connect ${conn.readyState}`);
      ws.onWebSocketConnect = (conn, response) => {
        order.push(`websocketConnect ${conn.readyState} ${response.status}`);
        resolve();
      };
    });
    ws.connect();
    await withTimeout(opened, 5_000, 'onWebSocketConnect');
    expect(order).toEqual(['connect connecting', 'websocketConnect open 101']);
  });

  it('sends pings at the interval and sees the pongs', async () => {
    const ws = client('/', { pingIntervalMs: 100, pongTimeoutMs: 2_000 });
    const events = new ClientRecorder(ws);
    // Taken when the server sends its 101: before the client can start its ping clock.
    let upgradedAt = 0;
    const pingTimes: number[] = [];
    const onConnection = (conn: TestConnection): void => {
      upgradedAt = Date.now();
      conn.on('ping', () => pingTimes.push(Date.now()));
    };
    server.once('connection', onConnection);
    ws.connect();
    const opened = await events.first('open', 5_000);
    await waitUntil(() => pingTimes.length >= 6, 3_000, 'six pings');
    // A ping every 100 ms: the k-th no sooner than k * 100 ms after the clock started
    // (lower bounds from before it started); upper bounds generous for a loaded machine.
    pingTimes.slice(0, 6).forEach((at, i) => expect(at - upgradedAt, `ping ${i + 1}`).toBeGreaterThanOrEqual((i + 1) * 100));
    expect(pingTimes[0]! - opened.at).toBeLessThan(500);
    expect(pingTimes[5]! - opened.at).toBeLessThan(2_000);
    expect(events.count('pong')).toBeGreaterThanOrEqual(5);
    expect(events.count('error')).toBe(0);
  });

  it('messageType text sends text frames; send(…, { binary }) overrides either way', async () => {
    const ws = client('/', { messageType: 'text' });
    const connection = nextConnection();
    ws.onWebSocketConnect = (conn) => {
      conn.send('a');
      conn.send('b', { binary: true });
      conn.send(Buffer.from('c'));
      conn.send(new Uint8Array([0x64]), { binary: true });
    };
    ws.connect();
    const conn = await connection;
    await waitUntil(() => conn.messages.length === 4, 5_000, 'four messages');
    expect(conn.messages).toEqual([
      { binary: false, data: Buffer.from('a') },
      { binary: true, data: Buffer.from('b') },
      { binary: false, data: Buffer.from('c') },
      { binary: true, data: Buffer.from('d') },
    ]);
  });

  it('without messageType the data decides, as in ws and the WHATWG API: strings are text, binary data binary', async () => {
    const ws = client('/');
    const connection = nextConnection();
    ws.onWebSocketConnect = (conn) => {
      conn.send('a');
      conn.send(Buffer.from('b'));
      conn.send(new Uint8Array([0x63]));
      conn.send(new Uint8Array([0x64]).buffer);
      conn.send('e', { binary: true });
      conn.send(Buffer.from('f'), { binary: false });
    };
    ws.connect();
    const conn = await connection;
    await waitUntil(() => conn.messages.length === 6, 5_000, 'six messages');
    expect(conn.messages.map((m) => [m.data.toString(), m.binary])).toEqual([
      ['a', false],
      ['b', true],
      ['c', true],
      ['d', true],
      ['e', true],
      ['f', false],
    ]);
  });

  it('delivers sends made before the handshake first and in order', async () => {
    const ws = client('/', { messageType: 'binary' });
    const connection = nextConnection();
    for (let i = 0; i < 50; i++) ws.send(`early ${i}`, { binary: i % 2 === 0 });
    ws.send(Buffer.alloc(200_000, 7));
    ws.onWebSocketConnect = (conn) => conn.send('after open');
    ws.connect();
    ws.send('after connect()'); // still before the handshake
    const conn = await connection;
    await waitUntil(() => conn.messages.length === 53, 5_000, '53 messages');
    const texts = conn.messages.map((m) => (m.data.length > 100 ? `${m.data.length} bytes` : m.data.toString()));
    expect(texts).toEqual([...Array.from({ length: 50 }, (_, i) => `early ${i}`), '200000 bytes', 'after connect()', 'after open']);
    expect(conn.messages.slice(0, 50).map((m) => m.binary)).toEqual(Array.from({ length: 50 }, (_, i) => i % 2 === 0));
  });
});

describe('the rest of the protocol, end to end', () => {
  it('answers server pings with pongs carrying the same payload', async () => {
    const ws = client('/');
    const events = new ClientRecorder(ws);
    const connection = nextConnection();
    ws.connect();
    const conn = await connection;
    await events.first('open', 5_000);
    conn.ping('are you there?');
    conn.ping(Buffer.from([0, 1, 2]));
    conn.ping();
    await waitUntil(() => conn.pongs.length === 3, 5_000, 'three pongs');
    expect(conn.pongs).toEqual([Buffer.from('are you there?'), Buffer.from([0, 1, 2]), Buffer.alloc(0)]);
    expect(events.of('ping').map((e) => e.args[0])).toEqual(conn.pongs);
  });

  it('delivers frames that came in the same write as the 101', async () => {
    server.greeting = Buffer.from('8105' + Buffer.from('first').toString('hex') + '8203010203', 'hex');
    try {
      const ws = client('/');
      const events = new ClientRecorder(ws);
      ws.connect();
      await events.nth('message', 2, 5_000);
      expect(events.of('message').map((e) => e.args)).toEqual([
        ['first', false],
        [Buffer.from([1, 2, 3]), true],
      ]);
      expect(events.types(['open', 'message'])).toEqual(['open', 'message', 'message']);
    } finally {
      server.greeting = undefined;
    }
  });

  it('assembles a fragmented text message with a character split across fragments', async () => {
    const ws = client('/');
    const events = new ClientRecorder(ws);
    const connection = nextConnection();
    ws.connect();
    const conn = await connection;
    await events.first('open', 5_000);
    // "a€b": € is e2 82 ac; a ping arrives between the fragments (RFC 6455 5.4 allows it).
    conn.sendRaw(Buffer.from('0102' + '61e2' + '8900' + '0001' + '82' + '8002' + 'ac62', 'hex'));
    const [data, isBinary] = (await events.first('message', 5_000)).args;
    expect([data, isBinary]).toEqual(['a€b', false]);
    await waitUntil(() => conn.pongs.length === 1, 5_000, 'the pong');
  });
});
