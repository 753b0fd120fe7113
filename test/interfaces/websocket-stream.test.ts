import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketStream, WebSocketStreamError } from '../../src/index.js';
import type { TestConnection } from '../helpers/test-server.js';
import { startPythonServer, type PythonServer } from '../helpers/python-server.js';
import { delay, nextEvent, waitUntil, withTimeout } from '../helpers/wait.js';
import { mib, pumpBinary, useTestServer } from './helpers.js';

const env = useTestServer();

async function openStream(options = {}): Promise<{ wss: WebSocketStream; conn: TestConnection } & Awaited<WebSocketStream['opened']>> {
  const connection = nextEvent<[TestConnection]>(env.server, 'connection', 5_000);
  const wss = new WebSocketStream(env.server.url(), options);
  env.clients.push(wss.client);
  const [conn] = await connection;
  const info = await withTimeout(wss.opened, 5_000, 'opened');
  return { wss, conn, ...info };
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return withTimeout(
    promise.then(
      () => {
        throw new Error('expected a rejection');
      },
      (error: unknown) => error,
    ),
    5_000,
    'a rejection',
  );
}

describe('WebSocketStream', () => {
  it('messages both ways, in order; a clean close resolves closed and ends the readable', async () => {
    const { wss, conn, readable, writable, protocol, extensions } = await openStream();
    expect([protocol, extensions]).toEqual(['', '']);
    expect(wss.url).toBe(env.server.url());
    const writer = writable.getWriter();
    await writer.write('text one');
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write(new Uint16Array([0x0201]).buffer);
    await waitUntil(() => conn.messages.length === 3, 5_000, 'three messages at the server');
    expect(conn.messages.map((m) => [m.binary, m.binary ? [...m.data] : m.data.toString()])).toEqual([
      [false, 'text one'],
      [true, [1, 2, 3]],
      [true, [1, 2]],
    ]);

    for (let i = 0; i < 50; i++) conn.send(i % 2 ? Buffer.from([i]) : `m${i}`);
    conn.close(4000, 'server done');
    const received: unknown[] = [];
    for await (const message of readable) received.push(message);
    expect(received).toHaveLength(50);
    expect(received[0]).toBe('m0');
    expect(received[1]).toBeInstanceOf(Uint8Array);
    expect([...(received[49] as Uint8Array)]).toEqual([49]);
    expect(await wss.closed).toEqual({ closeCode: 4000, reason: 'server done' });
    // A closed WebSocketStream cannot be written to.
    const error = await rejection(writer.write('late'));
    expect((error as DOMException).name).toBe('InvalidStateError');
  });

  it('close({ closeCode, reason }) after open sends them; checks them first', async () => {
    const { wss, conn } = await openStream();
    expect(() => wss.close({ closeCode: 1001 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => wss.close({ closeCode: 1000, reason: 'x'.repeat(124) })).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => wss.close({ closeCode: 70_000 })).toThrow(TypeError);
    const frame = nextEvent<[{ code: number; reason: string }]>(conn, 'closeFrame', 5_000);
    wss.close({ closeCode: 3001, reason: 'bye' });
    expect(await frame).toEqual([{ code: 3001, reason: 'bye' }]);
    expect(await wss.closed).toEqual({ closeCode: 3001, reason: '' });
  });

  it('cancelling the readable after open closes (with a WebSocketError code when given one)', async () => {
    const { wss, conn, readable } = await openStream();
    const frame = nextEvent<[{ code: number; reason: string }]>(conn, 'closeFrame', 5_000);
    await readable.cancel(new WebSocketStreamError('enough', { closeCode: 4001, reason: 'cancelled' }));
    expect(await frame).toEqual([{ code: 4001, reason: 'cancelled' }]);
    expect((await wss.closed).closeCode).toBe(4001);
  });

  it('aborting the writable after open closes; closing it closes: a close frame with no status code, reported as 1005', async () => {
    // WebSocketStream: "close using reason" with a reason that is not a WebSocketError, and the
    // writable's close, close with a null code and an empty reason: no status code on the wire.
    const a = await openStream();
    const frameA = nextEvent<[{ code: number | undefined }]>(a.conn, 'closeFrame', 5_000);
    await a.writable.abort(new Error('not a WebSocketError'));
    expect((await frameA)[0].code).toBeUndefined();
    expect((await a.wss.closed).closeCode).toBe(1005);

    const b = await openStream();
    const frameB = nextEvent<[{ code: number | undefined }]>(b.conn, 'closeFrame', 5_000);
    await b.writable.getWriter().close();
    expect((await frameB)[0].code).toBeUndefined();
    await b.wss.closed;
  });

  it('close() before open abandons the attempt: opened and closed reject with a WebSocketError', async () => {
    env.server.handshake = 'silent';
    const request = nextEvent(env.server, 'request', 5_000);
    const wss = new WebSocketStream(env.server.url());
    env.clients.push(wss.client);
    await request;
    wss.close();
    const opened = (await rejection(wss.opened)) as WebSocketStreamError;
    const closed = (await rejection(wss.closed)) as WebSocketStreamError;
    expect(opened).toBeInstanceOf(DOMException);
    expect([opened.name, opened.closeCode]).toEqual(['WebSocketError', 1006]);
    expect([closed.name, closed.closeCode]).toEqual(['WebSocketError', 1006]);
  });

  it('a signal aborted before construction: both promises reject with its AbortError, no connection is made', async () => {
    const before = env.server.acceptedSockets;
    const wss = new WebSocketStream(env.server.url(), { signal: AbortSignal.abort() });
    const opened = (await rejection(wss.opened)) as DOMException;
    expect(opened.name).toBe('AbortError');
    expect(((await rejection(wss.closed)) as DOMException).name).toBe('AbortError');
    await delay(20);
    expect(env.server.acceptedSockets).toBe(before);
  });

  it('a signal aborted during the handshake rejects both with its reason; after open it does nothing', async () => {
    env.server.handshake = 'silent';
    const controller = new AbortController();
    const request = nextEvent(env.server, 'request', 5_000);
    const wss = new WebSocketStream(env.server.url(), { signal: controller.signal });
    env.clients.push(wss.client);
    await request;
    controller.abort();
    expect(((await rejection(wss.opened)) as DOMException).name).toBe('AbortError');
    expect(((await rejection(wss.closed)) as DOMException).name).toBe('AbortError');
    await waitUntil(() => env.server.openSockets === 0, 5_000, 'the server socket closed');

    env.server.handshake = 'accept';
    const late = new AbortController();
    const { wss: open, conn } = await openStream({ signal: late.signal });
    late.abort();
    conn.send('still here');
    const { readable } = await open.opened;
    const reader = readable.getReader();
    expect((await reader.read()).value).toBe('still here');
  });

  it('an unclean end rejects closed and errors both streams with WebSocketError 1006; nothing is unhandled', async () => {
    const { wss, conn, readable } = await openStream();
    conn.destroy();
    const error = (await rejection(wss.closed)) as WebSocketStreamError;
    expect([error.name, error.closeCode, error.reason]).toEqual(['WebSocketError', 1006, '']);
    expect(await rejection(readable.getReader().read())).toBe(error);
  });

  it('a refused connection rejects opened', async () => {
    env.server.handshake = { status: 404, body: 'no' };
    const wss = new WebSocketStream(env.server.url());
    const error = (await rejection(wss.opened)) as WebSocketStreamError;
    expect(error.closeCode).toBe(1006);
    expect((error.cause as { code: string }).code).toBe('WSP_ERR_HANDSHAKE_STATUS');
    await rejection(wss.closed);
  });

  it('writing anything but a string or a buffer errors the writable with a TypeError', async () => {
    const { writable } = await openStream();
    const writer = writable.getWriter();
    expect(await rejection(writer.write(42 as never))).toBeInstanceOf(TypeError);
  });

  it('throws SyntaxError for a bad URL or subprotocols, as WebSocket does', () => {
    expect(() => new WebSocketStream('ws://x/#f')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocketStream('ws://x/', { protocols: ['a', 'a'] })).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
  });
});

describe('WebSocketStream receive backpressure', () => {
  it('a reader that stops reading pauses the socket: the server blocks, memory stays bounded over 256 MiB', async () => {
    const { conn, readable } = await openStream();
    const totalBytes = 256 * 1024 * 1024;
    const messageBytes = 64 * 1024;
    let serverBlocked = false;
    const pump = pumpBinary(conn, totalBytes, messageBytes);
    const rssAtStart = process.memoryUsage().rss;
    const reader = readable.getReader();
    await reader.read(); // flowing

    // Stop reading; the server soon cannot write any more.
    await waitUntil(
      () => {
        serverBlocked = conn.unsentBytes > 1024 * 1024;
        return serverBlocked;
      },
      20_000,
      'the server to be blocked by TCP flow control',
    );
    const stalledAt = pump.sentBytes();
    await delay(200);
    const sentWhilePaused = pump.sentBytes() - stalledAt;
    const rssWhilePaused = process.memoryUsage().rss - rssAtStart;
    expect(stalledAt).toBeLessThan(64 * 1024 * 1024);
    expect(sentWhilePaused).toBeLessThan(8 * 1024 * 1024);

    // Read everything: all 256 MiB arrive, with bounded memory all along.
    let received = messageBytes;
    let maxRssGrowth = rssWhilePaused;
    const hash = createHash('sha256');
    while (received < totalBytes) {
      const { value, done } = await reader.read();
      if (done) break;
      hash.update(value as Uint8Array);
      received += (value as Uint8Array).byteLength;
      if (received % (8 * 1024 * 1024) === 0) maxRssGrowth = Math.max(maxRssGrowth, process.memoryUsage().rss - rssAtStart);
    }
    await pump.done;
    expect(received).toBe(totalBytes);
    console.log(
      `[backpressure] WebSocketStream: server blocked after ${mib(stalledAt)} sent (+${mib(sentWhilePaused)} in 200 ms paused); ` +
        `RSS growth paused ${mib(rssWhilePaused)}, max over 256 MiB ${mib(maxRssGrowth)}`,
    );
    expect(maxRssGrowth).toBeLessThan(128 * 1024 * 1024);
  }, 90_000);
});

describe('WebSocketStream against python-websockets', () => {
  let python: PythonServer;
  beforeAll(async () => {
    python = await startPythonServer();
  });
  afterAll(async () => {
    await python?.stop();
  });

  it('echoes through the writable and the readable, then closes cleanly', async () => {
    const wss = new WebSocketStream(python.url('/echo'));
    env.clients.push(wss.client);
    const { readable, writable } = await withTimeout(wss.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    const reader = readable.getReader();
    await writer.write('hello');
    await writer.write(Buffer.from('bytes'));
    expect((await reader.read()).value).toBe('hello');
    expect(Buffer.from((await reader.read()).value as Uint8Array).toString()).toBe('bytes');
    wss.close({ closeCode: 1000, reason: 'done' });
    expect(await wss.closed).toEqual({ closeCode: 1000, reason: 'done' });
  });
});
