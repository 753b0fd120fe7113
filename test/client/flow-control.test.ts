import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { TestServer, type TestConnection } from '../helpers/test-server.js';
import { useTestServer } from '../helpers/use-test-server.js';
import { ClientRecorder, delay, nextEvent, waitUntil } from '../helpers/wait.js';

const env = useTestServer();
const clients = env.clients;
let server: TestServer;
beforeAll(() => {
  server = env.server;
});

async function openClient(options: WebSocketClientOptions = {}): Promise<{ ws: WebSocketClient; events: ClientRecorder; conn: TestConnection }> {
  const ws = new WebSocketClient(server.url(), options);
  clients.push(ws);
  const events = new ClientRecorder(ws);
  const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
  ws.connect();
  const [conn] = await connection;
  await events.first('open', 5_000);
  return { ws, events, conn };
}

/** A message that says which one it is: a 4-byte sequence number, then filler. */
function numbered(seq: number, bytes: number): Buffer {
  const message = Buffer.alloc(bytes, seq & 0xff);
  message.writeUInt32BE(seq, 0);
  return message;
}

function sequenceOf(data: Buffer): number {
  return data.readUInt32BE(0);
}

describe('outgoing flow control', () => {
  it('send() returns false over highWaterMarkBytes against a paused server; drain follows when it resumes', async () => {
    const highWaterMarkBytes = 256 * 1024;
    const messageBytes = 64 * 1024;
    const { ws, events, conn } = await openClient({ highWaterMarkBytes });
    const drains: string[] = [];
    ws.onBufferFull = () => drains.push('full');
    ws.onBufferDrain = () => drains.push('drain');
    conn.pause();

    // Send, letting the socket flush between sends, until the kernel buffers are full
    // and send() reports backpressure; bounded so a broken client cannot loop forever.
    let sent = 0;
    let accepted = true;
    while (accepted && sent < 1024) {
      accepted = ws.send(numbered(sent, messageBytes), { binary: true });
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(accepted).toBe(false);
    expect(sent).toBeGreaterThan(1); // the first sends went through: the server's pause made the difference
    expect(ws.bufferedAmount).toBeGreaterThanOrEqual(highWaterMarkBytes);
    expect(events.count('bufferFull')).toBe(1);
    await delay(50);
    expect(events.count('drain')).toBe(0);
    expect(conn.messages.length).toBeLessThan(sent);

    conn.resume();
    await events.first('drain', 5_000);
    expect(ws.bufferedAmount).toBeLessThan(highWaterMarkBytes);
    expect(drains).toEqual(['full', 'drain']);
    expect(ws.send(numbered(sent, messageBytes), { binary: true })).toBe(true);
    sent++;
    await waitUntil(() => conn.messages.length === sent, 5_000, `the server got all ${sent} messages`);
    expect(conn.messages.map((m) => sequenceOf(m.data))).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(conn.messages.every((m) => m.binary && m.data.length === messageBytes)).toBe(true);
  });

  it('a drain follows every bufferFull, even when the socket itself never pushed back', async () => {
    const { ws, events, conn } = await openClient({ highWaterMarkBytes: 1024 });
    // Three sends in one turn go over the mark before anything reaches the socket.
    const results = [ws.send('a'.repeat(600)), ws.send('b'.repeat(600)), ws.send('c'.repeat(600))];
    expect(results).toEqual([true, false, false]);
    expect(events.count('bufferFull')).toBe(1);
    await events.first('drain', 2_000);
    await waitUntil(() => conn.messages.length === 3, 5_000, 'three messages');
    expect(ws.bufferedAmount).toBe(0);
  });
});

describe('incoming flow control', () => {
  it('pause() stops onMessage and the socket; resume() continues in order with nothing lost', async () => {
    const { ws, events, conn } = await openClient();
    const received: Buffer[] = [];
    ws.onMessage = (_conn, data) => received.push(data as Buffer);
    ws.pause();
    // Far more than the client's stream buffers and the kernel's socket buffers hold.
    const count = 512;
    const messageBytes = 64 * 1024;
    for (let i = 0; i < count; i++) conn.send(numbered(i, messageBytes));
    // Reading stopped: the server's writes back up (TCP flow control reached it).
    await waitUntil(() => conn.unsentBytes > 4 * 1024 * 1024, 5_000, 'the server backs up');
    // The kernel's buffers may still grow a little; then nothing moves.
    let unsent = -1;
    await waitUntil(
      () => {
        const now = conn.unsentBytes;
        const settled = now === unsent;
        unsent = now;
        return settled;
      },
      5_000,
      'the server backlog settles',
      100,
    );
    await delay(100);
    expect(received.length).toBe(0);
    expect(events.count('message')).toBe(0);
    expect(conn.unsentBytes).toBe(unsent); // nothing more was read

    ws.resume();
    await waitUntil(() => received.length === count, 10_000, `all ${count} messages`);
    expect(received.map(sequenceOf)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(received.every((m) => m.length === messageBytes && m[messageBytes - 1] === (sequenceOf(m) & 0xff))).toBe(true);
  });

  it('pause() from onMessage holds the rest of a batch; resume() delivers it in order', async () => {
    const { ws, conn } = await openClient();
    const received: string[] = [];
    ws.onMessage = (conn_, data) => {
      received.push(data as string);
      if (received.length === 10 || received.length === 60) conn_.pause();
    };
    // Small messages sent in one turn arrive in one read: one decoded batch.
    for (let i = 0; i < 100; i++) conn.send(`m${i}`);
    await waitUntil(() => received.length === 10, 5_000, 'ten messages');
    await delay(100);
    expect(received.length).toBe(10);
    ws.resume();
    await waitUntil(() => received.length === 60, 5_000, 'sixty messages');
    await delay(50);
    expect(received.length).toBe(60);
    ws.resume();
    await waitUntil(() => received.length === 100, 5_000, 'all messages');
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  });

  it('a close from the server while paused comes after the held messages, on resume()', async () => {
    const { ws, events, conn } = await openClient();
    ws.pause();
    conn.send('one');
    conn.send('two');
    conn.close(4000, 'done');
    await delay(150);
    expect(events.types(['message', 'close'])).toEqual([]);
    ws.resume();
    await events.first('close', 5_000);
    expect(events.types(['message', 'close'])).toEqual(['message', 'message', 'close']);
    expect(events.of('message').map((e) => e.args[0])).toEqual(['one', 'two']);
    expect(events.of('close')[0]!.args).toEqual([4000, 'done']);
    expect(conn.closeFrame?.code).toBe(4000);
  });

  it('a pause() before connect() holds messages until resume()', async () => {
    const ws = new WebSocketClient(server.url());
    clients.push(ws);
    const events = new ClientRecorder(ws);
    ws.pause();
    const connection = nextEvent<[TestConnection]>(server, 'connection', 5_000);
    ws.connect();
    const [conn] = await connection;
    await events.first('open', 5_000);
    conn.send('one');
    conn.send('two');
    await delay(100);
    expect(events.count('message')).toBe(0);
    ws.resume();
    await events.nth('message', 2, 5_000);
    expect(events.of('message').map((e) => e.args[0])).toEqual(['one', 'two']);
  });
});
