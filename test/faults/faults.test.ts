// Faulty servers: dying mid-message, saying nothing, trickling bytes, going
// silent, announcing absurd lengths, and splitting a message into 10,000
// fragments. Each ends in a defined, bounded way.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Peer } from '../conformance/peer.js';
import { binary, fragments, frame, Op, text } from '../conformance/wire.js';
import { record, type Recorded } from './harness.js';

const peers: Peer[] = [];
const clients: Recorded[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const p of peers.splice(0)) await p.stop();
});
async function startPeer(script: Parameters<typeof Peer.start>[0]): Promise<Peer> {
  const p = await Peer.start(script);
  peers.push(p);
  return p;
}
function client(...args: Parameters<typeof record>): Recorded {
  const r = record(...args);
  clients.push(r);
  r.ws.connect();
  return r;
}

describe('the server dies mid-message', () => {
  for (const how of ['FIN', 'RST'] as const) {
    it(`${how} after 10 KiB of a 100 KiB frame: onClose 1006, ConnectionLost, no message`, async () => {
      const payload = Buffer.alloc(100 * 1024, 7);
      const f = binary(payload);
      const peer = await startPeer(async (conn) => {
        await conn.accept();
        await conn.write(f.subarray(0, 10 * 1024 + 4));
        await sleep(30);
        if (how === 'FIN') conn.end();
        else conn.reset();
      });
      const r = client(peer.url());
      expect(await r.waitCloses(1, 3000)).toBe(true);
      await sleep(30);
      expect(r.messages).toEqual([]);
      expect(r.closes).toEqual([expect.objectContaining({ code: 1006 })]);
      expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.ConnectionLost]);
      expect(r.ws.readyState).toBe('closed');
    });
  }

  it('between the fragments of a message: 1006, the fragments already received are not delivered', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write([text('first ', false), frame({ opcode: Op.Cont, payload: 'second ', fin: false })]);
      await sleep(30);
      conn.end();
    });
    const r = client(peer.url());
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(r.messages).toEqual([]);
    expect(r.closes[0]?.code).toBe(1006);
  });
});

describe('the server accepts TCP and says nothing', () => {
  it('the handshake timeout fails the attempt: HandshakeTimeout, TCP dropped by the client, onClose 1006', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.waitTcpClosed(5000);
    });
    const r = client(peer.url(), { handshakeTimeoutMs: 300 });
    expect(await r.waitCloses(1, 3000)).toBe(true);
    const conn = peer.connections[0]!;
    await conn.waitTcpClosed(1000);
    expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.HandshakeTimeout]);
    expect(r.errors[0]!.at).toBeGreaterThanOrEqual(290);
    expect(r.errors[0]!.at).toBeLessThan(1500);
    expect(r.closes.map((c) => c.code)).toEqual([1006]);
    expect(conn.tcpEndedBy).toBe('client');
    expect(conn.violations).toEqual([]);
  });
});

describe('slow-loris: the server trickles bytes', () => {
  it('a 101 and a message trickled byte by byte (3 ms apart) inside the timeout: works', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept({ chop: 1, delayMs: 3 });
      await conn.write(text('slow but fine'), { chop: 1, delayMs: 3 });
      await conn.waitMessages(1, 3000);
      await conn.finish();
    });
    const r = client(peer.url(), { handshakeTimeoutMs: 5000 }, true);
    expect(await r.waitCloses(1, 8000)).toBe(true);
    expect(r.messages.map((m) => m.data)).toEqual(['slow but fine']);
    expect(peer.connections[0]!.messages.map((m) => m.payload.toString())).toEqual(['slow but fine']);
    expect(r.errors).toEqual([]);
    expect(r.closes.map((c) => c.code)).toEqual([1000]);
  });

  it('a 101 trickled past the handshake timeout: HandshakeTimeout, cleanly', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept({ chop: 1, delayMs: 20 });
    });
    const r = client(peer.url(), { handshakeTimeoutMs: 400 });
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(r.openedAt).toBeUndefined();
    expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.HandshakeTimeout]);
    expect(r.closes.map((c) => c.code)).toEqual([1006]);
    await peer.connections[0]!.waitTcpClosed(1000);
    expect(peer.connections[0]!.tcpEndedBy).toBe('client');
  });

  it('a frame header trickled over 600 ms after the open: no timeout applies, the message arrives', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write(binary(Buffer.from([1, 2, 3])), { chop: 1, delayMs: 120 });
      await conn.waitMessages(1, 3000);
      await conn.finish();
    });
    const r = client(peer.url(), { handshakeTimeoutMs: 300 }, true);
    expect(await r.waitCloses(1, 5000)).toBe(true);
    expect(r.messages).toHaveLength(1);
    expect(r.errors).toEqual([]);
  });
});

