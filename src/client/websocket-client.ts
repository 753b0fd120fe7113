import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { backoffDelayMs, isRetryable, nextAttempt, type EndReason } from '../protocol/backoff.js';
import { encodeClosePayload } from '../protocol/close.js';
import { CloseCode } from '../protocol/close-codes.js';
import {
  ConnectionError,
  ErrorCode,
  HandshakeError,
  ProtocolError,
  UsageError,
  WebSocketError,
  wireCloseCodeFor,
} from '../protocol/errors.js';
import type { DecoderSink } from '../protocol/frame-decoder.js';
import { createHandshakeRequest, type HandshakeResponse } from '../protocol/handshake.js';
import { MessageAssembler } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import { isValidUtf8 } from '../protocol/utf8-validator.js';
import { FrameDecoderStream } from '../streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../streams/frame-encoder-stream.js';
import { HandshakeStream } from '../streams/handshake-stream.js';
import { PingInjector } from '../streams/ping-injector.js';
import {
  defaultServername,
  parseWebSocketUrl,
  resolveOptions,
  type ParsedUrl,
  type ResolvedOptions,
  type WebSocketClientOptions,
} from './options.js';

export type ReadyState = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/** Data `send()` accepts. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** Per-call options of `send()`. */
export interface SendOptions {
  /** Send a binary frame (true) or a text frame (false). Default: the client's `messageType`. */
  binary?: boolean;
}

interface QueuedMessage {
  payload: Buffer | string;
  opcode: number;
  bytes: number;
}

/** One connection attempt: its socket, its pipeline, its timers. Rebuilt on every (re)connect. */
interface Session {
  socket: Duplex | undefined;
  abort: AbortController;
  handshake: HandshakeStream | undefined;
  decoder: FrameDecoderStream | undefined;
  encoder: FrameEncoderStream | undefined;
  pinger: PingInjector | undefined;
  assembler: MessageAssembler;
  handshakeTimer: NodeJS.Timeout | undefined;
  closeTimer: NodeJS.Timeout | undefined;
  /** The event that says the transport is up, when it is not up already. */
  readyEvent: 'connect' | 'secureConnect' | undefined;
  connected: boolean;
  opened: boolean;
  openedAt: number | undefined;
  closeSent: boolean;
  /** The code we sent when we failed the connection. */
  failCode: number | undefined;
  closeReceived: { code: number | undefined; reason: string } | undefined;
  /** The first error of this session, reported once. */
  error: WebSocketError | undefined;
  errorReported: boolean;
  ended: boolean;
  /** Receives the decoder's events; its `paused` flag is how pause() stops reading. */
  sink: DecoderSink | undefined;
  bufferFull: boolean;
}

/**
 * A WebSocket client (RFC 6455) in the manner of Workerman's `ws` client:
 * set the callbacks, call `connect()`, `send()` away, `reconnect()` from
 * `onClose`. Every callback is also an event of the same meaning.
 *
 * Inside, each connection is a pipeline of Transform stages over the socket:
 * `socket -> HandshakeStream -> FrameDecoderStream` inbound and
 * `PingInjector -> FrameEncoderStream -> socket` outbound. Reconnecting
 * builds a new pipeline on a new socket.
 */
export class WebSocketClient extends EventEmitter {
  /** Fires when the TCP (or TLS) connection is up. */
  onConnect: ((conn: WebSocketClient) => void) | undefined;
  /** Fires when the opening handshake completed; `response` is the server's 101. */
  onWebSocketConnect: ((conn: WebSocketClient, response: HandshakeResponse) => void) | undefined;
  /** Fires for each message: text as a string, binary as a Buffer (or a list of Buffers with `fragments: 'list'`). */
  onMessage: ((conn: WebSocketClient, data: string | Buffer | Buffer[], isBinary: boolean) => void) | undefined;
  /** Fires on an error; `code` is a stable `WSP_ERR_*` string. */
  onError: ((conn: WebSocketClient, code: string, message: string, error: WebSocketError) => void) | undefined;
  /** Fires once per connection attempt when it has ended, with the close code (1006: no close frame). */
  onClose: ((conn: WebSocketClient, code: number, reason: string) => void) | undefined;
  /** Fires when buffered outgoing bytes go over `highWaterMarkBytes`. */
  onBufferFull: ((conn: WebSocketClient) => void) | undefined;
  /** Fires when they are back under it. */
  onBufferDrain: ((conn: WebSocketClient) => void) | undefined;

