import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { encodeClosePayload } from '../../src/protocol/close.js';
import { acceptValue } from '../../src/protocol/handshake.js';
import type { DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { createHandshakeResponse, type HandshakeRequestHead } from '../../src/protocol/handshake-server.js';
import { readHandshakeRequest } from '../../src/server/read-request.js';
import { MessageAssembler } from '../../src/protocol/message-assembler.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../../src/streams/frame-encoder-stream.js';

/** How the server answers an opening handshake. */
export type HandshakeMode =
  | 'accept'
  /** Read the request and never answer. */
  | 'silent'
  /** Answer with this status and body instead of 101, then close. */
  | { status: number; reason?: string; body: string }
  /** Write this response head as it is (add the blank line yourself), then keep the socket open and silent. */
  | { raw: (request: HandshakeRequestHead, accept: string) => string };

export interface TestServerOptions {
  /** Serve wss: with this certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  handshake?: HandshakeMode;
  /** Answer client pings with pongs. Default true; can be changed at any time. */
  answerPings?: boolean;
}

/** A message the server received. */
export interface ReceivedMessage {
  binary: boolean;
  data: Buffer;
}

/**
 * One accepted WebSocket connection, seen from the server.
 *
 * Events: `'message'` (ReceivedMessage), `'ping'` (count), `'closeFrame'`
 * ({ code, reason }), `'closed'` (the socket is gone).
 */
export class TestConnection extends EventEmitter {
  readonly messages: ReceivedMessage[] = [];
  /** Payloads of the pongs received. */
  readonly pongs: Buffer[] = [];
  pings = 0;
  closeFrame: { code: number | undefined; reason: string } | undefined;
  closed = false;
  private closeSent = false;
  private readonly decoder = new FrameDecoderStream({ role: 'server', batch: true });
  private readonly encoder = new FrameEncoderStream({ role: 'server' });
  private readonly assembler = new MessageAssembler();

  constructor(
    readonly server: TestServer,
    readonly request: HandshakeRequestHead,
    readonly socket: net.Socket,
    leftover: Buffer,
  ) {
    super();
    this.encoder.pipe(socket);
    this.decoder.on('data', (events: DecoderEvent[]) => this.handle(events));
    // Written by hand rather than piped, so that pause() really stops reading the socket.
    socket.on('data', (chunk: Buffer) => this.decoder.write(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.decoder.destroy();
      this.encoder.destroy();
      this.emit('closed');
    });
    if (leftover.length > 0) this.decoder.write(leftover);
  }

  /** The client's Sec-WebSocket-Key. */
  get key(): string {
    return this.request.headers['sec-websocket-key'] ?? '';
  }

  /** Bytes the server has accepted to send and the client has not taken yet (beyond the kernel's buffers). */
  get unsentBytes(): number {
    return this.encoder.bufferedBytes + this.socket.writableLength;
  }

  send(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.encoder.enqueue({ opcode: binary ? Opcode.Binary : Opcode.Text, payload: data });
  }

  /** Writes bytes as they are, for frames no correct server sends (after queued frames, when nothing is backed up). */
  sendRaw(bytes: Buffer): void {
    this.encoder.flushBatch();
    this.socket.write(bytes);
  }

  /** Sends a close frame; the socket ends once the client answers (or at once with `endNow`). */
  close(code = 1000, reason = '', endNow = false): void {
    this.sendClose(encodeClosePayload(code, reason));
    if (endNow) this.socket.end();
  }

  ping(payload: string | Buffer = ''): void {
    this.encoder.enqueue({ opcode: Opcode.Ping, payload });
  }

  /** Stops reading from the socket: the client's writes back up through TCP. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Announces a binary message of `announcedBytes`, sends a few of them, then drops the connection. */
  dieMidMessage(announcedBytes = 1000): void {
    this.encoder.flushBatch();
    const header = Buffer.from([0x82, 126, announcedBytes >> 8, announcedBytes & 0xff]);
    this.socket.write(Buffer.concat([header, Buffer.alloc(10, 0x61)]), () => this.socket.destroy());
  }

  /** Drops the TCP connection with no close frame. */
  destroy(): void {
    this.socket.destroy();
  }

  private sendClose(payload: Buffer): void {
    if (this.closeSent || this.closed) return;
    this.closeSent = true;
    this.encoder.enqueue({ opcode: Opcode.Close, payload });
    this.encoder.flushBatch();
  }

  private handle(events: DecoderEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'data': {
          const message = this.assembler.add(event.opcode, event.payload, event.messageStart, event.messageEnd);
          if (message) {
            const received = { binary: message.opcode === Opcode.Binary, data: Buffer.from(message.data as Buffer) };
            this.messages.push(received);
            this.emit('message', received);
          }
          break;
        }
        case 'ping':
          this.pings++;
          this.server.pingsReceived++;
          if (this.server.answerPings && !this.closeSent) this.encoder.enqueue({ opcode: Opcode.Pong, payload: event.payload });
          this.emit('ping', this.pings);
          break;
        case 'pong':
          this.pongs.push(Buffer.from(event.payload));
          this.emit('pong', event.payload);
          break;
        case 'close':
          this.closeFrame = { code: event.code, reason: event.reason };
          // RFC 6455 5.5.1: echo the code; then the server closes TCP first (7.1.1).
          this.sendClose(event.code === undefined ? Buffer.alloc(0) : encodeClosePayload(event.code));
          this.encoder.end();
          this.emit('closeFrame', this.closeFrame);
          break;
        case 'error':
          this.sendClose(encodeClosePayload(event.error.closeCode));
          this.encoder.end();
          break;
      }
    }
  }
}

