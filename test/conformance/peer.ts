// A scripted raw-TCP WebSocket server for conformance and fault tests.
//
// It plays one script per connection: reads the client's opening handshake and
// checks it, answers (101, or something deliberately broken), then writes
// exactly the bytes the script asks for, whole, chopped or together with the
// 101. Everything the client sends back is split into frames by a header
// parser of its own and decoded by our FrameDecoder in the server role, with
// extra checks the decoder does not make (fresh mask keys, minimal lengths,
// nothing after the client's close frame).

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { acceptValue } from '../../src/protocol/handshake.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { close as closeFrame, pong as pongFrame } from './wire.js';

/** Every Sec-WebSocket-Key seen in this process: a repeat is a violation (RFC 6455 4.1 item 7). */
const seenKeys = new Set<string>();

export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Lower-case names; repeats joined with ", ". */
  headers: Record<string, string>;
  raw: string;
  key: string;
}

export interface ReceivedMessage {
  binary: boolean;
  payload: Buffer;
}

export interface ClientClose {
  code: number | undefined;
  reason: string;
  payloadBytes: number;
  /** ms since the connection was accepted. */
  at: number;
}

export interface WriteOptions {
  /** Write in pieces of this many bytes, yielding to the event loop between them. */
  chop?: number;
  /** Wait this long between pieces (slow-loris). */
  delayMs?: number;
}

export interface AcceptOptions extends WriteOptions {
  /** The whole status line, e.g. `HTTP/1.1 200 OK`. */
  statusLine?: string;
  /** Sec-WebSocket-Accept to send; `null` leaves the header out. */
  accept?: string | null;
  /** Replace the default Upgrade/Connection headers (`null` leaves one out). */
  upgrade?: string | null;
  connection?: string | null;
  /** Extra header lines, sent as given (any case). */
  extraHeaders?: Array<[string, string]>;
  /** Header names as written for the three standard headers (to test case-insensitivity). */
  names?: { upgrade?: string; connection?: string; accept?: string };
  /** Frames to send in the same write as the response head. */
  trailing?: Buffer;
}

/** What the peer does when the client's close frame arrives. */
export type OnClientClose = 'echo' | 'ignore';

export class PeerConnection {
  readonly index: number;
  readonly startedAt = Date.now();
  request: RequestHead | undefined;
  readonly violations: string[] = [];
  readonly log: string[] = [];
  readonly messages: ReceivedMessage[] = [];
  readonly pongs: Buffer[] = [];
  readonly pings: Buffer[] = [];
  readonly maskKeys: Buffer[] = [];
  clientClose: ClientClose | undefined;
  /** Who ended the TCP connection first. */
  tcpEndedBy: 'client' | 'server' | undefined;
  tcpEndedAt: number | undefined;
  /** When the socket was fully closed (ms since accepted). */
  closedAt: number | undefined;
  /** Bytes the client sent before the 101 went out (after its request head). */
  earlyBytes = 0;
  serverCloseSent = false;
  accepted = false;
  onClientClose: OnClientClose = 'echo';
  /** Answer client pings automatically (off to simulate a silent network). */
  autoPong = true;
  /** Finish the TCP close when the client half-closes (off to play a server that never closes). */
  endOnClientFin = true;
  readonly closed: Promise<void>;

  private readonly socket: Socket;
  /** Frame boundaries of what we send, and our control frames waiting for one. */
  private readonly outbound = new OutboundFrames();
  private readonly pendingControl: Buffer[] = [];
  private headBuffer = Buffer.alloc(0);
  private readonly checker: ClientStreamChecker;
  private readonly waiters = new Set<() => void>();
  private resolveRequest!: () => void;
  readonly requestArrived: Promise<void>;
  private socketClosed = false;