describe('the network goes silent after the handshake', () => {
  it('pings go unanswered: PongTimeout within pingInterval + pongTimeout (+ slack), onClose 1006', async () => {
    const peer = await startPeer(async (conn) => {
      conn.autoPong = false;
      await conn.accept();
      await conn.waitTcpClosed(5000);
    });
    const r = client(peer.url(), { pingIntervalMs: 200, pongTimeoutMs: 200 });
    expect(await r.waitOpen()).toBe(true);
    expect(await r.waitCloses(1, 3000)).toBe(true);
    const failedAfter = r.errors[0]!.at - (r.openedAt! - r.startedAt);
    expect(r.errors.map((e) => e.code)).toEqual([ErrorCode.PongTimeout]);
    expect(failedAfter).toBeGreaterThanOrEqual(390);
    expect(failedAfter).toBeLessThan(800);
    expect(r.closes.map((c) => c.code)).toEqual([1006]);
    const conn = peer.connections[0]!;
    expect(conn.pings.length).toBeGreaterThanOrEqual(1);
    expect(conn.violations).toEqual([]);
  });

  it('pings answered: the connection stays up for several intervals', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await sleep(700);
      await conn.finish();
    });
    // The pong timeout is generous: this test is about pings being sent and answered, and a loaded
    // machine can hold a pong back for longer than an interval.
    const r = client(peer.url(), { pingIntervalMs: 100, pongTimeoutMs: 2_000 });
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.closes.map((c) => c.code)).toEqual([1000]);
    expect(peer.connections[0]!.pings.length).toBeGreaterThanOrEqual(4);
  });
});

describe('absurd lengths', () => {
  it('a frame announcing 2^63-1 bytes: 1009 from the header alone', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      // Only the header: a client that waited for (or allocated) the payload would never answer.
      await conn.write(frame({ opcode: Op.Binary, lengthForm: 64, announce: 0x7fffffffffffffffn }));
      await conn.waitClientClose(2000);
      await conn.waitTcpClosed(2000);
    });
    const before = process.memoryUsage().arrayBuffers;
    const r = client(peer.url());
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(peer.connections[0]!.clientClose?.code).toBe(1009);
    expect(r.errors.map((e) => [e.code, e.closeCode])).toEqual([[ErrorCode.MessageTooBig, 1009]]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('a frame over maxMessageBytes: 1009 before any payload', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write(frame({ opcode: Op.Text, announce: 2001n, lengthForm: 16 }));
      await conn.waitClientClose(2000);
      await conn.waitTcpClosed(2000);
    });
    const r = client(peer.url(), { maxMessageBytes: 2000 });
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(peer.connections[0]!.clientClose?.code).toBe(1009);
  });

  it('fragments that add up past maxMessageBytes: 1009 at the fragment that crosses it', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write([binary(Buffer.alloc(1500), false), frame({ opcode: Op.Cont, announce: 1000n, lengthForm: 16, fin: true })]);
      await conn.waitClientClose(2000);
      await conn.waitTcpClosed(2000);
    });
    const r = client(peer.url(), { maxMessageBytes: 2000 });
    expect(await r.waitCloses(1, 3000)).toBe(true);
    expect(peer.connections[0]!.clientClose?.code).toBe(1009);
    expect(r.messages).toEqual([]);
  });
});

