import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain-JavaScript example, checked by running it.
import { startRelay as startRelayUntyped } from '../../examples/relay.mjs';
import { HandshakeError, Opcode, WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import {
  createHandshakeRequest,
  createHandshakeResponse,
  FrameDecoder,
  FrameEncoder,
  HandshakeRequestParser,
  HandshakeResponseParser,
  type DecoderEvent,
  type HandshakeRequestHead,
} from '../../src/protocol/index.js';
import { startPythonServer, type PythonServer } from '../helpers/python-server.js';
import { ClientRecorder, delay, waitUntil, withTimeout } from '../helpers/wait.js';

// examples/relay.mjs between our client and python3-websockets (and, where a
// test must see or send exact frames, a raw upstream or client of our own).

type Direction = 'client-to-upstream' | 'upstream-to-client';
interface Counters {
  frames: number;
  bytes: number;
  dropped: number;
}
interface Relay {
  port: number;
  stats: {
    accepted: number;
    refused: number;
    connections: number;
    clientToUpstream: Counters;
    upstreamToClient: Counters;
    bufferedBytes: number;
    peakBufferedBytes: number;
  };
  close(): Promise<void>;
}
interface RelayOptions {
  upstream: string;
  host?: string;
  port?: number;
  onMessage?: (direction: Direction, opcode: number, payload: Buffer) => void | false;
  inspect?: boolean;
  handshakeTimeoutMs?: number;
  closeTimeoutMs?: number;
}
const startRelay = startRelayUntyped as (options: RelayOptions) => Promise<Relay>;

let python: PythonServer;
const relays: Relay[] = [];
const clients: WebSocketClient[] = [];
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  python = await startPythonServer();
});
afterAll(async () => {
  await python?.stop();
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await Promise.all(relays.splice(0).map((relay) => withTimeout(relay.close(), 8_000, 'the relay to close')));
});

async function relayTo(upstream: string, options: Omit<RelayOptions, 'upstream'> = {}): Promise<Relay> {
  const relay = await startRelay({ upstream, host: '127.0.0.1', port: 0, closeTimeoutMs: 2_000, ...options });
  relays.push(relay);
  return relay;
}

function open(relay: Relay, path: string, options: WebSocketClientOptions = {}): { ws: WebSocketClient; events: ClientRecorder } {
  const ws = new WebSocketClient(`ws://127.0.0.1:${relay.port}${path}`, options);
  clients.push(ws);
  const events = new ClientRecorder(ws);
  ws.connect();
  return { ws, events };
}

function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buffer[i] = (i * 31 + seed) & 0xff;
  return buffer;
}

/** A WebSocket server that records every decoded frame and lets a test write raw bytes. */
interface RawUpstream {
  url: string;
  requests: HandshakeRequestHead[];
  sockets: net.Socket[];
  events: DecoderEvent[];
}
async function startRawUpstream(
  options: { protocol?: (offered: string[]) => string | undefined; after101?: Buffer } = {},
): Promise<RawUpstream> {
  const upstream: RawUpstream = { url: '', requests: [], sockets: [], events: [] };
  const server = net.createServer((socket) => {
    upstream.sockets.push(socket);
    socket.on('error', () => socket.destroy());
    const parser = new HandshakeRequestParser();
    const decoder = new FrameDecoder({ role: 'server' });
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      if (open) {
        upstream.events.push(...decoder.push(chunk));
        return;
      }
      const parsed = parser.push(chunk);
      if (!parsed) return;
      open = true;
      upstream.requests.push(parsed.request);
      const offered = (parsed.request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      const head = createHandshakeResponse(parsed.request, { protocol: options.protocol?.(offered) });
      socket.write(options.after101 ? Buffer.concat([head, options.after101]) : head);
      if (parsed.leftover.length > 0) upstream.events.push(...decoder.push(parsed.leftover));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const socket of upstream.sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  upstream.url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  return upstream;
}

/** A server-role frame, unmasked, or masked when a test wants the upstream to break the protocol. */
function serverFrame(opcode: number, payload: Buffer | string, masked = false): Buffer {
  return Buffer.concat(new FrameEncoder({ role: masked ? 'client' : 'server' }).encode({ opcode, payload }));
}

/** A client of our own that speaks raw frames to the relay. */
async function rawClient(relay: Relay, path = '/'): Promise<{ socket: net.Socket; events: DecoderEvent[] }> {
  const socket = net.connect(relay.port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  const request = createHandshakeRequest({ host: `127.0.0.1:${relay.port}`, path });
  socket.write(request.bytes);
  const parser = new HandshakeResponseParser();
  const decoder = new FrameDecoder({ role: 'client' });
  const events: DecoderEvent[] = [];
  let opened = false;
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        if (opened) {
          events.push(...decoder.push(chunk));
          return;
        }
        const parsed = parser.push(chunk);
        if (!parsed) return;
        opened = true;
        if (parsed.response.status !== 101) reject(new Error(`status ${parsed.response.status}`));
        events.push(...decoder.push(parsed.leftover));
        resolve();
      });
    }),
    5_000,
    'the relay to answer the raw client',
  );
  return { socket, events };
}