  constructor(socket: Socket, index: number) {
    this.socket = socket;
    this.index = index;
    socket.setNoDelay(true);
    this.checker = new ClientStreamChecker(this);
    this.requestArrived = new Promise((r) => (this.resolveRequest = r));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.socketClosed = true;
        this.closedAt = this.elapsed();
        if (this.tcpEndedBy === undefined) {
          this.tcpEndedBy = 'client';
          this.tcpEndedAt = this.elapsed();
        }
        this.note('tcp closed');
        this.notify();
        resolve();
      });
    });
    socket.on('end', () => {
      if (this.tcpEndedBy === undefined) {
        this.tcpEndedBy = 'client';
        this.tcpEndedAt = this.elapsed();
      }
      this.note('client sent FIN');
      // Half-open is not a WebSocket state: finish the close.
      if (this.endOnClientFin) socket.end();
      this.notify();
    });
    socket.on('error', (error) => this.note(`socket error ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  elapsed(): number {
    return Date.now() - this.startedAt;
  }

  note(event: string): void {
    this.log.push(`${this.elapsed()}ms ${event}`);
  }

  violation(what: string): void {
    this.violations.push(what);
    this.note(`VIOLATION ${what}`);
  }

  get isClosed(): boolean {
    return this.socketClosed;
  }

  private onData(chunk: Buffer): void {
    if (this.request === undefined) {
      this.headBuffer = Buffer.concat([this.headBuffer, chunk]);
      const end = this.headBuffer.indexOf('\r\n\r\n');
      if (end === -1) {
        if (this.headBuffer.length > 64 * 1024) this.violation('request head over 64 KiB');
        return;
      }
      this.request = parseRequest(this.headBuffer.toString('latin1', 0, end), this);
      const rest = this.headBuffer.subarray(end + 4);
      this.headBuffer = Buffer.alloc(0);
      this.note('request received');
      this.resolveRequest();
      if (rest.length > 0) this.onData(rest);
      return;
    }
    if (!this.accepted) {
      // RFC 6455 4.1: the client sends no frame before the server's response is validated.
      this.earlyBytes += chunk.length;
      this.violation(`client sent ${chunk.length} bytes before the handshake response`);
      return;
    }
    this.checker.push(chunk);
    this.notify();
  }

  /** Called by the checker for each client frame event. */
  clientCloseReceived(c: ClientClose): void {
    this.clientClose = c;
    this.note(`client close ${c.code ?? 'none'} ${JSON.stringify(c.reason.slice(0, 40))}`);
    if (this.onClientClose === 'ignore') return;
    if (this.serverCloseSent) {
      // RFC 6455 7.1.1: the server closes the TCP connection first.
      this.end();
    } else if (!this.outbound.atBoundary) {
      // The script stopped inside a frame: no close frame can follow it.
      this.note('close echo skipped: the server is inside a frame');
      this.end();
    } else {
      this.serverCloseSent = true;
      const echo = c.code === undefined ? closeFrame() : closeFrame(c.code);
      this.outbound.feed(echo);
      this.socket.write(echo, () => this.end());
    }
  }

  clientPing(payload: Buffer): void {
    this.pings.push(payload);
    if (!this.autoPong || this.serverCloseSent || this.socket.destroyed) return;
    // Our pong may only go between the script's frames, never inside one.
    this.pendingControl.push(pongFrame(payload));
    this.flushControl();
  }

  private flushControl(): void {
    if (!this.outbound.atBoundary || this.socket.destroyed || this.socket.writableEnded) return;
    for (const f of this.pendingControl.splice(0)) {
      this.outbound.feed(f);
      this.socket.write(f);
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves true once `predicate` holds, false after `timeoutMs` or when TCP closes first. */
  waitFor(predicate: () => boolean, timeoutMs: number, what = 'condition'): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (predicate()) return done(true);
        if (this.socketClosed) return done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (!ok) this.note(`gave up waiting for ${what}`);
        resolve(ok);
      };
      this.waiters.add(check);
    });
  }

  waitMessages(n: number, timeoutMs = 5000): Promise<boolean> {
    return this.waitFor(() => this.messages.length >= n, timeoutMs, `${n} messages`);
  }

  waitPongs(n: number, timeoutMs = 5000): Promise<boolean> {
    return this.waitFor(() => this.pongs.length >= n, timeoutMs, `${n} pongs`);
  }

  waitClientClose(timeoutMs = 5000): Promise<boolean> {
    return this.waitFor(() => this.clientClose !== undefined, timeoutMs, 'client close frame');
  }

  waitTcpClosed(timeoutMs = 5000): Promise<boolean> {
    if (this.socketClosed) return Promise.resolve(true);
    return Promise.race([this.closed.then(() => true), sleep(timeoutMs, false, { ref: false })]);
  }

  /**
   * Writes bytes, whole or chopped, honouring backpressure. Never throws.
   * The first `headBytes` are the HTTP response, not frames.
   */
  async write(bytes: Buffer | Buffer[], options: WriteOptions = {}, headBytes = 0): Promise<void> {
    const data = Array.isArray(bytes) ? Buffer.concat(bytes) : bytes;
    const chop = options.chop ?? data.length;
    for (let at = 0; at < data.length; at += chop) {
      if (this.socket.destroyed || this.socket.writableEnded) return;
      const piece = data.subarray(at, at + chop);
      const ok = this.socket.write(piece);
      if (at + piece.length > headBytes) this.outbound.feed(piece.subarray(Math.max(0, headBytes - at)));
      this.flushControl();
      if (!ok) await this.drained();
      if (at + chop < data.length) {
        if (options.delayMs) await sleep(options.delayMs);
        else if (options.chop !== undefined) await immediate();
      }
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Builds the 101 (or a broken imitation) for the client's key. */
  responseHead(options: AcceptOptions = {}): Buffer {
    const key = this.request?.key ?? '';
    const names = options.names ?? {};
    const lines = [options.statusLine ?? 'HTTP/1.1 101 Switching Protocols'];
    const upgrade = options.upgrade === undefined ? 'websocket' : options.upgrade;
    const connection = options.connection === undefined ? 'Upgrade' : options.connection;
    const accept = options.accept === undefined ? acceptValue(key) : options.accept;
    if (upgrade !== null) lines.push(`${names.upgrade ?? 'Upgrade'}: ${upgrade}`);
    if (connection !== null) lines.push(`${names.connection ?? 'Connection'}: ${connection}`);
    if (accept !== null) lines.push(`${names.accept ?? 'Sec-WebSocket-Accept'}: ${accept}`);
    for (const [name, value] of options.extraHeaders ?? []) lines.push(`${name}: ${value}`);
    return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  }

  /** Answers the handshake; frames the client sends from now on are checked. */
  async accept(options: AcceptOptions = {}): Promise<void> {
    const head = this.responseHead(options);
    this.accepted = true;
    this.note('response sent');
    await this.write(options.trailing ? [head, options.trailing] : head, options, head.length);
  }

  /** Sends a close frame (once). */
  async sendClose(code?: number, reason?: string): Promise<void> {
    this.serverCloseSent = true;
    await this.write(closeFrame(code, reason));
  }

  /** Server-initiated closing handshake: close(code), wait for the client's close; the peer then ends TCP. */
  async finish(code = 1000, timeoutMs = 5000): Promise<void> {
    if (this.socketClosed) return;
    if (this.clientClose === undefined) await this.sendClose(code);
    if (await this.waitClientClose(timeoutMs)) await this.waitTcpClosed(timeoutMs);
    else this.end();
  }

  end(): void {
    if (this.tcpEndedBy === undefined) {
      this.tcpEndedBy = 'server';
      this.tcpEndedAt = this.elapsed();
    }
    this.socket.end();
    // A client that never closes its side must not keep the test waiting.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Drops the connection with a TCP RST. */
  reset(): void {
    if (this.tcpEndedBy === undefined) {
      this.tcpEndedBy = 'server';
      this.tcpEndedAt = this.elapsed();
    }
    this.socket.resetAndDestroy();
  }

  destroy(): void {
    if (this.tcpEndedBy === undefined) {
      this.tcpEndedBy = 'server';
      this.tcpEndedAt = this.elapsed();
    }
    this.socket.destroy();
  }
}

function parseRequest(head: string, conn: PeerConnection): RequestHead {
  const lines = head.split('\r\n');
  const [method = '', target = '', version = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      conn.violation(`malformed request header line ${JSON.stringify(line)}`);
      continue;
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const tokens = (v: string | undefined): string[] => (v ?? '').split(',').map((t) => t.trim().toLowerCase());
  // RFC 6455 4.1, the client's handshake requirements, item by item.
  if (method !== 'GET') conn.violation(`request method ${method}, not GET`);
  if (version !== 'HTTP/1.1') conn.violation(`request version ${version}, not HTTP/1.1`);
  if (!target.startsWith('/')) conn.violation(`request target ${target} is not a path`);
  if (!headers['host']) conn.violation('no Host header');
  if (!tokens(headers['upgrade']).includes('websocket')) conn.violation('no "Upgrade: websocket"');
  if (!tokens(headers['connection']).includes('upgrade')) conn.violation('Connection lacks the upgrade token');
  if (headers['sec-websocket-version'] !== '13') conn.violation(`Sec-WebSocket-Version ${headers['sec-websocket-version']}`);
  const key = headers['sec-websocket-key'] ?? '';
  const decoded = Buffer.from(key, 'base64');
  if (decoded.length !== 16 || decoded.toString('base64') !== key) conn.violation(`Sec-WebSocket-Key ${JSON.stringify(key)} is not base64 of 16 bytes`);
  if (seenKeys.has(key)) conn.violation('Sec-WebSocket-Key reused across connections');
  seenKeys.add(key);
  return { method, target, version, headers, raw: head, key };
}

/**
 * Splits the client's byte stream at frame boundaries with a header parser of
 * its own, checks what FrameDecoder does not, and feeds each piece to a
 * server-role FrameDecoder that checks the rest (masking, control frame rules,
 * fragmentation, UTF-8 of text and close reasons, close codes).
 */
class ClientStreamChecker {
  private readonly decoder = new FrameDecoder({ role: 'server', maxMessageBytes: 256 * 1024 * 1024 });
  private readonly head = Buffer.alloc(14);
  private headFilled = 0;
  private remaining = 0;
  private inPayload = false;
  private opcode = 0;
  private afterClose = false;
  private lastKey: Buffer | undefined;
  private pieces: Buffer[] = [];
  private messageBinary = false;

  constructor(private readonly conn: PeerConnection) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.afterClose) {
        this.conn.violation(`client sent ${chunk.length - pos} bytes after its close frame`);
        return;
      }
      if (this.inPayload) {
        const take = Math.min(this.remaining, chunk.length - pos);
        this.feed(chunk.subarray(pos, pos + take));
        pos += take;
        this.remaining -= take;
        if (this.remaining === 0) this.frameDone();
        continue;
      }
      this.head[this.headFilled++] = chunk[pos++]!;
      const need = this.headerSize();
      if (need !== undefined && this.headFilled === need) this.headerDone(need);
    }
  }

  private headerSize(): number | undefined {
    if (this.headFilled < 2) return undefined;
    const len7 = this.head[1]! & 0x7f;
    const masked = (this.head[1]! & 0x80) !== 0;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  private headerDone(size: number): void {
    const b0 = this.head[0]!;
    const b1 = this.head[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    let length: number;
    if (len7 === 126) {
      length = this.head.readUInt16BE(2);
      if (length < 126) this.conn.violation(`16-bit length field for ${length} bytes (RFC 6455 5.2: minimal encoding)`);
    } else if (len7 === 127) {
      length = Number(this.head.readBigUInt64BE(2));
      if (length < 0x10000) this.conn.violation(`64-bit length field for ${length} bytes (RFC 6455 5.2: minimal encoding)`);
    } else {
      length = len7;
    }
    this.opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) this.conn.violation(`client frame with RSV bits 0x${(b0 & 0x70).toString(16)}`);
    if (!masked) {
      this.conn.violation('unmasked client frame (RFC 6455 5.3)');
    } else {
      const key = Buffer.from(this.head.subarray(size - 4, size));
      if (this.lastKey?.equals(key)) this.conn.violation(`mask key ${key.toString('hex')} reused on consecutive frames`);
      this.lastKey = key;
      this.conn.maskKeys.push(key);
    }
    this.feed(Buffer.from(this.head.subarray(0, size)));
    this.headFilled = 0;
    this.remaining = length;
    this.inPayload = length > 0;
    if (length === 0) this.frameDone();
  }

  private frameDone(): void {
    this.inPayload = false;
    if (this.opcode === 0x8) this.afterClose = true;
  }

  private feed(bytes: Buffer): void {
    for (const event of this.decoder.push(bytes)) {
      switch (event.type) {
        case 'data':
          if (event.messageStart) {
            this.pieces = [];
            this.messageBinary = event.opcode === 2;
          }
          // The decoder unmasks in place into a view of our chunk: copy what we keep.
          if (event.payload.length > 0) this.pieces.push(Buffer.from(event.payload));
          if (event.messageEnd) {
            this.conn.messages.push({ binary: this.messageBinary, payload: Buffer.concat(this.pieces) });
            this.pieces = [];
          }
          break;
        case 'ping':
          this.conn.clientPing(Buffer.from(event.payload));
          break;
        case 'pong':
          this.conn.pongs.push(Buffer.from(event.payload));
          break;
        case 'close':
          this.conn.clientCloseReceived({
            code: event.code,
            reason: event.reason,
            payloadBytes: event.payload.length,
            at: this.conn.elapsed(),
          });
          break;
        case 'error':
          this.conn.violation(`client frame rejected: ${event.error.code} (${event.error.message})`);
          break;
      }
    }
  }
}

/** Follows the frame boundaries of a byte stream the peer writes (server frames, unmasked or not). */
class OutboundFrames {
  private readonly head = Buffer.alloc(14);
  private headFilled = 0;
  private remaining = 0;

  /** Whether the bytes so far end exactly at a frame boundary. */
  get atBoundary(): boolean {
    return this.headFilled === 0 && this.remaining === 0;
  }

  feed(bytes: Buffer): void {
    let pos = 0;
    while (pos < bytes.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, bytes.length - pos);
        this.remaining -= take;
        pos += take;
        continue;
      }
      this.head[this.headFilled++] = bytes[pos++]!;
      if (this.headFilled < 2) continue;
      const len7 = this.head[1]! & 0x7f;
      const size = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.head[1]! & 0x80 ? 4 : 0);
      if (this.headFilled < size) continue;
      this.remaining = len7 === 126 ? this.head.readUInt16BE(2) : len7 === 127 ? Number(this.head.readBigUInt64BE(2)) : len7;
      this.headFilled = 0;
    }
  }
}

export type ConnectionScript = (conn: PeerConnection) => Promise<void>;

/** A listening peer on 127.0.0.1 that runs `script` for each connection. */
export class Peer {
  readonly connections: PeerConnection[] = [];
  private readonly server: Server;
  private readonly scripts: Promise<void>[] = [];
  private readonly arrivals = new Set<() => void>();

  private constructor(script: ConnectionScript) {
    this.server = createServer((socket) => {
      const conn = new PeerConnection(socket, this.connections.length);
      this.connections.push(conn);
      for (const a of [...this.arrivals]) a();
      this.scripts.push(
        (async () => {
          const gotRequest = await Promise.race([conn.requestArrived.then(() => true), conn.closed.then(() => false)]);
          if (!gotRequest) return;
          try {
            await script(conn);
          } catch (error) {
            conn.violation(`peer script threw: ${(error as Error).stack ?? String(error)}`);
          }
        })(),
      );
    });
  }

  /** Listens on 127.0.0.1, on `port` (to restart a server in place) or a free one. */
  static async start(script: ConnectionScript, port = 0): Promise<Peer> {
    const peer = new Peer(script);
    await new Promise<void>((resolve, reject) => {
      peer.server.once('error', reject);
      peer.server.listen(port, '127.0.0.1', () => {
        peer.server.off('error', reject);
        resolve();
      });
    });
    return peer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Resolves with connection `index` once it has been accepted. */
  async connection(index: number, timeoutMs = 5000): Promise<PeerConnection | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.arrivals.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.arrivals.add(done);
      });
    }
    return this.connections[index];
  }

  /** Waits for every script to finish (bounded). */
  async settled(timeoutMs = 5000): Promise<void> {
    await Promise.race([Promise.all(this.scripts), sleep(timeoutMs, undefined, { ref: false })]);
  }

  /** Stops listening and destroys every connection still open. */
  async stop(): Promise<void> {
    for (const c of this.connections) if (!c.isClosed) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
