import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import type { TestConnection } from '../helpers/test-server.js';
import { nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { mib, openClient, useTestServer } from './helpers.js';

const env = useTestServer();

const streaming = (options: WebSocketClientOptions = {}) => openClient(env.server, env.clients, { fragments: 'stream', ...options });

/** The header of an unmasked binary frame of `length` bytes (RFC 6455 5.2, 64-bit length). */
function binaryHeader(length: number, fin = true, opcode = 0x2): Buffer {
  const header = Buffer.alloc(10);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/**
 * Has the server write one raw binary frame: `header`, then `payload` piece by piece as its
 * socket takes them (waiting for 'drain', so it holds little itself). `waiting()` says it is
 * blocked on the client; `done` resolves with the SHA-256 of the payload.
 */
function writeFrame(conn: TestConnection, header: Buffer, payload: Iterable<Buffer>): { done: Promise<string>; waiting: () => boolean } {
  const hash = createHash('sha256');
  let waiting = false;
  const drained = (): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        conn.socket.off('drain', wake);
        conn.socket.off('close', wake);
        resolve();
      };
      conn.socket.on('drain', wake);
      conn.socket.on('close', wake);
    });
  const done = (async () => {
    conn.sendRaw(header); // after whatever the encoder batched
    for (const piece of payload) {
      if (conn.socket.destroyed) break;
      hash.update(piece);
      if (!conn.socket.write(piece)) {
        waiting = true;
        await withTimeout(drained(), 60_000, "the server socket's drain");
        waiting = false;
      }
    }
    return hash.digest('hex');
  })();
  return { done, waiting: () => waiting };
}

async function readAll(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

describe("fragments: 'stream': one message as a Readable of its pieces", () => {
  it('binary messages arrive as Readables in order (one frame, fragmented); text stays a string', async () => {
    const { client, conn } = await streaming();
    const streams: Readable[] = [];
    const texts: unknown[] = [];
    client.on('messageStream', (stream) => streams.push(stream));
    client.on('message', (data) => texts.push(data));
    conn.send(Buffer.from('one frame'));
    conn.send('a text');
    // A fragmented binary message: three frames.
    conn.sendRaw(Buffer.concat([Buffer.from([0x02, 3]), Buffer.from('abc'), Buffer.from([0x00, 2]), Buffer.from('de'), Buffer.from([0x80, 1]), Buffer.from('f')]));
    await waitUntil(() => streams.length === 2 && texts.length === 1, 5_000, 'two streams and a text');
    const [first, second] = await Promise.all(streams.map((s) => readAll(s)));
    expect(first!.bytes).toBe(9);
    expect(second!.sha256).toBe(createHash('sha256').update('abcdef').digest('hex'));
    expect(texts).toEqual(['a text']);
  });

  it('a reader that stops pauses the socket; one that gives up drops the rest, and the next message comes', async () => {
    const { client, conn } = await streaming({ maxMessageBytes: 256 * 1024 * 1024 });
    const streamed = nextEvent<[Readable]>(client, 'messageStream', 5_000);
    const size = 64 * 1024 * 1024;
    const piece = Buffer.alloc(64 * 1024, 7);
    const writing = writeFrame(conn, binaryHeader(size), (function* () {
      for (let sent = 0; sent < size; sent += piece.length) yield piece;
    })());
    const [stream] = await streamed;
    // Nobody reads: the server's writes soon stop being taken.
    await waitUntil(writing.waiting, 10_000, 'the server to be blocked');
    expect(stream.readableLength).toBeLessThanOrEqual(2 * 1024 * 1024);
    stream.destroy(); // give up: the rest of the message is read and dropped
    await withTimeout(writing.done, 30_000, 'the server to write the whole message');
    const next = nextEvent<[Readable]>(client, 'messageStream', 5_000);
    conn.send(Buffer.from('after'));
    const [after] = await next;
    expect((await readAll(after)).bytes).toBe(5);
  }, 60_000);

  it('the connection ending in the middle of a message errors its Readable', async () => {
    const { client, conn } = await streaming();
    const streamed = nextEvent<[Readable]>(client, 'messageStream', 5_000);
    conn.dieMidMessage(1000);
    const [stream] = await streamed;
    await expect(readAll(stream)).rejects.toMatchObject({ code: 'WSP_ERR_CONNECTION_LOST' });
  });

  it('a 1 GiB message generated by the server is hashed through the Readable; RSS grows by under 64 MiB', async () => {
    const total = 1024 * 1024 * 1024;
    const { client, conn } = await streaming({ maxMessageBytes: 2 * total, perMessageDeflate: false });
    // Sixteen distinct 64 KiB pieces, reused: the server holds 1 MiB, whatever the message size.
    const pieces = Array.from({ length: 16 }, (_, i) => {
      const piece = Buffer.alloc(64 * 1024, i * 13 + 1);
      piece.writeUInt32BE(i, 0);
      return piece;
    });
    const streamed = nextEvent<[Readable]>(client, 'messageStream', 5_000);
    const rssAtStart = process.memoryUsage().rss;
    let maxRssGrowth = 0;
    const writing = writeFrame(conn, binaryHeader(total), (function* () {
      for (let i = 0; i < total / pieces[0]!.length; i++) yield pieces[i % pieces.length]!;
    })());
    const [stream] = await streamed;
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if ((bytes & (16 * 1024 * 1024 - 1)) < (chunk as Buffer).length) maxRssGrowth = Math.max(maxRssGrowth, process.memoryUsage().rss - rssAtStart);
    }
    const expected = await withTimeout(writing.done, 60_000, 'the server to finish writing');
    expect(bytes).toBe(total);
    expect(hash.digest('hex')).toBe(expected);
    console.log(`[memory] 1 GiB message streamed and hashed: RSS growth max ${mib(maxRssGrowth)}`);
    expect(maxRssGrowth).toBeLessThan(64 * 1024 * 1024);
    expect(client.readyState).toBe('open');
  }, 180_000);
});
