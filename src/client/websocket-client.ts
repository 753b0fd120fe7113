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
import { MAX_CONTROL_PAYLOAD_BYTES, Opcode } from '../protocol/opcode.js';
import { checkDuration } from '../protocol/option-checks.js';
import { PerMessageDeflateNegotiator } from '../protocol/permessage-deflate.js';
import { decodeUtf8, isValidUtf8 } from '../protocol/utf8-validator.js';
import { FrameDecoderStream } from '../streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../streams/frame-encoder-stream.js';
import { HandshakeStream } from '../streams/handshake-stream.js';
import { MessageDeflater } from '../streams/permessage-deflate-stream.js';
import { PerMessageInflateSink } from '../streams/permessage-inflate-sink.js';
import { PingInjector } from '../streams/ping-injector.js';
import { zlibLimiterFor } from '../streams/zlib-limiter.js';
import { openProxyTunnel, proxyForUrl } from './proxy.js';
import {
  defaultServername,
  parseWebSocketUrl,
  redactUrl,
  resolveOptions,
  urlAuthorization,
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
  /**
   * With permessage-deflate negotiated: compress (true) or not (false)
   * whatever the size. Default: compress from `thresholdBytes` up.
   */
  compress?: boolean;
}

interface QueuedMessage {
  payload: Buffer | string;
  opcode: number;
  bytes: number;
  compress: boolean | undefined;
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
  /** Being torn down: events still in the pipeline are dropped. */
  discarding: boolean;
  /** Where the server redirected this attempt, when it is followed. */
  redirectTo: ParsedUrl | undefined;
  /** Receives the decoder's events; its `paused` flag is how pause() stops reading. */
  sink: DecoderSink | undefined;
  bufferFull: boolean;
  /** permessage-deflate (RFC 7692), when offered: the offer, then both halves once accepted. */
  negotiator: PerMessageDeflateNegotiator | undefined;
  inflateSink: PerMessageInflateSink | undefined;
  deflater: MessageDeflater | undefined;
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