  readonly url: string;
  private readonly target: ParsedUrl;
  private readonly options: ResolvedOptions;
  private state: ReadyState = 'idle';
  private session: Session | undefined;
  private queue: QueuedMessage[] = [];
  private queuedBytes = 0;
  private paused = false;
  private userClosed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly listFragments: boolean;
  private lastResponse: HandshakeResponse | undefined;
  private readonly onAbort = (): void => {
    this.cancelReconnect();
    this.terminate();
  };

  constructor(url: string | URL, options: WebSocketClientOptions = {}) {
    super();
    this.target = parseWebSocketUrl(url);
    this.url = this.target.url.href;
    this.options = resolveOptions(options);
    this.listFragments = this.options.fragments === 'list';
    // Building a request now checks headers, protocols and origin at construction.
    createHandshakeRequest(this.requestOptions());
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** `'idle'` before `connect()`, then `'connecting'`, `'open'`, `'closing'`, `'closed'`. */
  get readyState(): ReadyState {
    return this.state;
  }

  /** The server's 101 response of the current (or last) connection. */
  get response(): HandshakeResponse | undefined {
    return this.lastResponse;
  }

  /** The subprotocol the server selected, or `''`. */
  get protocol(): string {
    return this.lastResponse?.protocol ?? '';
  }

  /** Bytes accepted by `send()` and not yet handed to the operating system. */
  get bufferedAmount(): number {
    const s = this.session;
    let bytes = this.queuedBytes;
    if (s?.encoder) bytes += s.encoder.bufferedBytes;
    if (s?.socket) bytes += s.socket.writableLength;
    return bytes;
  }

  /** Opens the connection. Calling it while connecting or open does nothing. */
  connect(): this {
    if (this.options.signal?.aborted) {
      throw new UsageError(ErrorCode.Aborted, 'the signal was aborted');
    }
    if (this.session !== undefined) return this;
    this.userClosed = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.startSession();
    return this;
  }

  /**
   * Sends a message. Before the handshake completes (or while reconnecting),
   * messages are queued in order up to `maxQueuedBytes` and sent once open.
   * Returns false when the outgoing buffer is above `highWaterMarkBytes`:
   * wait for `'drain'` (`onBufferDrain`) before sending more.
   * Throws a `UsageError` for data of the wrong type, text that is not UTF-8,
   * or a full queue.
   */
  send(data: SendData, options?: SendOptions): boolean {
    const binary = options?.binary ?? this.options.messageType === 'binary';
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    const payload = toPayload(data);
    if (!binary && typeof payload !== 'string' && !isValidUtf8(payload)) {
      throw new UsageError(ErrorCode.InvalidOption, 'a text message must be valid UTF-8 (RFC 6455 5.6); send it as binary');
    }
    const s = this.session;
    if (s?.opened && !s.closeSent && s.encoder) {
      return this.sendFrame(s, opcode, payload);
    }
    const waiting = this.state === 'connecting' || (this.state === 'idle' && this.session === undefined) || this.reconnectTimer !== undefined;
    if (!waiting || this.userClosed) {
      this.report(undefined, new WebSocketError(ErrorCode.SendFailed, `cannot send: the connection is ${this.state}`));
      return false;
    }
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      throw new UsageError(
        ErrorCode.QueueFull,
        `the send queue would exceed maxQueuedBytes (${this.options.maxQueuedBytes}) while the connection is not open`,
      );
    }
    // A queued Buffer is copied: the caller may reuse it before the connection opens.
    this.queue.push({ payload: typeof payload === 'string' ? payload : Buffer.from(payload), opcode, bytes });
    this.queuedBytes += bytes;
    return this.queuedBytes < this.options.highWaterMarkBytes;
  }

  /** Sends a ping with an optional payload of at most 125 bytes. */
  ping(payload: SendData = Buffer.alloc(0)): void {
    const s = this.session;
    if (!s?.opened || s.closeSent || !s.encoder) {
      throw new UsageError(ErrorCode.NotOpen, 'ping() needs an open connection');
    }
    const bytes = toPayload(payload);
    if ((typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length) > 125) {
      throw new UsageError(ErrorCode.InvalidOption, 'a ping payload is at most 125 bytes (RFC 6455 5.5)');
    }
    s.encoder.enqueue({ opcode: Opcode.Ping, payload: bytes });
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2) and stops any reconnecting.
   * The connection ends when the server answers and closes TCP, or after
   * `closeTimeoutMs`.
   */
  close(code: number = CloseCode.NormalClosure, reason = ''): void {
    const payload = encodeClosePayload(code, reason);
    this.userClosed = true;
    this.cancelReconnect();
    this.discardQueue('close() was called');
    const s = this.session;
    if (s === undefined) {
      if (this.state !== 'idle') this.state = 'closed';
      return;
    }
    if (!s.opened) {
      // Nothing to say a close frame to yet: abandon the attempt.
      this.destroySession(s);
      return;
    }
    this.state = 'closing';
    this.sendClose(s, payload);
  }