function closeOf(events: DecoderEvent[]): Extract<DecoderEvent, { type: 'close' }> | undefined {
  return events.find((e): e is Extract<DecoderEvent, { type: 'close' }> => e.type === 'close');
}

describe('relay between our client and python-websockets', () => {
  it('echoes text and binary of several sizes, 4 MiB included, intact and in order, frames passing piece by piece', async () => {
    const relay = await relayTo(python.url('/'));
    const { ws, events } = open(relay, '/echo');
    await events.first('open', 5_000);
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 1024 * 1024, 4 * 1024 * 1024];
    const sent: Array<string | Buffer> = [];
    for (const [i, size] of sizes.entries()) {
      const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2);
      ws.send(text);
      ws.send(pattern(size, i), { binary: true });
      sent.push(text, pattern(size, i));
    }
    await events.nth('message', sent.length, 15_000);
    const received = events.of('message').map((e) => e.args);
    expect(received.length).toBe(sent.length);
    received.forEach(([data, isBinary], i) => {
      const expected = sent[i]!;
      expect(isBinary, `message ${i}`).toBe(typeof expected !== 'string');
      if (typeof expected === 'string') expect(data === expected, `text message ${i} (${expected.length} chars)`).toBe(true);
      else expect((data as Buffer).equals(expected), `binary message ${i} (${expected.length} bytes)`).toBe(true);
    });
    const payloadBytes = sent.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
    expect(relay.stats.clientToUpstream.bytes).toBe(payloadBytes);
    expect(relay.stats.upstreamToClient.bytes).toBe(payloadBytes);
    // No reassembly: the large messages left the relay as several frames, as their bytes arrived.
    expect(relay.stats.clientToUpstream.frames).toBeGreaterThan(sent.length);
    expect(relay.stats.upstreamToClient.frames).toBeGreaterThan(sent.length);
    expect(ws.response?.extensions).toBeUndefined(); // the client offered permessage-deflate; the relay takes none
  });

  it('forwards end-to-end headers and X-Forwarded-For, and offers no extension upstream', async () => {
    const relay = await relayTo(python.url('/'));
    const { events } = open(relay, '/headers', { headers: { Cookie: 'a=b', 'X-Many': ['one', 'two'] }, origin: 'http://example.test' });
    const [message] = (await events.first('message', 5_000)).args;
    const report = JSON.parse(message as string) as { path: string; headers: Array<[string, string]> };
    const names = report.headers.map(([n]) => n.toLowerCase());
    const value = (name: string): string[] => report.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    expect(report.path).toBe('/headers');
    expect(value('cookie')).toEqual(['a=b']);
    expect(value('x-many')).toEqual(['one', 'two']);
    expect(value('origin')).toEqual(['http://example.test']);
    expect(value('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(value('host')).toEqual([`127.0.0.1:${python.port}`]);
    expect(names).not.toContain('sec-websocket-extensions');
  });

  it('forwards pings both ways, and the pongs back', async () => {
    const relay = await relayTo(python.url('/'));
    const { ws, events } = open(relay, '/pings');
    await events.first('open', 5_000);
    ws.ping('one');
    ws.ping('two');
    const second = await events.nth('pong', 2, 5_000);
    expect(events.of('pong').map((e) => String(e.args[0]))).toEqual(['one', 'two']);
    expect(second.args[0]).toBeInstanceOf(Buffer);
    await waitUntil(() => events.of('message').some((e) => JSON.parse(e.args[0] as string).pings === 2), 5_000, 'python to count 2 pings');

    // The other way: an upstream's ping reaches the client, whose pong reaches the upstream.
    const raw = await startRawUpstream();
    const relay2 = await relayTo(raw.url);
    const second2 = open(relay2, '/');
    await second2.events.first('open', 5_000);
    raw.sockets[0]!.write(serverFrame(Opcode.Ping, 'from upstream'));
    expect(String((await second2.events.first('ping', 5_000)).args[0])).toBe('from upstream');
    await waitUntil(() => raw.events.some((e) => e.type === 'pong'), 5_000, 'the pong to reach the upstream');
    const pong = raw.events.find((e) => e.type === 'pong') as Extract<DecoderEvent, { type: 'pong' }>;
    expect(pong.payload.toString()).toBe('from upstream');
  });

  it('carries close codes both ways', async () => {
    const relay = await relayTo(python.url('/'));
    const fromClient = open(relay, '/echo');
    await fromClient.events.first('open', 5_000);
    fromClient.ws.close(4001, 'client says bye');
    const [code] = (await fromClient.events.first('close', 5_000)).args;
    expect(code).toBe(4001); // python answered the 4001 it received through the relay

    const fromUpstream = open(relay, '/close?code=4002&reason=upstream%20says%20bye');
    const [code2, reason2] = (await fromUpstream.events.first('close', 5_000)).args;
    expect([code2, reason2]).toEqual([4002, 'upstream says bye']);
    await waitUntil(() => relay.stats.connections === 0, 5_000, 'the relay to end both connections');
  });

  it('forwards the subprotocol the upstream chose among the client offer', async () => {
    const raw = await startRawUpstream({ protocol: (offered) => offered[1] });
    const relay = await relayTo(raw.url);
    const { ws, events } = open(relay, '/', { protocols: ['a.v1', 'b.v2'] });
    await events.first('open', 5_000);
    expect(ws.protocol).toBe('b.v2');
    expect(raw.requests[0]!.headers['sec-websocket-protocol']).toBe('a.v1, b.v2');
  });

  it('does not lose frames the upstream sent in the same read as its 101', async () => {
    const raw = await startRawUpstream({ after101: serverFrame(Opcode.Text, 'right after the 101') });
    const relay = await relayTo(raw.url);
    const { events } = open(relay, '/');
    expect((await events.first('message', 5_000)).args[0]).toBe('right after the 101');
  });

  it('lets onMessage log whole messages and drop some', async () => {
    const log: Array<[Direction, number, string]> = [];
    const relay = await relayTo(python.url('/'), {
      onMessage: (direction, opcode, payload) => {
        log.push([direction, opcode, opcode === Opcode.Text ? payload.toString() : `${payload.length} bytes`]);
        if (opcode === Opcode.Text && payload.toString().startsWith('drop')) return false;
      },
    });
    const { ws, events } = open(relay, '/echo');
    await events.first('open', 5_000);
    ws.send('keep 1');
    ws.send('drop me');
    ws.send(pattern(1024 * 1024, 3), { binary: true }); // spans many reads: shown whole
    ws.send('keep 2');
    await events.nth('message', 3, 5_000);
    await delay(100);
    expect(events.of('message').map((e) => (typeof e.args[0] === 'string' ? e.args[0] : (e.args[0] as Buffer).length))).toEqual([
      'keep 1',
      1024 * 1024,
      'keep 2',
    ]);
    expect((events.of('message')[1]!.args[0] as Buffer).equals(pattern(1024 * 1024, 3))).toBe(true);
    const seen = (direction: Direction): Array<[number, string]> => log.filter(([d]) => d === direction).map(([, o, p]) => [o, p]);
    expect(seen('client-to-upstream')).toEqual([
      [Opcode.Text, 'keep 1'],
      [Opcode.Text, 'drop me'],
      [Opcode.Binary, `${1024 * 1024} bytes`],
      [Opcode.Text, 'keep 2'],
    ]);
    expect(seen('upstream-to-client')).toEqual([
      [Opcode.Text, 'keep 1'],
      [Opcode.Binary, `${1024 * 1024} bytes`],
      [Opcode.Text, 'keep 2'],
    ]);
    expect(relay.stats.clientToUpstream.dropped).toBe(1);
  });
});

