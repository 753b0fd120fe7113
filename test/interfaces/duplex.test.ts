import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { WebSocketClient, createWebSocketStream, WebSocketError, type WebSocketClientOptions } from '../../src/index.js';
import type { TestConnection } from '../helpers/test-server.js';
import { delay, nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { mib, openClient, pumpBinary, useTestServer } from './helpers.js';

const env = useTestServer();

const connected = (options: WebSocketClientOptions = {}) => openClient(env.server, env.clients, options);

/** A Transform that takes a turn of the event loop (or `ms`) per chunk. */
function slowTransform(ms = 0): Transform {
  return new Transform({
    objectMode: true,
    transform(chunk, _encoding, callback) {
      if (ms > 0) setTimeout(() => callback(null, chunk), ms);
      else setImmediate(() => callback(null, chunk));
    },
  });
}

describe('createWebSocketStream (a Node Duplex)', () => {
  it('object mode: messages in, messages out; end() closes with 1000 and the readable ends', async () => {
    const { client, conn } = await connected();
    const duplex = createWebSocketStream(client);
    const received: unknown[] = [];
    duplex.on('data', (m) => received.push(m));
    const ended = new Promise((resolve) => duplex.once('end', resolve));
    duplex.write('text');
    duplex.write(Buffer.from([1, 2]));
    duplex.write(new Uint8Array([3]));
    await waitUntil(() => conn.messages.length === 3, 5_000, 'three messages');
    expect(conn.messages.map((m) => [m.binary, m.binary ? [...m.data] : m.data.toString()])).toEqual([
      [false, 'text'],
      [true, [1, 2]],
      [true, [3]],
    ]);
    conn.send('from server');
    conn.send(Buffer.from([9]));
    await waitUntil(() => received.length === 2, 5_000, 'two messages');
    expect(received[0]).toBe('from server');
    expect(received[1]).toEqual(Buffer.from([9]));
    const frame = nextEvent<[{ code: number }]>(conn, 'closeFrame', 5_000);
    const finished = new Promise((resolve) => duplex.once('finish', resolve));
    duplex.end();
    expect((await frame)[0].code).toBe(1000);
    await withTimeout(Promise.all([finished, ended]), 5_000, 'finish and end');
    expect(client.readyState).toBe('closed');
  });

  it('byte mode: writes go as binary messages, text arrives as its UTF-8 bytes', async () => {
    const { client, conn } = await connected();
    const duplex = createWebSocketStream(client, { objectMode: false });
    const chunks: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => chunks.push(chunk));
    duplex.write('as bytes');
    await waitUntil(() => conn.messages.length === 1, 5_000, 'a message');
    expect(conn.messages[0]).toEqual({ binary: true, data: Buffer.from('as bytes') });
    conn.send('héllo');
    conn.send(Buffer.from(' world'));
    conn.close(1000);
    await new Promise((resolve) => duplex.once('end', resolve));
    expect(Buffer.concat(chunks).toString()).toBe('héllo world');
  });

  it('writes made before the connection opens wait for it, in order', async () => {
    const client = new WebSocketClient(env.server.url());
    env.clients.push(client);
    const duplex = createWebSocketStream(client); // connects an idle client
    const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    duplex.write('a');
    duplex.write('b');
    const [conn] = await connection;
    await waitUntil(() => conn.messages.length === 2, 5_000, 'two messages');
    expect(conn.messages.map((m) => m.data.toString())).toEqual(['a', 'b']);
  });

  it('destroy(err) closes with 1011; a failed connection destroys the stream with the WebSocketError', async () => {
    const a = await connected();
    const frame = nextEvent<[{ code: number }]>(a.conn, 'closeFrame', 5_000);
    const duplexA = createWebSocketStream(a.client);
    duplexA.on('error', () => {});
    duplexA.destroy(new Error('stage failed'));
    expect((await frame)[0].code).toBe(1011);

    const b = await connected();
    const duplexB = createWebSocketStream(b.client);
    const failure = new Promise<Error>((resolve) => duplexB.once('error', resolve));
    b.conn.destroy();
    const error = await withTimeout(failure, 5_000, 'the error');
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).code).toBe('WSP_ERR_CONNECTION_LOST');
  });

  it('over a client that already closed, the readable side ends at once', async () => {
    const { client, conn } = await connected();
    conn.close(1000);
    await nextEvent(client, 'close', 5_000);
    const duplex = createWebSocketStream(client);
    duplex.resume();
    await withTimeout(new Promise((resolve) => duplex.once('end', resolve)), 5_000, "the duplex's end");
  });

  it('with a reconnecting client the stream lasts across connections', async () => {
    const { client, conn } = await connected({ reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const duplex = createWebSocketStream(client);
    const received: unknown[] = [];
    duplex.on('data', (m) => received.push(m));
    conn.send('first');
    await waitUntil(() => received.length === 1, 5_000, 'the first message');
    const second = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
    conn.destroy();
    const [conn2] = await second;
    conn2.send('second');
    await waitUntil(() => received.length === 2, 5_000, 'the second message');
    duplex.write('after reconnect');
    await waitUntil(() => conn2.messages.length === 1, 5_000, 'the write on the new connection');
    expect(received).toEqual(['first', 'second']);
    expect(duplex.readableEnded).toBe(false);
    duplex.end();
    await new Promise((resolve) => duplex.once('end', resolve));
  });
});