/**
 * A configurable WebSocket server for tests, built from wspipe's server-role
 * stages, on 127.0.0.1. Records every request and connection.
 *
 * Events: `'request'` (HandshakeRequestHead, whatever the mode), `'connection'` (TestConnection).
 */
export class TestServer extends EventEmitter {
  handshake: HandshakeMode;
  answerPings: boolean;
  /** Bytes written together with the 101, in the same write: the first frames. */
  greeting: Buffer | undefined;
  pingsReceived = 0;
  readonly requests: HandshakeRequestHead[] = [];
  readonly connections: TestConnection[] = [];
  /** Raw TCP (or TLS) connections accepted, including ones that never upgraded. */
  acceptedSockets = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;
  private listeningPort = 0;

  private constructor(private readonly options: TestServerOptions) {
    super();
    this.handshake = options.handshake ?? 'accept';
    this.answerPings = options.answerPings ?? true;
    const onSocket = (socket: net.Socket): void => this.accept(socket);
    this.server = options.tls ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onSocket) : net.createServer(onSocket);
    // A client that fails TLS leaves a tlsClientError here; it is expected in tests.
    this.server.on('tlsClientError', () => {});
  }

  static async start(options: TestServerOptions = {}): Promise<TestServer> {
    const server = new TestServer(options);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(0, '127.0.0.1', () => resolve());
    });
    server.listeningPort = (server.server.address() as net.AddressInfo).port;
    return server;
  }

  get port(): number {
    return this.listeningPort;
  }

  url(path = '/'): string {
    return `${this.options.tls ? 'wss' : 'ws'}://127.0.0.1:${this.port}${path}`;
  }

  /** Live sockets, upgraded or not. */
  get openSockets(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.acceptedSockets++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    readHandshakeRequest(socket, (request, leftover) => {
      const parsed = { request, leftover };
      this.requests.push(parsed.request);
      this.emit('request', parsed.request);
      const mode = this.handshake;
      if (mode === 'silent') return;
      if (typeof mode === 'object' && 'raw' in mode) {
        socket.write(mode.raw(parsed.request, acceptValue(parsed.request.headers['sec-websocket-key'] ?? '')));
        return;
      }
      if (mode !== 'accept') {
        const body = Buffer.from(mode.body);
        socket.end(
          `HTTP/1.1 ${mode.status} ${mode.reason ?? 'Refused'}\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${mode.body}`,
        );
        return;
      }
      const head = createHandshakeResponse(parsed.request);
      socket.write(this.greeting ? Buffer.concat([head, this.greeting]) : head);
      const conn = new TestConnection(this, parsed.request, socket, parsed.leftover);
      this.connections.push(conn);
      this.emit('connection', conn);
    });
  }
}