  /** The URL given (without credentials); after a redirect the current one is `currentUrl`. */
  readonly url: string;
  private readonly initialTarget: ParsedUrl;
  /** Where the current attempt goes: the URL given, or where a redirect sent it. */
  private target: ParsedUrl;
  private redirects = 0;
  /** Set once a redirect leaves the original host: Authorization and Cookie are no longer sent. */
  private crossedHosts = false;
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
    this.initialTarget = parseWebSocketUrl(url);
    this.target = this.initialTarget;
    this.url = redactUrl(this.target.url);
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
    if (s?.deflater) bytes += s.deflater.pendingBytes;
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
      return this.sendFrame(s, opcode, payload, options?.compress);
    }
    const waiting = this.state === 'connecting' || (this.state === 'idle' && this.session === undefined) || this.reconnectTimer !== undefined;
    if (!waiting || this.userClosed) {
      this.report(new WebSocketError(ErrorCode.SendFailed, `cannot send: the connection is ${this.state}`));
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
    this.queue.push({ payload: typeof payload === 'string' ? payload : Buffer.from(payload), opcode, bytes, compress: options?.compress });
    this.queuedBytes += bytes;
    return this.queuedBytes < this.options.highWaterMarkBytes;
  }

  /** Sends a ping with an optional payload of at most 125 bytes (`MAX_CONTROL_PAYLOAD_BYTES`). */
  ping(payload: SendData = Buffer.alloc(0)): void {
    const s = this.session;
    if (!s?.opened || s.closeSent || !s.encoder) {
      throw new UsageError(ErrorCode.NotOpen, 'ping() needs an open connection');
    }
    const bytes = toPayload(payload);
    if ((typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length) > MAX_CONTROL_PAYLOAD_BYTES) {
      throw new UsageError(ErrorCode.InvalidOption, `a ping payload is at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes (RFC 6455 5.5)`);
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
    checkDuration('reconnect(delayMs)', delayMs, 0);
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

  /** The URL of the current attempt (differs from `url` after a redirect), without credentials. */
  get currentUrl(): string {
    return redactUrl(this.target.url);
  }

  private requestOptions() {
    const headers: Record<string, string | string[]> = { ...this.options.headers };
    const names = Object.keys(headers);
    const has = (name: string): boolean => names.some((n) => n.toLowerCase() === name);
    const authorization = urlAuthorization(this.target.url);
    if (authorization !== undefined && !has('authorization')) headers['Authorization'] = authorization;
    if (this.crossedHosts) {
      // Credentials were meant for the first host, not for wherever a redirect points.
      for (const name of Object.keys(headers)) {
        const lower = name.toLowerCase();
        if (lower === 'authorization' || lower === 'cookie') delete headers[name];
      }
    }
    return {
      host: this.target.hostHeader,
      path: this.target.path,
      headers,
      protocols: this.options.protocols,
      origin: this.options.origin,
    };
  }

  private startSession(redirected = false): void {
    if (!redirected) {
      this.target = this.initialTarget;
      this.redirects = 0;
      this.crossedHosts = false;
    }
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
      redirectTo: undefined,
      discarding: false,
      bufferFull: false,
      negotiator: undefined,
      inflateSink: undefined,
      deflater: undefined,
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
    const { host, port, secure, socketPath } = this.target;
    const tlsOptions = (): tls.ConnectionOptions => ({
      ...this.options.tls,
      servername: this.options.tls?.servername ?? defaultServername(host),
      ALPNProtocols: ['http/1.1'],
    });
    if (this.options.createConnection) {
      return this.options.createConnection({ host, port, secure, socketPath, signal: s.abort.signal });
    }
    if (socketPath !== undefined) {
      s.readyEvent = secure ? 'secureConnect' : 'connect';
      return secure ? tls.connect({ ...tlsOptions(), path: socketPath }) : net.connect({ path: socketPath });
    }
    const proxy = this.options.proxy ?? (this.options.proxyFromEnv ? proxyForUrl(this.target.url) : undefined);
    if (proxy !== undefined) {
      const timeoutMs = this.options.handshakeTimeoutMs > 0 ? this.options.handshakeTimeoutMs : undefined;
      return openProxyTunnel({ proxy, host, port, signal: s.abort.signal, timeoutMs }).then((tunnel) => {
        if (!secure) return tunnel;
        // TLS to the target inside the tunnel: SNI and the certificate check are the target's, not the proxy's.
        s.readyEvent = 'secureConnect';
        return tls.connect({ ...tlsOptions(), socket: tunnel });
      });
    }
    if (secure) {
      s.readyEvent = 'secureConnect';
      return tls.connect({ ...tlsOptions(), host, port });
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
    const pmd = this.options.perMessageDeflate;
    s.negotiator = pmd ? new PerMessageDeflateNegotiator(pmd) : undefined;
    const request = createHandshakeRequest({ ...this.requestOptions(), extensions: s.negotiator?.offer() });
    const handshake = new HandshakeStream({
      key: request.key,
      protocols: request.protocols,
      extensions: s.negotiator ? [s.negotiator] : [],
    });
    s.sink = this.createSink(s);
    let sink: DecoderSink = s.sink;
    if (pmd) {
      // Compressed messages are inflated in front of the sink; pause() and resume() still use s.sink.
      s.inflateSink = new PerMessageInflateSink(s.sink, {
        maxMessageBytes: this.options.maxMessageBytes,
        limiter: zlibLimiterFor(pmd),
        resume: () => s.decoder?.resumeSink(),
      });
      sink = s.inflateSink;
    }
    const decoder = new FrameDecoderStream({
      role: 'client',
      maxMessageBytes: this.options.maxMessageBytes,
      perMessageCompression: pmd !== undefined,
      sinkValidatesWholeText: true,
      sink,
    });
    const encoder = new FrameEncoderStream({ role: 'client', highWaterMarkBytes: this.options.highWaterMarkBytes });
    s.handshake = handshake;
    s.decoder = decoder;
    s.encoder = encoder;
    handshake.on('response', (response: HandshakeResponse) => this.opened(s, response));
    handshake.on('error', (error) => this.handshakeFailed(s, error));
    decoder.on('error', (error) => this.fail(s, asWebSocketError(error)));
    encoder.on('error', (error) => this.fail(s, asWebSocketError(error)));
    socket.on('drain', () => this.drained(s));
    socket.pipe(handshake).pipe(decoder);
    encoder.pipe(socket);
    this.emitEvent('connect', () => this.onConnect?.(this));
    if (s.ended) return;
    socket.write(request.bytes);
  }

  /** A refused handshake: follow a redirect when allowed, else fail. */
  private handshakeFailed(s: Session, error: unknown): void {
    const status = error instanceof HandshakeError ? error.status : undefined;
    const location = error instanceof HandshakeError ? error.headers?.['location'] : undefined;
    if (!this.options.followRedirects || status === undefined || !REDIRECT_STATUSES.has(status) || location === undefined) {
      return this.fail(s, asWebSocketError(error));
    }
    const refuse = (why: string, cause?: unknown): void =>
      this.fail(s, new HandshakeError(ErrorCode.HandshakeRedirect, why, { status, headers: (error as HandshakeError).headers, cause }));
    if (this.redirects >= this.options.maxRedirects) return refuse(`more than ${this.options.maxRedirects} redirects`);
    let next: ParsedUrl;
    try {
      next = parseWebSocketUrl(new URL(location, this.target.url));
    } catch (cause) {
      return refuse(`the server redirected to an invalid or unsupported location (${status})`, cause);
    }
    if (this.target.secure && !next.secure) return refuse('refusing a redirect from wss: to ws: (it would drop TLS)');
    s.redirectTo = next;
    this.destroySession(s);
  }

  private opened(s: Session, response: HandshakeResponse): void {
    if (s.ended) return;
    clearTimeout(s.handshakeTimer);
    s.opened = true;
    s.openedAt = Date.now();
    this.lastResponse = response;
    this.state = 'open';
    const negotiated = s.negotiator?.negotiated;
    // Declined (undefined): the decoder then refuses RSV1 with 1002 (it alone checks RSV1).
    s.decoder?.setCompression(negotiated !== undefined);
    s.inflateSink?.negotiate(negotiated);
    if (negotiated) {
      const pmd = this.options.perMessageDeflate!;
      s.deflater = new MessageDeflater({
        negotiated,
        thresholdBytes: pmd.thresholdBytes,
        level: pmd.level,
        memLevel: pmd.memLevel,
        limiter: zlibLimiterFor(pmd),
        // send() lets the caller reuse its buffer at once; compression is asynchronous.
        copyPayloads: true,
      });
    }
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
    for (const message of queue) this.sendFrame(s, message.opcode, message.payload, message.compress);
    this.emitEvent('open', () => this.onWebSocketConnect?.(this, response), response);
  }

  private sendFrame(s: Session, opcode: number, payload: Buffer | string, compress?: boolean): boolean {
    let below: boolean;
    if (s.deflater) {
      // In order: a message still in zlib holds back those sent after it.
      s.deflater.frame({ opcode, payload, compress }, (error, frame) => {
        if (s.ended) return;
        if (error) return this.fail(s, new WebSocketError(ErrorCode.SendFailed, `compression failed: ${error.message}`, { cause: error }));
        s.encoder!.enqueue(frame);
        // The bytes may have left zlib without the socket ever filling up: no 'drain' would follow.
        if (s.bufferFull) queueMicrotask(() => this.drained(s));
      });
      below = s.deflater.pendingBytes + s.encoder!.bufferedBytes < this.options.highWaterMarkBytes;
    } else {
      below = s.encoder!.enqueue({ opcode, payload });
    }
    const ok = below && (s.socket?.writableLength ?? 0) < this.options.highWaterMarkBytes;
    if (!ok && !s.bufferFull) {
      s.bufferFull = true;
      this.emitEvent('bufferFull', () => this.onBufferFull?.(this));
      this.drained(s); // the socket may take it all without ever pushing back: no 'drain' would come
    }
    return ok;
  }

  /** Emits 'drain' once the buffered bytes are back under the mark; the socket's 'drain' calls it again. */
  private drained(s: Session): void {
    if (!s.bufferFull || s.ended) return;
    if (this.bufferedAmount >= this.options.highWaterMarkBytes) {
      const socket = s.socket;
      if (!socket || socket.destroyed || socket.writableEnded || socket.writableNeedDrain) return; // its 'drain' comes
      if (socket.writableLength > 0) {
        // A socket that takes the rest at once emits no further 'drain': an empty write's
        // callback says when what the socket holds now is written, then look again.
        socket.write(Buffer.alloc(0), () => this.drained(s));
      } else if ((s.deflater?.pendingBytes ?? 0) === 0) {
        // The bytes wait in the encoder's batch, flushed at the end of this turn.
        setImmediate(() => this.drained(s));
      }
      // Otherwise they are in zlib, whose callback looks again.
      return;
    }
    s.bufferFull = false;
    this.emitEvent('drain', () => this.onBufferDrain?.(this));
  }

  /** The decoder's events, handled as they are decoded (no event objects on the fast path). */
  private createSink(s: Session): DecoderSink {
    return {
      paused: this.paused,
      data: (opcode, chunk, start, end, messageStart, messageEnd) => {
        if (s.ended || s.discarding) return;
        if (messageStart && messageEnd) {
          // The whole message is in one read: a string straight from the chunk, or a view of it.
          if (opcode === Opcode.Text) {
            // The decoder left the UTF-8 check to us (sinkValidatesWholeText): decode strictly.
            let text: string;
            try {
              text = decodeUtf8(chunk, start, end);
            } catch (error) {
              return this.fail(s, error as ProtocolError);
            }
            this.message(text, false);
          }
          else if (this.listFragments) this.message([chunk.subarray(start, end)], true);
          else this.message(chunk.subarray(start, end), true);
          return;
        }
        const remaining = messageStart ? s.decoder?.decoder.messageRemainingBytes : undefined;
        const message = s.assembler.add(opcode, chunk.subarray(start, end), messageStart, messageEnd, remaining);
        if (message === undefined) return;
        if (message.opcode === Opcode.Binary) this.message(message.data, true);
        else this.message((Array.isArray(message.data) ? Buffer.concat(message.data) : message.data).toString('utf8'), false);
      },
      control: (opcode, payload) => {
        if (s.ended || s.discarding) return;
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
        if (!s.ended && !s.discarding) this.closeReceived(s, code, reason);
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
    this.endOutbound(s);
  }

  /** Ends the outgoing side once every frame given so far (some may be in zlib) is encoded. */
  private endOutbound(s: Session): void {
    if (!s.deflater) return void s.encoder!.end();
    s.deflater.flush(() => {
      if (!s.ended) s.encoder!.end();
    });
  }

  /** Sends a close frame (once) and starts the close timer. */
  private sendClose(s: Session, payload: Buffer): void {
    if (s.closeSent || !s.encoder) return;
    s.closeSent = true;
    s.pinger?.unpipe();
    s.pinger?.destroy();
    const encoder = s.encoder;
    if (s.deflater) {
      // Behind any message still being compressed: what was sent before close() goes first.
      s.deflater.frame({ opcode: Opcode.Close, payload }, (error, frame) => {
        if (s.ended || error) return;
        encoder.enqueue(frame);
        encoder.flushBatch();
      });
    } else {
      encoder.enqueue({ opcode: Opcode.Close, payload });
      encoder.flushBatch();
    }
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
    // A failed connection delivers nothing more (RFC 6455 7.1.7), whoever found the fault.
    s.discarding = true;
    if (s.error === undefined) {
      s.error = error;
      this.report(error);
    }
    const wireCode = wireCloseCodeFor(error);
    if (wireCode !== undefined && s.opened && !s.closeSent && !s.closeReceived) {
      s.failCode = wireCode;
      this.state = 'closing';
      this.sendClose(s, encodeClosePayload(wireCode));
      this.endOutbound(s);
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
    // Nothing more is delivered, even what is left of the current read.
    s.discarding = true;
    if (s.sink) s.sink.paused = true;
    if (this.session === s && this.state === 'open') this.state = 'closing';
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
    s.inflateSink?.destroy();
    s.deflater?.close();
    s.encoder?.destroy();
    s.socket?.destroy();
    s.assembler.reset();
    if (this.session === s) this.session = undefined;
    if (s.redirectTo && !this.userClosed) {
      // Not an ending: the same connection attempt goes on at the new location.
      const from = this.target;
      this.redirects++;
      if (s.redirectTo.url.host !== from.url.host) this.crossedHosts = true;
      this.target = s.redirectTo;
      s.abort.abort();
      this.emit('redirect', { from: redactUrl(from.url), to: redactUrl(s.redirectTo.url) });
      if (this.session === undefined) this.startSession(true);
      return;
    }
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
      this.report(lost);
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
    this.report(new WebSocketError(ErrorCode.SendFailed, `${count} queued message(s) were not sent: ${why}`));
  }

  /** Reports an error to `onError` and to `'error'` listeners, never as an unhandled `'error'`. */
  private report(error: WebSocketError): void {
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

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

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
  return new ConnectionError(ErrorCode.ConnectionLost, (error as Error).message ?? String(error), { cause: error });
}