describe('createWebSocketStream in pipeline() with a slow Transform: backpressure', () => {
  it('receiving: a slow consumer pauses the socket, the server blocks, memory stays bounded', async () => {
    const { client, conn } = await connected();
    const duplex = createWebSocketStream(client, { readableHighWaterMark: 8 });
    const totalBytes = 64 * 1024 * 1024;
    let maxUnsent = 0;
    const rssAtStart = process.memoryUsage().rss;
    let maxRssGrowth = 0;
    const pump = pumpBinary(conn, totalBytes);
    let received = 0;
    let inFlightMax = 0;
    await pipeline(
      duplex,
      slowTransform(),
      new Writable({
        objectMode: true,
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          inFlightMax = Math.max(inFlightMax, pump.sentBytes() - received);
          maxUnsent = Math.max(maxUnsent, conn.unsentBytes);
          if (received % (4 * 1024 * 1024) === 0) maxRssGrowth = Math.max(maxRssGrowth, process.memoryUsage().rss - rssAtStart);
          callback();
        },
      }),
    );
    await pump.done;
    expect(received).toBe(totalBytes);
    // The consumer was slower than the socket: the server had to wait (its writes blocked).
    expect(maxUnsent).toBeGreaterThan(1024 * 1024);
    console.log(
      `[backpressure] Duplex receive 64 MiB through a slow Transform: at most ${mib(inFlightMax)} sent but not consumed, ` +
        `RSS growth max ${mib(maxRssGrowth)}`,
    );
    expect(inFlightMax).toBeLessThan(32 * 1024 * 1024);
  }, 60_000);

  it('sending: write() returns false past the high-water mark, the source waits; 64 MiB arrive in order', async () => {
    const { client, conn } = await connected({ highWaterMarkBytes: 256 * 1024 });
    const duplex = createWebSocketStream(client, { writableHighWaterMark: 4 });
    const messageBytes = 64 * 1024;
    const count = 1024;
    let produced = 0;
    let maxAhead = 0;
    let receivedCount = 0;
    let receivedBytes = 0;
    let inOrder = true;
    conn.on('message', (m: { data: Buffer }) => {
      if (m.data.readUInt32BE(0) !== receivedCount) inOrder = false;
      receivedCount++;
      receivedBytes += m.data.length;
      // Keep the server's record small: this test measures memory.
      conn.messages.length = 0;
    });
    conn.pause(); // the server does not read at first: the client's buffers fill
    const source = new Readable({
      objectMode: true,
      highWaterMark: 2,
      read() {
        if (produced === count) return void this.push(null);
        const message = Buffer.alloc(messageBytes);
        message.writeUInt32BE(produced++, 0);
        maxAhead = Math.max(maxAhead, produced - receivedCount);
        this.push(message);
      },
    });
    const rssAtStart = process.memoryUsage().rss;
    const done = pipeline(source, slowTransform(), duplex);
    await waitUntil(() => client.bufferedAmount >= 256 * 1024 && produced > 8, 10_000, 'the client buffer to fill');
    await delay(100);
    const producedWhilePaused = produced;
    // Bounded: kernel buffers, the client's 256 KiB, the duplex's 4 and the stages' few.
    expect(producedWhilePaused).toBeLessThan(count / 2);
    conn.resume();
    await withTimeout(done, 30_000, 'the pipeline');
    await waitUntil(() => receivedCount === count, 10_000, 'every message at the server');
    const rssGrowth = process.memoryUsage().rss - rssAtStart;
    expect(inOrder).toBe(true);
    expect(receivedBytes).toBe(count * messageBytes);
    expect(client.readyState).toBe('closed'); // end() closed the connection
    console.log(
      `[backpressure] Duplex send 64 MiB to a paused server: ${producedWhilePaused} messages (${mib(producedWhilePaused * messageBytes)}) produced while paused, ` +
        `at most ${mib(maxAhead * messageBytes)} ahead of the server, RSS growth ${mib(rssGrowth)}`,
    );
  }, 60_000);

  it('both directions at once: the server\'s messages go through a slow Transform and back', async () => {
    const { client, conn } = await connected();
    const duplex = createWebSocketStream(client);
    const count = 500;
    for (let i = 0; i < count; i++) conn.send(`m${i}`);
    const done = pipeline(duplex, slowTransform(), duplex);
    await waitUntil(() => conn.messages.length === count, 10_000, 'every message echoed back');
    expect(conn.messages.map((m) => m.data.toString())).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    conn.close(1000);
    await withTimeout(done, 5_000, 'the pipeline to end');
  });
});