  /** Destroys the connection at once, without a closing handshake, and stops any reconnecting. */
  terminate(): void {
    this.userClosed = true;
    this.cancelReconnect();
    this.discardQueue('terminate() was called');
    if (this.session) this.destroySession(this.session);
  }

  /**
   * Reconnects after `delayMs` with a fresh handshake (and a new key); all
   * callbacks stay. Callable from `onClose` and `onError`. An open connection
   * is closed first (code 1000).
   */
  reconnect(delayMs = 0): void {
    if (this.options.signal?.aborted) return;
    clearTimeout(this.reconnectTimer);
    this.userClosed = false;
    const s = this.session;
    if (s !== undefined) {
      s.abort.signal.addEventListener('abort', () => this.scheduleReconnect(delayMs), { once: true });
      if (s.opened && !s.closeSent) {
        this.state = 'closing';
        this.sendClose(s, encodeClosePayload(CloseCode.NormalClosure));
      } else if (!s.opened) {
        this.destroySession(s);
      }
      return;
    }
    this.scheduleReconnect(delayMs);
  }

  /** Cancels a reconnect that `reconnect()` or automatic reconnection scheduled. */
  cancelReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  /**
   * Stops delivering messages and reading from the socket (the server is then
   * slowed by TCP flow control). Takes effect after the current message.
   */
  pause(): void {
    this.paused = true;
    if (this.session?.sink) this.session.sink.paused = true;
  }

  /** Resumes reading, starting with what arrived before the pause. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const s = this.session;
    if (s?.sink) {
      s.sink.paused = false;
      s.decoder?.resumeSink();
    }
  }

  // ---------------------------------------------------------------------------
  // The connection attempt.

  private requestOptions() {
    return {
      host: this.target.hostHeader,
      path: this.target.path,
      headers: this.options.headers,
      protocols: this.options.protocols,
      origin: this.options.origin,
    };
  }

  private startSession(): void {
    const s: Session = {
      socket: undefined,
      abort: new AbortController(),
      handshake: undefined,
      decoder: undefined,
      encoder: undefined,
      pinger: undefined,
      assembler: new MessageAssembler({ concat: this.options.fragments === 'concat' }),
      handshakeTimer: undefined,
      closeTimer: undefined,
      readyEvent: undefined,
      connected: false,
      opened: false,
      openedAt: undefined,
      closeSent: false,
      failCode: undefined,
      closeReceived: undefined,
      error: undefined,
      errorReported: false,
      ended: false,
      sink: undefined,
      bufferFull: false,
    };
    this.session = s;
    this.state = 'connecting';
    if (this.options.handshakeTimeoutMs > 0) {
      s.handshakeTimer = setTimeout(() => {
        this.fail(
          s,
          new ConnectionError(
            ErrorCode.HandshakeTimeout,
            `the connection and opening handshake did not finish within ${this.options.handshakeTimeoutMs} ms`,
          ),
        );
      }, this.options.handshakeTimeoutMs);
      s.handshakeTimer.unref();
    }
    let socket: Duplex | Promise<Duplex>;
    try {
      socket = this.openSocket(s);
    } catch (error) {
      queueMicrotask(() => this.connectFailed(s, error));
      return;
    }
    if (socket instanceof Promise) {
      socket.then(
        (sock) => this.attach(s, sock),
        (error) => this.connectFailed(s, error),
      );
    } else {
      this.attach(s, socket);
    }
  }

  private openSocket(s: Session): Duplex | Promise<Duplex> {
    const { host, port, secure } = this.target;
    if (this.options.createConnection) {
      return this.options.createConnection({ host, port, secure, signal: s.abort.signal });
    }
    if (secure) {
      s.readyEvent = 'secureConnect';
      return tls.connect({
        ...this.options.tls,
        host,
        port,
        servername: this.options.tls?.servername ?? defaultServername(host),
        ALPNProtocols: ['http/1.1'],
      });
    }
    s.readyEvent = 'connect';
    return net.connect({ host, port });
  }

  private connectFailed(s: Session, cause: unknown): void {
    if (s.ended) return;
    this.fail(s, toConnectionError(cause, false));
    this.finishSession(s);
  }

  private attach(s: Session, socket: Duplex): void {
    if (s.ended) {
      socket.destroy();
      return;
    }
    s.socket = socket;
    if (socket instanceof net.Socket) socket.setNoDelay(true);
    socket.on('error', (error) => this.fail(s, toConnectionError(error, s.connected)));
    socket.on('close', () => this.socketClosed(s));
    // A stream from createConnection is ready unless it is a socket still connecting.
    const readyEvent = s.readyEvent ?? ((socket as net.Socket).connecting === true ? 'connect' : undefined);
    if (readyEvent !== undefined) socket.once(readyEvent, () => this.connected(s));
    else queueMicrotask(() => this.connected(s));
  }

  /**
   * The socket closed. Frames it delivered may still be in the pipeline:
   * finish only when the decoder has handed over everything (so a close
   * frame that came just before the FIN is seen, and no message is lost).
   */
  private socketClosed(s: Session): void {
    const finish = (): void => this.finishSession(s);
    const decoder = s.decoder;
    if (decoder && s.socket?.readableEnded && !decoder.readableEnded && !decoder.destroyed) {
      decoder.once('end', finish);
      decoder.once('close', finish);
    } else {
      setImmediate(finish);
    }
  }

