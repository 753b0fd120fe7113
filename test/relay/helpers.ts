import * as http from 'node:http';
import * as net from 'node:net';
import { createRelay, type Relay, type RelayOptions } from '../../src/relay/index.js';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
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
import { ClientRecorder, withTimeout } from '../helpers/wait.js';

/** How a relay is mounted in a test: its own listener, or an http.Server's 'upgrade' beside an ordinary route. */
export type Mount = 'listen' | 'http.Server';
export const MOUNTS: Mount[] = ['listen', 'http.Server'];

export interface Mounted {
  relay: Relay;
  port: number;
  url(path: string): string;
}

/** What a test opened, closed after it. */
export class Harness {
  readonly relays: Relay[] = [];
  readonly clients: WebSocketClient[] = [];
  readonly cleanups: Array<() => unknown> = [];

  async mount(mount: Mount, options: RelayOptions): Promise<Mounted> {
    const relay = createRelay({ closeTimeoutMs: 500, ...options });
    this.relays.push(relay);
    let port: number;
    if (mount === 'listen') {
      port = (await relay.listen({ host: '127.0.0.1', port: 0 })).port;
    } else {
      const server = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`ordinary route ${req.url}\n`);
      });
      server.on('upgrade', (req, socket, head) => relay.handleUpgrade(req, socket, head));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.cleanups.push(() => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      });
      port = (server.address() as net.AddressInfo).port;
    }
    return { relay, port, url: (path) => `ws://127.0.0.1:${port}${path}` };
  }

  open(url: string, options: WebSocketClientOptions = {}): { ws: WebSocketClient; events: ClientRecorder } {
    const ws = new WebSocketClient(url, options);
    this.clients.push(ws);
    const events = new ClientRecorder(ws);
    ws.connect();
    return { ws, events };
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients.splice(0)) client.terminate();
    await Promise.all(this.relays.splice(0).map((relay) => withTimeout(relay.close(), 8_000, 'the relay to close')));
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup();
  }
}

export function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buffer[i] = (i * 31 + seed) & 0xff;
  return buffer;
}

/** A WebSocket server that records every decoded frame and lets a test write raw bytes. */
export interface RawUpstream {
  url: string;
  requests: HandshakeRequestHead[];
  sockets: net.Socket[];
  events: DecoderEvent[];
  /** Raw bytes received after the handshake, per connection. */
  raw: Buffer[][];
}

export async function startRawUpstream(
  harness: Harness,
  options: {
    protocol?: (offered: string[]) => string | undefined;
    extensions?: (offer: string | undefined) => string | undefined;
    after101?: Buffer;
    perMessageCompression?: boolean;
  } = {},
): Promise<RawUpstream> {
  const upstream: RawUpstream = { url: '', requests: [], sockets: [], events: [], raw: [] };
  const server = net.createServer((socket) => {
    upstream.sockets.push(socket);
    const raw: Buffer[] = [];
    upstream.raw.push(raw);
    socket.on('error', () => socket.destroy());
    const parser = new HandshakeRequestParser();
    const decoder = new FrameDecoder({ role: 'server', perMessageCompression: options.perMessageCompression ?? false });
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      if (open) {
        raw.push(Buffer.from(chunk));
        upstream.events.push(...decoder.push(chunk));
        return;
      }
      const parsed = parser.push(chunk);
      if (!parsed) return;
      open = true;
      upstream.requests.push(parsed.request);
      const offered = (parsed.request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      const head = createHandshakeResponse(parsed.request, {
        protocol: options.protocol?.(offered),
        extensions: options.extensions?.(parsed.request.headers['sec-websocket-extensions']),
      });
      socket.write(options.after101 ? Buffer.concat([head, options.after101]) : head);
      if (parsed.leftover.length > 0) {
        raw.push(Buffer.from(parsed.leftover));
        upstream.events.push(...decoder.push(parsed.leftover));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  harness.cleanups.push(() => {
    for (const socket of upstream.sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  upstream.url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  return upstream;
}

/** A frame as a server sends it (unmasked), or masked when a test wants the upstream to break the protocol. */
export function serverFrame(opcode: number, payload: Buffer | string, masked = false, fin = true, rsv1 = false): Buffer {
  return Buffer.concat(new FrameEncoder({ role: masked ? 'client' : 'server' }).encode({ opcode, payload, fin, rsv1 }));
}

/** A frame as a client sends it (masked). */
export function clientFrame(opcode: number, payload: Buffer | string, fin = true, rsv1 = false): Buffer {
  return Buffer.concat(new FrameEncoder({ role: 'client' }).encode({ opcode, payload, fin, rsv1 }));
}

/** A client of our own that speaks raw frames to the relay. */
export async function rawClient(
  harness: Harness,
  port: number,
  path = '/',
  options: { extensions?: string; perMessageCompression?: boolean } = {},
): Promise<{ socket: net.Socket; events: DecoderEvent[]; extensions: string | undefined; raw: Buffer[] }> {
  const socket = net.connect(port, '127.0.0.1');
  harness.cleanups.push(() => socket.destroy());
  const request = createHandshakeRequest({ host: `127.0.0.1:${port}`, path, extensions: options.extensions });
  socket.write(request.bytes);
  const parser = new HandshakeResponseParser();
  const decoder = new FrameDecoder({ role: 'client', perMessageCompression: options.perMessageCompression ?? false });
  const events: DecoderEvent[] = [];
  const raw: Buffer[] = [];
  let extensions: string | undefined;
  let opened = false;
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        if (opened) {
          raw.push(Buffer.from(chunk));
          events.push(...decoder.push(chunk));
          return;
        }
        const parsed = parser.push(chunk);
        if (!parsed) return;
        opened = true;
        if (parsed.response.status !== 101) reject(new Error(`status ${parsed.response.status}`));
        extensions = parsed.response.extensions;
        raw.push(Buffer.from(parsed.leftover));
        events.push(...decoder.push(parsed.leftover));
        resolve();
      });
    }),
    5_000,
    'the relay to answer the raw client',
  );
  return { socket, events, extensions, raw };
}

export function closeOf(events: DecoderEvent[]): Extract<DecoderEvent, { type: 'close' }> | undefined {
  return events.find((e): e is Extract<DecoderEvent, { type: 'close' }> => e.type === 'close');
}