describe('relay failures', () => {
  it('answers 502 when the upstream refuses the handshake or cannot be reached', async () => {
    const refusing = http.createServer((_request, response) => response.writeHead(403).end('no'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => refusing.close(resolve)));
    const port = (refusing.address() as net.AddressInfo).port;
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    for (const upstream of [`ws://127.0.0.1:${port}/`, `ws://127.0.0.1:${deadPort}/`]) {
      const relay = await relayTo(upstream);
      const { events } = open(relay, '/');
      const [error] = (await events.first('error', 5_000)).args;
      expect(error, upstream).toBeInstanceOf(HandshakeError);
      expect((error as HandshakeError).status, upstream).toBe(502);
      expect(relay.stats.refused).toBe(1);
    }
  });

  it('closes an upstream that breaks the protocol with 1002 and the client with 1014', async () => {
    const raw = await startRawUpstream();
    const relay = await relayTo(raw.url);
    const { events } = open(relay, '/');
    await events.first('open', 5_000);
    raw.sockets[0]!.write(serverFrame(Opcode.Text, 'masked by a server', true)); // RFC 6455 5.1
    const [code] = (await events.first('close', 5_000)).args;
    expect(code).toBe(1014);
    await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
    expect(closeOf(raw.events)!.code).toBe(1002);
  });

  it('closes a client that breaks the protocol with its error code and the upstream with 1011', async () => {
    const raw = await startRawUpstream();
    const relay = await relayTo(raw.url);
    const client = await rawClient(relay);
    client.socket.write(serverFrame(Opcode.Text, 'unmasked from a client')); // RFC 6455 5.1
    await waitUntil(() => closeOf(client.events) !== undefined, 5_000, 'the client to get a close frame');
    expect(closeOf(client.events)!.code).toBe(1002);
    await waitUntil(() => closeOf(raw.events) !== undefined, 5_000, 'the upstream to get a close frame');
    expect(closeOf(raw.events)!.code).toBe(1011);
    // Invalid UTF-8 is the client's error too, with its own code (1007).
    const client2 = await rawClient(relay);
    client2.socket.write(Buffer.concat(new FrameEncoder({ role: 'client' }).encode({ opcode: Opcode.Text, payload: Buffer.from([0xc3, 0x28]) })));
    await waitUntil(() => closeOf(client2.events) !== undefined, 5_000, 'the second client to get a close frame');
    expect(closeOf(client2.events)!.code).toBe(1007);
  });

  it('tells the client 1014 when the upstream vanishes without a close frame', async () => {
    const raw = await startRawUpstream();
    const relay = await relayTo(raw.url);
    const { events } = open(relay, '/');
    await events.first('open', 5_000);
    raw.sockets[0]!.destroy();
    expect((await events.first('close', 5_000)).args[0]).toBe(1014);
  });
});