describe('10,000 tiny fragments', () => {
  it('one text message in 10,000 fragments of 1-3 bytes (multi-byte characters split) arrives intact', async () => {
    const chars = 'aé€𝄞';
    let s = '';
    while (Buffer.byteLength(s) < 20_000) s += chars[s.length % chars.length];
    const payload = Buffer.from(s);
    const frames: Buffer[] = [];
    let at = 0;
    let i = 0;
    while (at < payload.length) {
      const remaining = 10_000 - frames.length;
      const size = remaining <= 1 ? payload.length - at : Math.min(payload.length - at, 1 + (i++ % 3));
      frames.push(frame({ opcode: frames.length === 0 ? Op.Text : Op.Cont, payload: payload.subarray(at, at + size), fin: at + size >= payload.length }));
      at += size;
    }
    expect(frames.length).toBeGreaterThanOrEqual(7000);
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write(frames, { chop: 1500 });
      await conn.waitMessages(1, 5000);
      await conn.finish();
    });
    const r = client(peer.url(), {}, true);
    expect(await r.waitCloses(1, 8000)).toBe(true);
    expect(r.messages.map((m) => m.data)).toEqual([s]);
    expect(peer.connections[0]!.messages[0]?.payload.equals(payload)).toBe(true);
    expect(r.errors).toEqual([]);
  });

  it('exactly 10,000 binary fragments of 1 byte', async () => {
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write(fragments(Op.Binary, payload, 1));
      await conn.waitMessages(1, 5000);
      await conn.finish();
    });
    const r = client(peer.url(), {}, true);
    expect(await r.waitCloses(1, 8000)).toBe(true);
    expect((r.messages[0]?.data as Buffer).equals(payload)).toBe(true);
    expect(peer.connections[0]!.messages[0]?.payload.equals(payload)).toBe(true);
  });
});

describe('terminate() from inside a callback', () => {
  // terminate() destroys the socket, and the session ends on its asynchronous
  // 'close'; the rest of the read in hand must not be delivered meanwhile.
  it('no message is delivered after terminate() in onMessage (3 messages in one read)', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write([text('1'), text('2'), text('3')]);
      await conn.waitTcpClosed(2000);
    });
    const r = client(peer.url());
    const seen: string[] = [];
    r.ws.onMessage = (_c, data) => {
      seen.push(`${String(data)}:${r.ws.readyState}`);
      if (seen.length === 1) r.ws.terminate();
    };
    expect(await r.waitCloses(1, 2000)).toBe(true);
    expect(seen).toEqual(['1:open']);
  });

  it('no message is delivered after terminate() in onWebSocketConnect (frames in the 101 write)', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept({ trailing: Buffer.concat([text('1'), text('2')]) });
      await conn.waitTcpClosed(2000);
    });
    const r = record(peer.url());
    clients.push(r);
    const seen: string[] = [];
    r.ws.onWebSocketConnect = () => r.ws.terminate();
    r.ws.onMessage = (_c, data) => seen.push(String(data));
    r.ws.connect();
    await sleep(200);
    expect(seen).toEqual([]);
  });

  it('after close() in onMessage, later messages of the same read may still arrive (RFC 6455 7.1.2); the close code goes out', async () => {
    const peer = await startPeer(async (conn) => {
      await conn.accept();
      await conn.write([text('1'), text('2')]);
      await conn.waitClientClose(2000);
      await conn.waitTcpClosed(2000);
    });
    const r = client(peer.url());
    r.ws.onMessage = (_c, data) => {
      if (data === '1') r.ws.close(4000);
    };
    expect(await r.waitCloses(1, 2000)).toBe(true);
    expect(peer.connections[0]!.clientClose?.code).toBe(4000);
    expect(peer.connections[0]!.violations).toEqual([]);
    expect(r.closes.map((c) => c.code)).toEqual([4000]);
  });
});
