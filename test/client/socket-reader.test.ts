// Reading plain TCP sockets into memory we choose (src/client/socket-reader.ts):
// the shared read buffer, reads straight into a large message's buffer, and
// fresh memory for fragmented messages. What must hold whatever the reads
// look like: every message intact and in order, messages the user keeps never
// overwritten by a later read, no read while paused, and the protocol's checks
// (UTF-8, maxMessageBytes, close) unchanged. Real sockets on 127.0.0.1; the
// server cuts its bytes into writes of chosen sizes.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { acceptValue } from '../../src/protocol/handshake.js';
import { attachReadSink, SOCKET_READ } from '../../src/client/socket-reader.js';
import { delay, waitUntil } from '../helpers/wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** An unmasked server frame. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0, length]) : length < 0x10000 ? Buffer.from([0, 126, length >> 8, length & 0xff]) : Buffer.alloc(10);
  if (length >= 0x10000) {
    head[1] = 127;
    head.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    head.writeUInt32BE(length >>> 0, 6);
  }
  head[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([head, payload]);
}

/** `length` bytes that differ from message to message (`seed`) and along the message. */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A fragmented message: `payload` in `count` frames. */
function fragments(opcode: number, payload: Buffer, count: number): Buffer {
  const size = Math.ceil(payload.length / count);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) parts.push(frame(i === 0 ? opcode : 0, payload.subarray(i * size, Math.min(payload.length, (i + 1) * size)), i === count - 1));
  return Buffer.concat(parts);
}

interface Script {
  /** Writes `bytes` cut into the given sizes (cycled), waiting `gapMs` between writes so they arrive as separate reads. */
  cuts?: number[];
  gapMs?: number;
  /** Writes the 101 in pieces of this size, `gapMs` apart (default: in one write). */
  headCut?: number;
  /** Waits for this before writing the frames (default: `gapMs`, so they are not read with the 101). */
  startAfter?: () => Promise<void>;
  /** Called after write `index` of the frames; a promise it returns holds the next write back. */
  afterWrite?: (index: number) => Promise<void> | undefined;
}