describe('relay backpressure', () => {
  it('keeps its buffers bounded while the client reads nothing, and delivers 64 MiB intact after resume', async () => {
    const relay = await relayTo(python.url('/'));
    const { ws, events } = open(relay, '/echo');
    await events.first('open', 5_000);
    const count = 64;
    const size = 1024 * 1024;
    const digests: string[] = [];
    ws.pause();
    for (let i = 0; i < count; i++) {
      const message = pattern(size, i);
      digests.push(createHash('sha1').update(message).digest('hex'));
      ws.send(message, { binary: true });
    }
    let maxSampled = 0;
    const sampler = setInterval(() => (maxSampled = Math.max(maxSampled, relay.stats.bufferedBytes)), 2);
    try {
      // Let the pipeline fill up and stall: the client sends until python stops reading.
      await delay(2_000);
      const relayedWhilePaused = relay.stats.upstreamToClient.bytes;
      await delay(300);
      expect(relay.stats.upstreamToClient.bytes, 'nothing more relayed to a paused client').toBe(relayedWhilePaused);
      expect(relayedWhilePaused).toBeLessThan(count * size / 2);
      ws.resume();
      await events.nth('message', count, 40_000);
    } finally {
      clearInterval(sampler);
    }
    const received = events.of('message').map((e) => createHash('sha1').update(e.args[0] as Buffer).digest('hex'));
    expect(received).toEqual(digests);
    console.log(`relay buffered at most ${maxSampled} bytes sampled, ${relay.stats.peakBufferedBytes} at a write`);
    expect(maxSampled).toBeLessThan(2 * 1024 * 1024);
    expect(relay.stats.peakBufferedBytes).toBeLessThan(2 * 1024 * 1024);
  }, 60_000);
});
