import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, HandshakeError } from '../../src/protocol/errors.js';
import type { DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { acceptValue, createHandshakeRequest } from '../../src/protocol/handshake.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../../src/streams/frame-encoder-stream.js';
import { HandshakeStream } from '../../src/streams/handshake-stream.js';
import { MessageStream, type MessageEvent } from '../../src/streams/message-stream.js';
import { PingInjector } from '../../src/streams/ping-injector.js';
import { collect, once, socketPair } from '../helpers/socket-pair.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
async function pair() {
  const p = await socketPair();
  cleanups.push(p.close);
  return p;
}

describe('HandshakeStream', () => {
  it('emits the 101 and passes on the frames that came in the same write', async () => {
    const { client, server } = await pair();
    const request = createHandshakeRequest({ host: 'x', path: '/' });
    const hs = new HandshakeStream({ key: request.key, protocols: [] });
    const decoder = new FrameDecoderStream({ role: 'client' });
    client.pipe(hs).pipe(decoder);
    server.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(request.key)}\r\n\r\n\x81\x02hi`,
      'latin1',
    );
    const response = await once<{ status: number }>(hs, 'response');
    expect(response.status).toBe(101);
    const [event] = await collect<DecoderEvent>(decoder, 1);
    expect(event).toMatchObject({ type: 'data', opcode: 1, messageEnd: true });
    expect((event as { payload: Buffer }).payload.toString()).toBe('hi');
  });

  it('fails a refusal with its status and the start of its body', async () => {
    const { client, server } = await pair();
    const hs = new HandshakeStream({ key: 'k', protocols: [] });
    client.pipe(hs);
    server.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 14\r\n\r\nnot for you :(');
    const error = await once<HandshakeError>(hs, 'error');
    expect(error).toBeInstanceOf(HandshakeError);
    expect([error.code, error.status, error.bodyStart]).toEqual([ErrorCode.HandshakeStatus, 403, 'not for you :(']);
  });

  it('fails when the server hangs up before answering', async () => {
    const { client, server } = await pair();
    const hs = new HandshakeStream({ key: 'k', protocols: [] });
    client.pipe(hs);
    server.end('HTTP/1.1 101 Swi');
    const error = await once<HandshakeError>(hs, 'error');
    expect((error as { code: string }).code).toBe(ErrorCode.ConnectionLost);
  });
});

describe('FrameEncoderStream and FrameDecoderStream over a socket', () => {
  it('client-role frames are masked, decoded by a server-role decoder, intact and in order', async () => {
    const { client, server } = await pair();
    const encoder = new FrameEncoderStream({ role: 'client' });
    const decoder = new FrameDecoderStream({ role: 'server' });
    const messages = new MessageStream();
    encoder.pipe(client);
    server.pipe(decoder).pipe(messages);
    const big = Buffer.alloc(200_000, 7);
    encoder.write({ opcode: Opcode.Text, payload: 'one' });
    encoder.enqueue({ opcode: Opcode.Binary, payload: big });
    encoder.enqueue({ opcode: Opcode.Text, payload: 'par', fin: false });
    encoder.enqueue({ opcode: Opcode.Ping, payload: 'p' });
    encoder.enqueue({ opcode: Opcode.Continuation, payload: 'ts' });
    const got = await collect<MessageEvent>(messages, 4);
    expect(got.map((e) => (e.type === 'message' ? `${e.opcode}:${(e.data as Buffer).length}` : e.type))).toEqual([
      '1:3',
      '2:200000',
      'ping',
      '1:5',
    ]);
    expect(((got[1] as { data: Buffer }).data).equals(big)).toBe(true);
  });

  it('batches the frames of one event-loop turn into one buffer', async () => {
    const encoder = new FrameEncoderStream({ role: 'client' });
    const chunks: Buffer[] = [];
    encoder.on('data', (c: Buffer) => chunks.push(c));
    // The first burst finds a small slab (an idle connection keeps 1 KiB, not 64) and grows it.
    for (let i = 0; i < 1000; i++) encoder.enqueue({ opcode: Opcode.Text, payload: `warm-up ${i}` });
    await new Promise((r) => setImmediate(r));
    expect(chunks.length).toBeLessThanOrEqual(2);
    chunks.length = 0;
    for (let i = 0; i < 1000; i++) encoder.enqueue({ opcode: Opcode.Text, payload: `message ${i}` });
    await new Promise((r) => setImmediate(r));
    expect(chunks).toHaveLength(1);
    const decoder = new FrameDecoderStream({ role: 'server', batch: true });
    decoder.write(chunks[0]);
    const [batch] = await collect<DecoderEvent[]>(decoder, 1);
    expect(batch).toHaveLength(1000);
  });

  it('reports backpressure from enqueue() above the high-water mark', () => {
    const encoder = new FrameEncoderStream({ role: 'client', highWaterMarkBytes: 1000 });
    expect(encoder.enqueue({ opcode: Opcode.Binary, payload: Buffer.alloc(10) })).toBe(true);
    expect(encoder.enqueue({ opcode: Opcode.Binary, payload: Buffer.alloc(2000) })).toBe(false);
    encoder.destroy();
  });

  it('a protocol error arrives in order as an event, then the stream ends', async () => {
    const decoder = new FrameDecoderStream({ role: 'client' });
    const events: DecoderEvent[] = [];
    decoder.on('data', (e: DecoderEvent) => events.push(e));
    const ended = once(decoder, 'end');
    decoder.write(Buffer.from('810161c100810162', 'hex'));
    await ended;
    expect(events.map((e) => (e.type === 'error' ? e.error.code : e.type))).toEqual(['data', 'WSP_ERR_RESERVED_BITS']);
  });
});

describe('PingInjector', () => {
  it('injects pings at the interval and passes frames through', async () => {
    const pinger = new PingInjector({ pingIntervalMs: 30, pongTimeoutMs: 0 });
    const frames: Array<{ opcode: number }> = [];
    pinger.on('data', (f: { opcode: number }) => frames.push(f));
    pinger.write({ opcode: Opcode.Text, payload: 'x' });
    await new Promise((r) => setTimeout(r, 200));
    pinger.destroy();
    const pings = frames.filter((f) => f.opcode === Opcode.Ping).length;
    expect(frames[0]!.opcode).toBe(Opcode.Text);
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(pings).toBeLessThanOrEqual(8);
  });

  it('fails with WSP_ERR_PONG_TIMEOUT when no pong comes back, and not while pongs do', async () => {
    // Generous for the live one: a loaded machine may delay a timer by tens of milliseconds.
    const alive = new PingInjector({ pingIntervalMs: 20, pongTimeoutMs: 500 });
    alive.on('data', () => setTimeout(() => alive.pongReceived(), 5));
    let aliveError: unknown;
    alive.on('error', (e) => (aliveError = e));
    const dead = new PingInjector({ pingIntervalMs: 20, pongTimeoutMs: 40 });
    dead.resume();
    const started = Date.now();
    const error = await once<{ code: string }>(dead, 'error', 2_000);
    expect(error.code).toBe(ErrorCode.PongTimeout);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    await new Promise((r) => setTimeout(r, 150));
    expect(aliveError).toBeUndefined();
    alive.destroy();
  });
});