/** A server that answers the handshake, then writes `bytes` as the script says; records what the client sends. */
async function server(
  bytes: Buffer,
  script: Script = {},
): Promise<{ url: string; fromClient: Buffer[]; written: () => boolean; writes: () => number }> {
  const fromClient: Buffer[] = [];
  let done = false;
  let writes = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', async (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return void fromClient.push(chunk);
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1]!;
      const answer = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`);
      const headCut = script.headCut ?? answer.length;
      for (let at = 0; at < answer.length; at += headCut) {
        socket.write(answer.subarray(at, at + headCut));
        if (script.gapMs !== undefined) await delay(script.gapMs);
      }
      if (script.startAfter) await script.startAfter();
      const cuts = script.cuts ?? [bytes.length];
      let at = 0;
      for (let i = 0; at < bytes.length && !socket.destroyed; i++) {
        const size = Math.max(1, cuts[i % cuts.length]!);
        const ok = socket.write(bytes.subarray(at, at + size));
        at += size;
        writes++;
        if (!ok) await new Promise((resolve) => socket.once('drain', resolve));
        await script.afterWrite?.(i);
        if (script.gapMs !== undefined) await delay(script.gapMs);
      }
      done = true;
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, fromClient, written: () => done, writes: () => writes };
}

type Got = { data: Buffer | string; isBinary: boolean };

function client(url: string, options: Record<string, unknown> = {}): { ws: WebSocketClient; got: Got[]; errors: Error[]; closes: number[] } {
  const ws = new WebSocketClient(url, { perMessageDeflate: false, reconnect: false, ...options });
  const got: Got[] = [];
  const errors: Error[] = [];
  const closes: number[] = [];
  ws.onMessage = (_c, data, isBinary) => void got.push({ data: data as Buffer | string, isBinary });
  ws.onError = (_c, _code, _message, error) => void errors.push(error);
  ws.onClose = (_c, code) => void closes.push(code);
  ws.connect();
  cleanups.push(() => ws.terminate());
  return { ws, got, errors, closes };
}

/** What the server sends in the tests below, and what the client must get from it. */
function mixedStream(): { bytes: Buffer; expected: Got[] } {
  const expected: Got[] = [];
  const parts: Buffer[] = [];
  const add = (bytes: Buffer, data: Buffer | string, isBinary: boolean): void => {
    parts.push(bytes);
    expected.push({ data, isBinary });
  };
  for (let i = 0; i < 5; i++) {
    const small = pattern(20 + i, i);
    add(frame(2, small), small, true);
    add(frame(1, Buffer.from(`text ${i} é ✓ 😀`)), `text ${i} é ✓ 😀`, false);
  }
  const mid = pattern(40_000, 9);
  add(frame(2, mid), mid, true);
  const large = pattern(300_000, 10);
  add(frame(2, large), large, true);
  const fragmented = pattern(200_003, 11);
  add(fragments(2, fragmented, 13), fragmented, true);
  const text = 'ünïcödé ✓ 😀 '.repeat(3000);
  add(frame(1, Buffer.from(text)), text, false);
  add(fragments(1, Buffer.from(text), 7), text, false); // cut inside multi-byte sequences
  const again = pattern(70_000, 12);
  add(frame(2, again), again, true);
  const tail = pattern(5, 13);
  add(frame(2, tail), tail, true);
  return { bytes: Buffer.concat(parts), expected };
}

function expectSame(got: Got[], expected: Got[]): void {
  expect(got.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(got[i]!.isBinary, `message ${i}`).toBe(expected[i]!.isBinary);
    if (expected[i]!.isBinary) expect(Buffer.compare(got[i]!.data as Buffer, expected[i]!.data as Buffer), `message ${i}`).toBe(0);
    else expect(got[i]!.data, `message ${i}`).toBe(expected[i]!.data);
  }
}

describe('reading the socket into our own memory', () => {
  it('small frames cut at every byte boundary (one byte per write) arrive whole and in order', async () => {
    const expected: Got[] = [];
    const parts: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      const b = pattern(3 + i * 40, i);
      parts.push(frame(2, b), frame(1, Buffer.from(`é${i}😀`)));
      expected.push({ data: b, isBinary: true }, { data: `é${i}😀`, isBinary: false });
    }
    parts.push(fragments(2, pattern(130, 7), 3));
    expected.push({ data: pattern(130, 7), isBinary: true });
    const s = await server(Buffer.concat(parts), { cuts: [1], gapMs: 1 });
    const c = client(s.url);
    await waitUntil(() => c.got.length === expected.length || c.errors.length > 0, 20_000, 'every message');
    expect(c.errors).toEqual([]);
    expectSame(c.got, expected);
  });

  it('for every cut of a frame sequence into two writes, every message arrives intact', async () => {
    const a = pattern(300, 1);
    const parts = [frame(2, a), frame(9, Buffer.from('ping!')), frame(1, Buffer.from('ok ✓')), fragments(2, a, 3)];
    const bytes = Buffer.concat(parts);
    const expected: Got[] = [
      { data: a, isBinary: true },
      { data: 'ok ✓', isBinary: false },
      { data: a, isBinary: true },
    ];
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const s = await server(bytes, { cuts: [cut, bytes.length], gapMs: 2 });
      const c = client(s.url);
      const pings: Buffer[] = [];
      c.ws.on('ping', (payload: Buffer) => pings.push(payload));
      await waitUntil(() => c.got.length === expected.length || c.errors.length > 0, 5_000, `every message, cut at ${cut}`);
      expect(c.errors, `cut at ${cut}`).toEqual([]);
      expectSame(c.got, expected);
      expect(pings.map(String)).toEqual(['ping!']);
      c.ws.terminate();
    }
  });

  it('messages kept across many reads of all sizes are never overwritten by a later read', async () => {
    const { bytes, expected } = mixedStream();
    // Writes of odd sizes, so that frames start, end and split everywhere in the reads.
    const s = await server(bytes, { cuts: [1, 7, 333, 4096, 65_537, 10, 100_000, 2], gapMs: 1 });
    const c = client(s.url);
    await waitUntil(() => c.got.length === expected.length || c.errors.length > 0, 20_000, 'every message');
    expect(c.errors).toEqual([]);
    // Compared only now, after every read: a message still backed by a reused buffer would have changed.
    expectSame(c.got, expected);
  });

  it('the same stream in one write (reads as large as the socket gives)', async () => {
    const { bytes, expected } = mixedStream();
    const s = await server(bytes);
    const c = client(s.url);
    await waitUntil(() => c.got.length === expected.length || c.errors.length > 0, 20_000, 'every message');
    expect(c.errors).toEqual([]);
    expectSame(c.got, expected);
  });

  it('a binary message from the shared read buffer is the user\'s own memory', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 50; i++) parts.push(frame(2, pattern(100, i)));
    const s = await server(Buffer.concat(parts), { cuts: [102], gapMs: 1 });
    const c = client(s.url);
    await waitUntil(() => c.got.length === 50 || c.errors.length > 0, 10_000, 'every message');
    const buffers = c.got.map((g) => g.data as Buffer);
    // Writing into one message changes no other (no two share bytes).
    for (const b of buffers) b.fill(0xee);
    for (const b of buffers) expect(b.every((x) => x === 0xee)).toBe(true);
    expect(new Set(buffers.map((b) => `${b.byteOffset}:${b.buffer.byteLength}`)).size).toBeGreaterThan(1);
  });

  it('a ping payload from the shared read buffer is kept intact, and the pong echoes it', async () => {
    const parts: Buffer[] = [frame(9, Buffer.from('ping-payload-1'))];
    for (let i = 0; i < 20; i++) parts.push(frame(2, pattern(1000, i)));
    const s = await server(Buffer.concat(parts), { cuts: [16, 1002], gapMs: 5 });
    const c = client(s.url);
    const pings: Buffer[] = [];
    c.ws.on('ping', (payload: Buffer) => pings.push(payload));
    await waitUntil(() => c.got.length === 20 || c.errors.length > 0, 10_000, 'every message');
    expect(pings.map(String)).toEqual(['ping-payload-1']);
    await waitUntil(() => Buffer.concat(s.fromClient).length >= 20, 5_000, 'the pong');
    const pong = Buffer.concat(s.fromClient);
    expect(pong[0]).toBe(0x8a);
    const key = pong.subarray(2, 6);
    const payload = Buffer.from(pong.subarray(6, 6 + (pong[1]! & 0x7f)).map((b, i) => b ^ key[i & 3]!));
    expect(payload.toString()).toBe('ping-payload-1');
  });

  it('a 101 that arrives in pieces over several reads is read whole', async () => {
    const s = await server(frame(1, Buffer.from('hello')), { headCut: 10, gapMs: 3 });
    const c = client(s.url);
    await waitUntil(() => c.got.length === 1 || c.errors.length > 0, 10_000, 'the message');
    expect(c.errors).toEqual([]);
    expect(c.got[0]!.data).toBe('hello');
  });

  it('the first piece of a fragmented message survives other connections\' reads before its end', async () => {
    const message = pattern(3000, 5);
    const bytes = fragments(2, message, 3); // three frames of 4 + 1000 bytes
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // A: the first fragment, then (once B has read into the shared buffer) the rest.
    const a = await server(bytes, { cuts: [1004, 2008], gapMs: 2, afterWrite: (i) => (i === 0 ? released : undefined) });
    const ca = client(a.url);
    await waitUntil(() => a.writes() >= 1, 5_000, "A's first fragment");
    await delay(30); // read by A
    const others = await server(Buffer.concat(Array.from({ length: 30 }, (_, i) => frame(2, pattern(2000, i)))), { cuts: [2004], gapMs: 2 });
    const cb = client(others.url);
    await waitUntil(() => cb.got.length === 30, 10_000, "B's messages");
    release();
    await waitUntil(() => ca.got.length === 1 || ca.errors.length > 0, 10_000, "A's message");
    expect(ca.errors).toEqual([]);
    expect(Buffer.compare(ca.got[0]!.data as Buffer, message)).toBe(0);
  });

  it('a server that answers before the request is read (its bytes may come before the client listens) is refused with its status', async () => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy');
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    }));
    const c = client(`ws://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`);
    await waitUntil(() => c.closes.length > 0, 10_000, 'the close');
    expect(c.errors[0]).toMatchObject({ code: 'WSP_ERR_HANDSHAKE_STATUS', status: 503 });
  });

  it('reads that come before a sink is attached are kept (copied, in order) and handed over by attachReadSink()', async () => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((socket) => {
      sockets.push(socket);
      socket.write('first');
      setTimeout(() => socket.write('second'), 20);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const socket = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', onread: SOCKET_READ });
    cleanups.push(() => new Promise<void>((resolve) => {
      socket.destroy();
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    }));
    await new Promise((resolve) => socket.once('connect', resolve));
    await delay(60);
    const later: string[] = [];
    const before = attachReadSink(socket, { socketRead: (bytes) => void later.push(bytes.toString()), nextRead: () => undefined });
    expect(before?.map(String).join('')).toBe('firstsecond');
    socket.write('x');
    expect(later).toEqual([]);
  });

  it('pause() stops reading, even in the middle of a large message read into its own buffer; resume() delivers the rest intact', async () => {
    const { bytes, expected } = mixedStream();
    const s = await server(Buffer.concat([bytes, bytes]), { cuts: [50_000, 3, 200_000] });
    const c = client(s.url);
    let pausedAt = -1;
    c.ws.on('message', () => {
      // Pause after every fourth message (the reads in flight then end anywhere).
      if (pausedAt < 0 && c.got.length % 4 === 3) {
        pausedAt = c.got.length;
        c.ws.pause();
      }
    });
    for (let round = 0; round < 40 && c.got.length < expected.length * 2; round++) {
      await waitUntil(() => pausedAt >= 0 || c.got.length === expected.length * 2, 10_000, 'a pause');
      if (pausedAt < 0) break;
      await delay(30);
      // Nothing is delivered while paused.
      expect(c.got.length).toBe(pausedAt);
      pausedAt = -1;
      c.ws.resume();
    }
    await waitUntil(() => c.got.length === expected.length * 2 || c.errors.length > 0, 20_000, 'every message');
    expect(c.errors).toEqual([]);
    expectSame(c.got, [...expected, ...expected]);
  });

  it('a paused client does not read the socket: the server sees its writes back up', async () => {
    const big = pattern(256 * 1024, 1);
    const parts: Buffer[] = [];
    for (let i = 0; i < 64; i++) parts.push(frame(2, big));
    const s = await server(Buffer.concat(parts), { cuts: [64 * 1024] });
    const c = client(s.url);
    c.ws.on('message', () => c.ws.pause());
    await waitUntil(() => c.got.length === 1, 10_000, 'the first message');
    await delay(100);
    expect(c.got.length).toBe(1);
    // 16 MiB cannot fit in the socket buffers: the server is still writing.
    expect(s.written()).toBe(false);
    c.ws.off('message', c.ws.listeners('message')[0] as () => void);
    c.ws.resume();
    await waitUntil(() => c.got.length === 64 || c.errors.length > 0, 30_000, 'every message');
    for (const g of c.got) expect(Buffer.compare(g.data as Buffer, big)).toBe(0);
  });

  it('invalid UTF-8 in a large text message read into its own buffer fails with 1007', async () => {
    const text = Buffer.from('a'.repeat(100_000));
    text[90_000] = 0xff;
    const s = await server(frame(1, text), { cuts: [1000, 50_000], gapMs: 2 });
    const c = client(s.url);
    await waitUntil(() => c.closes.length > 0, 10_000, 'the close');
    expect(c.got).toEqual([]);
    expect(c.errors[0]).toMatchObject({ code: 'WSP_ERR_INVALID_UTF8' });
    expect(c.closes).toEqual([1007]);
  });

  it('a message over maxMessageBytes fails with 1009 from its header, fragmented or not', async () => {
    for (const bytes of [frame(2, pattern(200_000, 1)), fragments(2, pattern(200_000, 1), 10)]) {
      const s = await server(bytes, { cuts: [20_000], gapMs: 1 });
      const c = client(s.url, { maxMessageBytes: 100_000 });
      await waitUntil(() => c.closes.length > 0, 10_000, 'the close');
      expect(c.got).toEqual([]);
      expect(c.errors[0]).toMatchObject({ code: 'WSP_ERR_MESSAGE_TOO_BIG' });
      expect(c.closes).toEqual([1009]);
    }
  });

  it('a close frame after a large message read into its own buffer closes with its code', async () => {
    const large = pattern(500_000, 3);
    const close = frame(8, Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]));
    const s = await server(Buffer.concat([frame(2, large), close]), { cuts: [100, 300_000, 7], gapMs: 1 });
    const c = client(s.url);
    await waitUntil(() => c.closes.length > 0, 10_000, 'the close');
    expect(c.errors).toEqual([]);
    expect(c.got.length).toBe(1);
    expect(Buffer.compare(c.got[0]!.data as Buffer, large)).toBe(0);
    expect(c.closes).toEqual([4000]);
  });
});