  private connected(s: Session): void {
    if (s.ended || s.connected) return;
    const socket = s.socket!;
    s.connected = true;
    const request = createHandshakeRequest(this.requestOptions());
    const handshake = new HandshakeStream({ key: request.key, protocols: request.protocols });
    s.sink = this.createSink(s);
    const decoder = new FrameDecoderStream({ role: 'client', maxMessageBytes: this.options.maxMessageBytes, sink: s.sink });
    const encoder = new FrameEncoderStream({ role: 'client', highWaterMarkBytes: this.options.highWaterMarkBytes });
    s.handshake = handshake;
    s.decoder = decoder;
    s.encoder = encoder;
    handshake.on('response', (response: HandshakeResponse) => this.opened(s, response));
    handshake.on('error', (error) => this.fail(s, asWebSocketError(error)));
    decoder.on('error', (error) => this.fail(s, asWebSocketError(error)));
    encoder.on('error', (error) => this.fail(s, asWebSocketError(error)));
    socket.on('drain', () => this.drained(s));
    socket.pipe(handshake).pipe(decoder);
    encoder.pipe(socket);
    this.emitEvent('connect', () => this.onConnect?.(this));
    if (s.ended) return;
    socket.write(request.bytes);
  }

  private opened(s: Session, response: HandshakeResponse): void {
    if (s.ended) return;
    clearTimeout(s.handshakeTimer);
    s.opened = true;
    s.openedAt = Date.now();
    this.lastResponse = response;
    this.state = 'open';
    if (this.options.pingIntervalMs > 0) {
      const pinger = new PingInjector({ pingIntervalMs: this.options.pingIntervalMs, pongTimeoutMs: this.options.pongTimeoutMs });
      s.pinger = pinger;
      pinger.on('error', (error) => this.fail(s, asWebSocketError(error)));
      pinger.pipe(s.encoder!, { end: false });
    }
    // Messages sent before the handshake completed go first, in order.
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const message of queue) this.sendFrame(s, message.opcode, message.payload);
    this.emitEvent('open', () => this.onWebSocketConnect?.(this, response), response);
  }

  private sendFrame(s: Session, opcode: number, payload: Buffer | string): boolean {
    const below = s.encoder!.enqueue({ opcode, payload });
    const ok = below && (s.socket?.writableLength ?? 0) < this.options.highWaterMarkBytes;
    if (!ok && !s.bufferFull) {
      s.bufferFull = true;
      this.emitEvent('bufferFull', () => this.onBufferFull?.(this));
    }
    return ok;
  }

  private drained(s: Session): void {
    if (!s.bufferFull || s.ended) return;
    if (this.bufferedAmount >= this.options.highWaterMarkBytes) return;
    s.bufferFull = false;
    this.emitEvent('drain', () => this.onBufferDrain?.(this));
  }

  /** The decoder's events, handled as they are decoded (no event objects on the fast path). */
  private createSink(s: Session): DecoderSink {
    return {
      paused: this.paused,
      data: (opcode, chunk, start, end, messageStart, messageEnd) => {
        if (s.ended) return;
        if (messageStart && messageEnd) {
          // The whole message is in one read: a string straight from the chunk, or a view of it.
          if (opcode === Opcode.Text) this.message(chunk.toString('utf8', start, end), false);
          else if (this.listFragments) this.message([chunk.subarray(start, end)], true);
          else this.message(chunk.subarray(start, end), true);
          return;
        }
        const message = s.assembler.add(opcode, chunk.subarray(start, end), messageStart, messageEnd);
        if (message === undefined) return;
        if (message.opcode === Opcode.Binary) this.message(message.data, true);
        else this.message((Array.isArray(message.data) ? Buffer.concat(message.data) : message.data).toString('utf8'), false);
      },
      control: (opcode, payload) => {
        if (s.ended) return;
        if (opcode === Opcode.Ping) {
          // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless we already sent a close.
          if (!s.closeSent) s.encoder!.enqueue({ opcode: Opcode.Pong, payload });
          this.emit('ping', payload);
        } else {
          s.pinger?.pongReceived();
          this.emit('pong', payload);
        }
      },
      close: (code, reason) => {
        if (!s.ended) this.closeReceived(s, code, reason);
      },
      error: (error) => this.fail(s, error),
    };
  }

  private message(data: string | Buffer | Buffer[], isBinary: boolean): void {
    this.onMessage?.(this, data, isBinary);
    this.emit('message', data, isBinary);
  }

  private closeReceived(s: Session, code: number | undefined, reason: string): void {
    s.closeReceived = { code, reason };
    if (this.state === 'open') this.state = 'closing';
    if (!s.closeSent) {
      // RFC 6455 5.5.1: answer a close with a close; echo the status code received.
      this.sendClose(s, code === undefined ? Buffer.alloc(0) : encodeClosePayload(code));
    }
    // Both close frames are exchanged: end our side of TCP and wait for the server's
    // FIN (RFC 6455 7.1.1: the server closes first), bounded by the close timer.
    s.encoder!.end();
  }

  /** Sends a close frame (once) and starts the close timer. */
  private sendClose(s: Session, payload: Buffer): void {
    if (s.closeSent || !s.encoder) return;
    s.closeSent = true;
    s.pinger?.unpipe();
    s.pinger?.destroy();
    s.encoder.enqueue({ opcode: Opcode.Close, payload });
    s.encoder.flushBatch();
    s.closeTimer = setTimeout(() => {
      if (!s.closeReceived) {
        this.fail(s, new ConnectionError(ErrorCode.CloseTimeout, `the server did not complete the closing handshake within ${this.options.closeTimeoutMs} ms`));
      }
      this.destroySession(s);
    }, this.options.closeTimeoutMs);
    s.closeTimer.unref();
  }

  /**
   * Fails the connection (RFC 6455 7.1.7): report the error once, send a close
   * frame with its code when the protocol allows, then close TCP.
   */
  private fail(s: Session, error: WebSocketError): void {
    if (s.ended) return;
    if (s.closeReceived && error instanceof ConnectionError && error.code !== ErrorCode.CloseTimeout) {
      // The closing handshake is done; a reset while tearing down is not worth reporting.
      this.destroySession(s);
      return;
    }
    if (s.error === undefined) {
      s.error = error;
      this.report(s, error);
    }
    const wireCode = wireCloseCodeFor(error);
    if (wireCode !== undefined && s.opened && !s.closeSent && !s.closeReceived) {
      s.failCode = wireCode;
      this.state = 'closing';
      this.sendClose(s, encodeClosePayload(wireCode));
      s.encoder!.end();
      return;
    }
    if (s.closeSent && wireCode !== undefined && s.socket) {
      // A close is already under way; its timer bounds the wait.
      return;
    }
    this.destroySession(s);
  }

  private destroySession(s: Session): void {
    if (s.ended) return;
    if (s.socket && !s.socket.destroyed) {
      s.socket.destroy();
      return; // 'close' follows and finishes the session.
    }
    this.finishSession(s);
  }

  /** The attempt is over: free everything, report the close, maybe reconnect. */
  private finishSession(s: Session): void {
    if (s.ended) return;
    s.ended = true;
    clearTimeout(s.handshakeTimer);
    clearTimeout(s.closeTimer);
    s.pinger?.destroy();
    s.handshake?.destroy();
    s.decoder?.destroy();
    s.encoder?.destroy();
    s.socket?.destroy();
    s.assembler.reset();
    if (this.session === s) this.session = undefined;
    this.state = 'closed';

    let code: number = CloseCode.AbnormalClosure;
    let reason = '';
    if (s.closeReceived) {
      code = s.closeReceived.code ?? CloseCode.NoStatusReceived;
      reason = s.closeReceived.reason;
    } else if (s.failCode !== undefined) {
      code = s.failCode;
    }
    if (!s.closeReceived && s.error === undefined && !this.userClosed) {
      // The TCP connection ended with no close frame: RFC 6455 7.1.5 reports 1006.
      const lost = new ConnectionError(
        ErrorCode.ConnectionLost,
        s.opened ? 'the connection closed without a close frame' : 'the server closed the connection during the opening handshake',
      );
      s.error = lost;
      this.report(s, lost);
    }
    const openForMs = s.openedAt === undefined ? undefined : Date.now() - s.openedAt;
    s.abort.abort();
    // Decide on automatic reconnection first, so a send() from onClose is queued
    // for it; a reconnect(), close() or terminate() in onClose overrides it.
    const planned = this.planReconnect({ error: s.error, closeCode: code }, openForMs);
    this.emitEvent('close', () => this.onClose?.(this, code, reason), code, reason);
    if (planned && this.reconnectTimer === planned.timer) {
      this.emit('reconnecting', { attempt: planned.attempt, delayMs: planned.delayMs });
    }
  }

  private planReconnect(
    reason: EndReason,
    openForMs: number | undefined,
  ): { timer: NodeJS.Timeout; attempt: number; delayMs: number } | undefined {
    if (this.session !== undefined || this.reconnectTimer !== undefined) return undefined; // the user reconnected
    const policy = this.options.reconnect;
    if (policy === undefined || this.userClosed || this.options.signal?.aborted) {
      if (this.queue.length > 0) this.discardQueue('the connection closed');
      return undefined;
    }
    const retry = policy.shouldReconnect ? policy.shouldReconnect(reason) : isRetryable(reason);
    this.attempt = nextAttempt(policy, this.attempt, openForMs);
    const delayMs = retry ? backoffDelayMs(policy, this.attempt - 1) : undefined;
    if (delayMs === undefined) {
      this.discardQueue(retry ? 'reconnecting gave up' : 'the connection ended for a reason not worth retrying');
      return undefined;
    }
    this.scheduleReconnect(delayMs);
    return { timer: this.reconnectTimer!, attempt: this.attempt, delayMs };
  }

  private scheduleReconnect(delayMs: number): void {
    clearTimeout(this.reconnectTimer);
    // Not unref()ed: the user asked for a reconnection, which should keep the process alive.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.session === undefined && !this.options.signal?.aborted) this.startSession();
    }, delayMs);
  }

  private discardQueue(why: string): void {
    if (this.queue.length === 0) return;
    const count = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    this.report(undefined, new WebSocketError(ErrorCode.SendFailed, `${count} queued message(s) were not sent: ${why}`));
  }

  /** Reports an error to `onError` and to `'error'` listeners, never as an unhandled `'error'`. */
  private report(_s: Session | undefined, error: WebSocketError): void {
    this.onError?.(this, error.code, error.message, error);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private emitEvent(name: string, callback: () => void, ...args: unknown[]): void {
    callback();
    this.emit(name, ...args);
  }
}

function toPayload(data: SendData): Buffer | string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new UsageError(ErrorCode.InvalidOption, 'send() takes a string, a Buffer, an ArrayBuffer or a typed array');
}

const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

function toConnectionError(cause: unknown, connected: boolean): WebSocketError {
  if (cause instanceof WebSocketError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = (cause as Error | undefined)?.message ?? String(cause);
  if (TLS_ERROR.test(code)) return new ConnectionError(ErrorCode.TlsFailed, `TLS failed: ${message}`, { cause });
  if (!connected) return new ConnectionError(ErrorCode.ConnectFailed, `could not connect: ${message}`, { cause });
  return new ConnectionError(ErrorCode.ConnectionLost, `connection error: ${message}`, { cause });
}

function asWebSocketError(error: unknown): WebSocketError {
  if (error instanceof WebSocketError) return error;
  if (error instanceof ProtocolError || error instanceof HandshakeError) return error;
  return new ConnectionError(ErrorCode.ConnectionLost, (error as Error).message ?? String(error), { cause: error });
}
