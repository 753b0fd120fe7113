import * as net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { encodeClosePayload } from '../protocol/close.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ConnectionError, ErrorCode, ProtocolError, WebSocketError, wireCloseCodeFor } from '../protocol/errors.js';
import { FrameDecoder, type DecoderSink } from '../protocol/frame-decoder.js';
import { createHandshakeRequest, type HandshakeRequestOptions, type HandshakeResponse } from '../protocol/handshake.js';
import { MessageAssembler } from '../protocol/message-assembler.js';
import type { FrameSpec } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/opcode.js';
import { PerMessageDeflateNegotiator } from '../protocol/permessage-deflate.js';
import { decodeUtf8 } from '../protocol/utf8-validator.js';
import { FrameWriter } from '../streams/frame-writer.js';
import { HandshakeReader } from '../streams/handshake-stream.js';
import { MessageDeflater } from '../streams/permessage-deflate-stream.js';
import { PerMessageInflateSink } from '../streams/permessage-inflate-sink.js';
import { PingInjector } from '../streams/ping-injector.js';
import { zlibLimiterFor } from '../streams/zlib-limiter.js';
import { transition, type LifecycleAction, type LifecycleEvent, type Phase } from './lifecycle.js';
import type { ParsedUrl, ResolvedOptions } from './options.js';
import { proxyForUrl } from './proxy.js';
import { decideRedirect } from './redirect.js';
import { cancelTransport, connectTransport, openTransport, toConnectionError, type TransportSink } from './transport.js';
import { MessageStreamer } from './message-streamer.js';
import {
  attachReadSink,
  DIRECT_READ_MIN_BYTES,
  GATHER_READ_MIN_BYTES,
  headerReadBuffer,
  LARGE_MESSAGE_BYTES,
  READ_SINK,
  SOCKET_READ,
  type ReadSink,
} from './socket-reader.js';

/** How an attempt ended, for the client's close report and its reconnect decision. */
export interface AttemptEnd {
  /** The close code reported: the server's (1005 when its frame had none), the one we failed with, or 1006. */
  code: number;
  reason: string;
  /** The one error reported for this attempt, if any. */
  error: WebSocketError | undefined;
  /** How long it was open, when it opened. */
  openForMs: number | undefined;
  /** Set when the attempt ended to follow a redirect there. */
  redirectTo: ParsedUrl | undefined;
}

/** What an attempt tells the client. */
export interface AttemptHost {
  attemptConnected(): void;
  /** The 101 arrived: send the queued messages and report the open. */
  attemptOpened(attempt: Attempt, response: HandshakeResponse): void;
  attemptMessage(data: string | Buffer | Buffer[], isBinary: boolean): void;
  /** With `fragments: 'stream'`: a binary message, as a Readable of its pieces, at its first piece. */
  attemptMessageStream(stream: Readable): void;
  attemptControl(event: 'ping' | 'pong', payload: Buffer): void;
  attemptError(error: WebSocketError): void;
  attemptBuffer(event: 'bufferFull' | 'drain'): void;
  /** Called once, last. */
  attemptEnded(attempt: Attempt, end: AttemptEnd): void;
}

/**
 * One connection attempt: its transport, its pipeline, its timers, and its
 * place in the lifecycle (`lifecycle.ts`). Built on every connect, reconnect
 * and redirect; ends in exactly one `attemptEnded()`.
 *
 * Inbound: the socket's reads go to a `HandshakeReader` until the 101, then
 * to a `FrameDecoder` whose events come to this object as its `DecoderSink`.
 * Outbound: a `FrameWriter` (a `FrameEncoder` that batches into socket
 * writes), pings from a `PingInjector` when enabled.
 * The open connection drives the Sans-I/O core itself: no Transform stage
 * is kept alive per idle connection (issue 12, idle memory); the stream
 * stages (`FrameDecoderStream`, `FrameEncoderStream`) remain for users who
 * compose their own pipelines.
 */
export class Attempt implements DecoderSink, ReadSink, TransportSink {
  /** Where the attempt is; changed only by `dispatch()`. */
  phase: Phase = 'connecting';
  /** The decoder's pause flag (DecoderSink), a plain field on the hot path: the client's pause(), or a streamed message's reader that is behind. */
  paused: boolean;
  /** Five booleans as bits (see the accessors below and `Flag`): one field, not five. */
  private flags = 0;
  /** With `fragments: 'stream'`: binary messages as Readables; a reader that falls behind pauses the decoder. */
  private readonly streamer: MessageStreamer | undefined;
  socket: Duplex | undefined;
  /**
   * Cancels the transport while it opens: the socket being opened (plain TCP,
   * TLS, unix: `cancelTransport()`), or, through a proxy or `createConnection`,
   * the controller of `openTransport`'s signal. Let go once it is up unless a
   * `createConnection` holds its signal.
   */
  private opener: AbortController | Duplex | undefined;
  /** Reads the server's answer; let go at the 101. */
  private handshake: HandshakeReader | undefined;
  /** What only the opening handshake needs; let go at the 101. */
  private opening: Opening | undefined;
  private decoder: FrameDecoder | undefined;
  /** A read the sink paused in the middle of; `source` is paused meanwhile. */
  private held: { chunk: Buffer; offset: number } | undefined;
  private encoder: FrameWriter | undefined;
  private pinger: PingInjector | undefined;
  private inflateSink: PerMessageInflateSink | undefined;
  private deflater: MessageDeflater | undefined;
  /** Made by the first message that spans pieces (most connections never see one). */
  private assembler: MessageAssembler | undefined;
  /** How the attempt is ending: made by the first error, close frame or close timer (see the accessors below). */
  private ending: Ending | undefined;
  /** When the 101 arrived, in ms on `clockMs()` (a small integer, kept without a heap number). */
  private openedAt: number | undefined;
  /** The read being decoded is in the shared read buffer (socket-reader.ts): what is kept of it is copied. */
  private sharedRead = false;
  /** The last message was large: the next may be too, so its header is read alone (see nextRead()). */
  private lastMessageLarge = false;

  constructor(
    private readonly host: AttemptHost,
    private readonly options: ResolvedOptions,
    target: ParsedUrl,
    requestOptions: HandshakeRequestOptions,
    redirectsSoFar: number,
    paused: boolean,
  ) {
    this.opening = new Opening(target, requestOptions, redirectsSoFar);
    this.userPaused = paused;
    this.paused = paused;
    this.streamer =
      options.fragments === 'stream'
        ? new MessageStreamer(
            (stream) => this.host.attemptMessageStream(stream),
            (full) => {
              this.paused = full || this.userPaused;
              if (!this.paused) this.resumeReading();
            },
          )
        : undefined;
  }

  /** The client's pause() alone. */
  private get userPaused(): boolean {
    return (this.flags & Flag.UserPaused) !== 0;
  }
  private set userPaused(on: boolean) {
    this.setFlag(Flag.UserPaused, on);
  }

  /** Nothing more will be decoded: a close frame or fault, the end of the input, or destroy(). */
  private get inboundDone(): boolean {
    return (this.flags & Flag.InboundDone) !== 0;
  }
  private set inboundDone(on: boolean) {
    this.setFlag(Flag.InboundDone, on);
  }

  /** The socket closed while decoded bytes were still to be delivered: report it when they are. */
  private get closeWaiting(): boolean {
    return (this.flags & Flag.CloseWaiting) !== 0;
  }
  private set closeWaiting(on: boolean) {
    this.setFlag(Flag.CloseWaiting, on);
  }

  private get closeSent(): boolean {
    return (this.flags & Flag.CloseSent) !== 0;
  }
  private set closeSent(on: boolean) {
    this.setFlag(Flag.CloseSent, on);
  }

  /** 'bufferFull' was reported and 'drain' not yet. */
  private get bufferFull(): boolean {
    return (this.flags & Flag.BufferFull) !== 0;
  }
  private set bufferFull(on: boolean) {
    this.setFlag(Flag.BufferFull, on);
  }

  private setFlag(flag: Flag, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  private get closeTimer(): NodeJS.Timeout | undefined {
    return this.ending?.closeTimer;
  }
  private set closeTimer(timer: NodeJS.Timeout | undefined) {
    (this.ending ??= new Ending()).closeTimer = timer;
  }

  /** The one error reported for this attempt. */
  private get reported(): WebSocketError | undefined {
    return this.ending?.reported;
  }
  private set reported(error: WebSocketError | undefined) {
    (this.ending ??= new Ending()).reported = error;
  }

  private get closeReceivedFrame(): { code: number | undefined; reason: string } | undefined {
    return this.ending?.closeReceivedFrame;
  }
  private set closeReceivedFrame(frame: { code: number | undefined; reason: string } | undefined) {
    (this.ending ??= new Ending()).closeReceivedFrame = frame;
  }

  /** The code of the close frame we failed the connection with. */
  private get failCode(): number | undefined {
    return this.ending?.failCode;
  }
  private set failCode(code: number | undefined) {
    (this.ending ??= new Ending()).failCode = code;
  }

  /** What the decoder hands its events to: this, or the inflating sink in front of it. */
  private get sink(): DecoderSink {
    return this.inflateSink ?? this;
  }

  /** What feeds the decoder: the socket. */
  private get source(): Readable | undefined {
    return this.socket;
  }

  /** The client's pause() and resume(); a streamed message's reader may still hold reading back. */
  setPaused(paused: boolean): void {
    this.userPaused = paused;
    this.paused = paused || (this.streamer?.full ?? false);
  }

  /** Opens the transport; the handshake timer covers the connect too. */
  start(): void {
    const timeoutMs = this.options.handshakeTimeoutMs;
    const opening = this.opening!;
    if (timeoutMs > 0) {
      // A shared function and this attempt as its argument: no closure per handshake.
      opening.timer = setTimeout(handshakeTimedOut, timeoutMs, this);
      opening.timer.unref();
    }
    const { host, port, secure, socketPath } = opening.target;
    const options = this.options;
    const proxy = options.proxy ?? (options.proxyFromEnv ? proxyForUrl(opening.target.url) : undefined);
    // Reads into memory we choose (plain TCP and unix sockets), unless the user gets views of the reads as they come.
    const onread = options.fragments === 'concat' ? SOCKET_READ : undefined;
    if (proxy === undefined && options.createConnection === undefined) {
      // The common path reports to this object's TransportSink methods: no AbortController,
      // promise or closures per handshake (their garbage stays resident: issue 12).
      this.opener = connectTransport({ host, port, secure, socketPath, tls: options.tls, onread }, this);
      return;
    }
    const abort = new AbortController();
    this.opener = abort;
    openTransport({
      host,
      port,
      secure,
      socketPath,
      tls: options.tls,
      proxy,
      proxyTimeoutMs: timeoutMs > 0 ? timeoutMs : undefined,
      createConnection: options.createConnection,
      onread,
      signal: abort.signal,
      onTlsStart: () => this.transportTcpConnected(),
    }).then(
      (socket) => this.transportReady(socket),
      (error: unknown) => this.transportFailed(toConnectionError(error)),
    );
  }

  /** The handshake timer fired (see `handshakeTimedOut`). */
  handshakeTimedOut(): void {
    const timeoutMs = this.options.handshakeTimeoutMs;
    this.fail(new ConnectionError(ErrorCode.HandshakeTimeout, `the connection and opening handshake did not finish within ${timeoutMs} ms`));
  }

  /** TCP is up and TLS starts (TransportSink). */
  transportTcpConnected(): void {
    this.dispatch('tcp-connected');
  }

  /** The transport could not be opened (TransportSink). */
  transportFailed(error: WebSocketError): void {
    this.fail(error);
  }

  /** Cancels the transport being opened, if any. */
  private cancelOpening(): void {
    const opener = this.opener;
    if (opener instanceof AbortController) return opener.abort();
    this.opener = undefined;
    if (opener !== undefined) cancelTransport(opener);
  }

  /** Whether the handshake completed. */
  get everOpened(): boolean {
    return this.openedAt !== undefined;
  }

  /** Bytes accepted and not yet handed to the operating system. */
  get bufferedAmount(): number {
    return (this.deflater?.pendingBytes ?? 0) + (this.encoder?.pendingBytes ?? 0) + (this.socket?.writableLength ?? 0);
  }

  /** The closing handshake (or, before open, once the handshake completes). */
  requestClose(payload: Buffer): void {
    this.dispatch('close-called', undefined, payload);
  }

  terminate(): void {
    this.dispatch('terminate');
  }

  /** Lets the decoder go on after `paused` was cleared. */
  resumeReading(): void {
    const held = this.held;
    if (held === undefined || this.inboundDone) return;
    this.held = undefined;
    this.feed(held.chunk, held.offset);
    if (this.held !== undefined || this.inboundDone) return;
    if (this.source?.readableEnded) this.inboundEnded();
    else this.source?.resume();
  }

  /** One read of the source into the decoder; stops (and pauses the source) where the sink paused. */
  private feed(chunk: Buffer, offset: number): void {
    const decoder = this.decoder!;
    const stopped = decoder.decode(chunk, this.sink, offset);
    if (this.inboundDone) return; // the sink destroyed the connection
    if (decoder.finished) return this.inboundEnded();
    if (stopped < chunk.length) {
      // A remainder of the shared read buffer would be overwritten by the next read of any socket.
      this.held = this.sharedRead ? { chunk: Buffer.from(chunk.subarray(stopped)), offset: 0 } : { chunk, offset: stopped };
      this.source?.pause();
    }
  }

  /** A read of `source` (see `onInbound`): the handshake's answer, then frames. */
  inbound(chunk: Buffer): void {
    const handshake = this.handshake;
    if (handshake !== undefined) {
      let rest: Buffer | undefined;
      try {
        rest = handshake.push(chunk);
      } catch (error) {
        return this.handshakeFailed(error);
      }
      if (rest === undefined) return;
      this.handshake = undefined;
      // Once open, the socket's end needs no listener of ours: a paused socket holds its end
      // back until it is resumed, so a close never overtakes a held read (see socketClose()).
      this.source?.off('end', onSourceEnd);
      this.dispatchResponse(handshake.response!);
      // The frames that came in the same read as the 101 (once open: see the sink's checks).
      if (rest.length === 0) return;
      chunk = rest;
    }
    if (!this.inboundDone) this.feed(chunk, 0);
  }

  /** A read of a socket opened with `SOCKET_READ` (ReadSink): as `inbound()`, copying what outlives it from the shared buffer. */
  socketRead(bytes: Buffer, shared: boolean): void {
    // Read into a fragmented message's buffer: its next pieces are moved down over what is read now.
    if (!shared && this.assembler?.gathersInto(bytes)) shared = true;
    // The head parser keeps a partial head; compressed pieces wait for zlib: both get their own copy.
    // (The negotiator goes with the handshake state at open; a deflater is made when compression was negotiated.)
    if (shared && (this.handshake !== undefined || this.deflater !== undefined)) {
      bytes = Buffer.from(bytes);
      shared = false;
    }
    this.sharedRead = shared;
    try {
      this.inbound(bytes);
    } finally {
      this.sharedRead = false;
    }
  }

  /** Where the next read of the socket goes (ReadSink): undefined for the shared read buffer. */
  nextRead(): Uint8Array | undefined {
    const decoder = this.decoder;
    const afterLarge = this.lastMessageLarge;
    this.lastMessageLarge = false;
    if (this.held !== undefined || this.inboundDone || this.handshake !== undefined || decoder === undefined) return undefined;
    const assembler = this.assembler;
    if (assembler !== undefined) {
      // The rest of a large payload, straight into its message's buffer.
      const rest = decoder.finalPayloadRemainingBytes;
      const into = rest > 0 ? assembler.unfilled(DIRECT_READ_MIN_BYTES) : undefined;
      if (into !== undefined && into.length === rest) return into;
      // A fragmented message: on into the buffer it is gathered in.
      if (decoder.inMessage) {
        const gather = assembler.gatherInto(GATHER_READ_MIN_BYTES);
        if (gather !== undefined) return gather;
      }
    }
    // Another large message may follow: read its header alone, then its payload straight into its buffer.
    return afterLarge ? headerReadBuffer() : undefined;
  }

  /** `source` ended during the opening handshake (see `onSourceEnd`): a refusal is reported now, no answer at all is a lost connection. */
  sourceEnd(): void {
    try {
      this.handshake?.end();
    } catch (error) {
      this.handshakeFailed(error);
    }
  }

  /** Nothing more comes in; a socket close that waited for this is reported now. */
  private inboundEnded(): void {
    if (this.inboundDone) return;
    this.inboundDone = true;
    this.held = undefined;
    // A paused SOCKET_READ socket reads nothing, not even its end: let it read on (what comes is dropped) so it can close.
    if (this.source !== undefined && !this.source.destroyed) this.source.resume();
    if (this.closeWaiting) {
      this.closeWaiting = false;
      process.nextTick(socketDone, this);
    }
  }

  ping(payload: Buffer | string): boolean {
    if (this.phase !== 'open') return false;
    this.encoder!.enqueue({ opcode: Opcode.Ping, payload });
    return true;
  }

  /** Sends a data frame on an open connection; false when over `highWaterMarkBytes`. */
  sendFrame(opcode: number, payload: Buffer | string, compress?: boolean): boolean {
    const encoder = this.encoder!;
    const mark = this.options.highWaterMarkBytes;
    let below: boolean;
    if (this.deflater) {
      // In order: a message still in zlib holds back those sent after it.
      this.deflater.frame({ opcode, payload, compress }, (error, frame) => {
        if (this.phase === 'closed') return;
        if (error) return this.fail(new WebSocketError(ErrorCode.SendFailed, `compression failed: ${error.message}`, { cause: error }));
        encoder.enqueue(frame);
        // The bytes may have left zlib without the socket ever filling up: no 'drain' would follow.
        if (this.bufferFull) queueMicrotask(() => this.drained());
      });
      below = this.deflater.pendingBytes + encoder.pendingBytes < mark;
    } else {
      encoder.enqueueMessage(opcode, payload);
      below = encoder.pendingBytes < mark;
    }
    const ok = below && (this.socket?.writableLength ?? 0) < mark;
    if (!ok && !this.bufferFull) {
      this.bufferFull = true;
      this.host.attemptBuffer('bufferFull');
      this.drained(); // the socket may take it all without ever pushing back: no 'drain' would come
    }
    return ok;
  }

  // ---------------------------------------------------------------------------
  // The lifecycle: every change of phase goes through here.

  private dispatch(event: LifecycleEvent, error?: WebSocketError, closePayload?: Buffer): void {
    const next = transition(this.phase, event);
    if (next === undefined) return; // an event that no longer matters (see lifecycle.ts)
    this.phase = next.phase;
    for (const action of next.actions) this.perform(action, error, closePayload);
  }

  private perform(action: LifecycleAction, error: WebSocketError | undefined, closePayload: Buffer | undefined): void {
    switch (action) {
      case 'write-request':
        this.host.attemptConnected();
        if (this.phase === 'handshake') this.socket!.write(this.opening!.request!.bytes);
        this.opening!.request = undefined;
        return;
      case 'report-open':
        return this.opened();
      case 'defer-close':
        this.opening!.deferredClose = closePayload;
        // The wait for the handshake to finish is bounded like a closing handshake.
        this.startCloseTimer();
        return;
      case 'send-close':
        return this.sendClose(closePayload ?? Buffer.alloc(0));
      case 'end-outbound':
        return this.endOutbound();
      case 'report-error':
        if (this.reported === undefined && error !== undefined) {
          this.reported = error;
          this.host.attemptError(error);
        }
        return;
      case 'report-lost':
        if (this.reported === undefined) {
          // RFC 6455 7.1.5: TCP closed with no close frame; the close code reported is 1006.
          this.reported = new ConnectionError(
            ErrorCode.ConnectionLost,
            this.openedAt !== undefined ? 'the connection closed without a close frame' : 'the server closed the connection during the opening handshake',
          );
          this.host.attemptError(this.reported);
        }
        return;
      case 'destroy':
        return this.destroy();
      case 'report-close':
        return this.finish();
    }
  }

  /** Fails the attempt with `error`: a close frame goes out only for errors with a wire code (RFC 6455 7.1.7). */
  private fail(error: WebSocketError): void {
    const wireCode = wireCloseCodeFor(error);
    if (wireCode === undefined) return this.dispatch('connection-error', error);
    if (this.phase === 'open') this.failCode = wireCode;
    this.dispatch('protocol-error', error, encodeClosePayload(wireCode));
  }

  /** The socket's 'error' (see `onSocketError`). */
  socketError(error: Error): void {
    this.fail(toConnectionError(error, true));
  }

  /**
   * The socket's 'close' (see `onSocketClose`). Once open, a read held
   * back by a pause is delivered first (so a close frame that came just
   * before the FIN is seen, and no message is lost); a paused socket emits
   * its 'end', and so its 'close', only after it is resumed, so this is a
   * guard more than a wait. Before open there is nothing to wait for: the
   * handshake reader gave its verdict on what was read at the socket's 'end'.
   */
  socketClose(): void {
    const delivering = this.phase === 'open' || this.phase === 'closing' || this.phase === 'ending';
    if (delivering && this.held !== undefined && this.socket!.readableEnded && !this.inboundDone) {
      this.closeWaiting = true;
    } else {
      setImmediate(socketDone, this);
    }
  }

  /** The socket is gone and what it delivered has been handed over. */
  socketDone(): void {
    this.dispatch('socket-closed');
  }

  /** The socket's 'drain' (see `onDrain`). */
  drain(): void {
    this.drained();
  }

  /** The transport is up (TransportSink): the handshake starts. */
  transportReady(socket: Duplex): void {
    if (this.phase !== 'connecting' && this.phase !== 'tls') {
      socket.destroy(); // abandoned while it was being opened
      return;
    }
    this.socket = socket;
    // Our own transport code listens to the signal only while it opens (an idle connection
    // need not keep an EventTarget); a user's createConnection may listen for longer.
    if (this.options.createConnection === undefined) this.opener = undefined;
    if (socket instanceof net.Socket) socket.setNoDelay(true);
    // The listeners are shared functions that find this attempt on the socket: no closures per connection.
    const early = attachReadSink(socket, this);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    if (socket.destroyed) {
      // It closed before we listened: its 'close' may have gone by.
      setImmediate(socketDone, this);
      return;
    }
    const pmd = this.options.perMessageDeflate;
    const opening = this.opening!;
    const negotiator = pmd ? new PerMessageDeflateNegotiator(pmd) : undefined;
    opening.negotiator = negotiator;
    const requestOptions = opening.requestOptions!;
    opening.requestOptions = undefined;
    requestOptions.extensions = negotiator?.offer(); // our own object (Route.request), not the user's
    const request = createHandshakeRequest(requestOptions);
    this.handshake = new HandshakeReader(
      { key: request.key, protocols: request.protocols, extensions: negotiator ? [negotiator] : [] },
      (error) => this.handshakeFailed(error),
    );
    if (pmd) {
      // Compressed messages are inflated in front of this sink; pause() and resume() still use `paused` here.
      this.inflateSink = new PerMessageInflateSink(this, {
        maxMessageBytes: this.options.maxMessageBytes,
        limiter: zlibLimiterFor(pmd),
        resume: () => this.resumeReading(),
      });
    }
    this.decoder = new FrameDecoder({
      role: 'client',
      maxMessageBytes: this.options.maxMessageBytes,
      perMessageCompression: pmd !== undefined,
      sinkValidatesWholeText: true,
    });
    this.encoder = new FrameWriter(socket, { role: 'client' });
    opening.request = request;
    socket.on('data', onInbound);
    // on(), not once(): once() would keep a wrapper object and a bound function per connection; 'end' comes once.
    socket.on('end', onSourceEnd);
    socket.on('drain', onDrain);
    socket.resume();
    this.dispatch('transport-ready');
    // Reads of a SOCKET_READ socket that came before this attempt listened (a server that spoke first).
    for (const bytes of early ?? []) if ((this.phase as Phase) === 'handshake') this.socketRead(bytes, false);
  }

  private dispatchResponse(response: HandshakeResponse): void {
    this.opening!.response = response;
    this.dispatch('response');
  }

  /** A refused handshake: follow a redirect when allowed, else fail. */
  private handshakeFailed(error: unknown): void {
    const opening = this.opening!;
    const decision = decideRedirect(error, opening.target, opening.redirectsSoFar, this.options);
    if (decision.kind === 'refuse') return this.fail(decision.error);
    if (decision.kind === 'not-a-redirect') return this.fail(asWebSocketError(error));
    opening.redirectTo = decision.to;
    this.dispatch('redirect');
  }

  private opened(): void {
    const opening = this.opening!;
    this.opening = undefined;
    const response = opening.response!;
    clearTimeout(opening.timer);
    this.openedAt = clockMs();
    const negotiated = opening.negotiator?.negotiated;
    // Declined (undefined): the decoder then refuses RSV1 with 1002 (it alone checks RSV1).
    this.decoder?.setCompression(negotiated !== undefined);
    this.inflateSink?.negotiate(negotiated);
    if (negotiated) {
      const pmd = this.options.perMessageDeflate!;
      this.deflater = new MessageDeflater({
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
      this.pinger = pinger;
      pinger.on('error', (error) => this.fail(asWebSocketError(error)));
      pinger.on('data', (frame: FrameSpec) => this.encoder?.enqueue(frame));
    }
    this.host.attemptOpened(this, response);
    // close() was called while connecting: what was queued went out first, now the closing handshake.
    const deferred = opening.deferredClose;
    if (deferred !== undefined && this.phase === 'open') this.requestClose(deferred);
  }

  // ---------------------------------------------------------------------------
  // The decoder's events (DecoderSink), handled as they are decoded. Only an
  // open (or closing) attempt delivers: after a failure everything is dropped
  // (RFC 6455 7.1.7), whoever found the fault.

  data(opcode: number, chunk: Buffer, start: number, end: number, messageStart: boolean, messageEnd: boolean): void {
    if (this.phase !== 'open' && this.phase !== 'closing') return;
    if (this.streamer !== undefined && opcode === Opcode.Binary) return this.streamer.piece(chunk.subarray(start, end), messageStart, messageEnd);
    if (messageStart && messageEnd) {
      // The whole message is in one read: a string straight from the chunk, or a view of it.
      if (opcode === Opcode.Text) {
        // The decoder left the UTF-8 check to us (sinkValidatesWholeText): decode strictly.
        let text: string;
        try {
          text = decodeUtf8(chunk, start, end);
        } catch (error) {
          return this.fail(error as ProtocolError);
        }
        this.host.attemptMessage(text, false);
      } else if (this.options.fragments === 'list') this.host.attemptMessage([chunk.subarray(start, end)], true);
      else if (this.sharedRead) {
        this.lastMessageLarge = end - start >= LARGE_MESSAGE_BYTES;
        this.host.attemptMessage(Buffer.from(chunk.subarray(start, end)), true);
      } else this.host.attemptMessage(chunk.subarray(start, end), true);
      return;
    }
    const remaining = messageStart ? this.decoder?.messageRemainingBytes : undefined;
    this.assembler ??= new MessageAssembler({ concat: this.options.fragments !== 'list', gather: true, maxBytes: this.options.maxMessageBytes });
    const message = this.assembler.add(opcode, chunk.subarray(start, end), messageStart, messageEnd, remaining, this.sharedRead);
    if (message === undefined) return;
    this.lastMessageLarge = message.length >= LARGE_MESSAGE_BYTES;
    if (message.opcode === Opcode.Binary) this.host.attemptMessage(message.data, true);
    else this.host.attemptMessage((Array.isArray(message.data) ? Buffer.concat(message.data) : message.data).toString('utf8'), false);
  }

  control(opcode: number, payload: Buffer): void {
    if (this.phase !== 'open' && this.phase !== 'closing') return;
    // The pong goes out at the end of the turn, and the user may keep the payload.
    if (this.sharedRead) payload = Buffer.from(payload);
    if (opcode === Opcode.Ping) {
      // RFC 6455 5.5.2: answer with a pong carrying the same payload, unless we already sent a close.
      if (!this.closeSent) this.encoder!.enqueue({ opcode: Opcode.Pong, payload });
      this.host.attemptControl('ping', payload);
    } else {
      this.pinger?.pongReceived();
      this.host.attemptControl('pong', payload);
    }
  }

  close(code: number | undefined, reason: string): void {
    if (this.phase !== 'open' && this.phase !== 'closing') return;
    this.closeReceivedFrame = { code, reason };
    // RFC 6455 5.5.1: answer a close with a close; echo the status code received.
    this.dispatch('close-received', undefined, code === undefined ? Buffer.alloc(0) : encodeClosePayload(code));
  }

  error(error: ProtocolError): void {
    this.fail(error);
  }

  // ---------------------------------------------------------------------------
  // Closing.

  /** Ends the outgoing side once every frame given so far (some may be in zlib) is encoded. */
  private endOutbound(): void {
    const encoder = this.encoder;
    if (!encoder) return;
    if (!this.deflater) return encoder.end();
    this.deflater.flush(() => {
      if (this.phase !== 'closed') encoder.end();
    });
  }

  /** Sends a close frame (once) and starts the close timer. */
  private sendClose(payload: Buffer): void {
    const encoder = this.encoder;
    if (this.closeSent || !encoder) return;
    this.closeSent = true;
    this.pinger?.destroy();
    if (this.deflater) {
      // Behind any message still being compressed: what was sent before close() goes first.
      this.deflater.frame({ opcode: Opcode.Close, payload }, (error, frame) => {
        if (this.phase === 'closed' || error) return;
        encoder.enqueue(frame);
        encoder.flush();
      });
    } else {
      encoder.enqueue({ opcode: Opcode.Close, payload });
      encoder.flush();
    }
    this.startCloseTimer();
  }

  private startCloseTimer(): void {
    clearTimeout(this.closeTimer);
    const timeoutMs = this.options.closeTimeoutMs;
    this.closeTimer = setTimeout(() => {
      this.dispatch(
        'close-timeout',
        new ConnectionError(ErrorCode.CloseTimeout, `the server did not complete the closing handshake within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    this.closeTimer.unref();
  }

  /** Drops the socket (or the transport being opened); its 'close' ends the attempt. */
  private destroy(): void {
    // Nothing more is delivered, even what is left of the current read.
    this.setPaused(true);
    this.cancelOpening();
    const socket = this.socket;
    if (socket === undefined) {
      setImmediate(socketDone, this); // the transport's promise settles on its own; transportReady() drops a late socket
      return;
    }
    // A close waiting for the inbound side to be delivered waits no more.
    this.handshake?.destroy();
    this.inboundEnded();
    if (!socket.destroyed) socket.destroy();
  }

  /** The attempt is over: free everything and report the close, once. */
  private finish(): void {
    clearTimeout(this.opening?.timer);
    clearTimeout(this.closeTimer);
    this.pinger?.destroy();
    this.handshake?.destroy();
    this.inboundDone = true;
    this.held = undefined;
    this.inflateSink?.destroy();
    this.deflater?.close();
    this.encoder?.destroy();
    const socket = this.socket;
    if (socket) {
      socket.destroy();
      socket.off('close', onSocketClose);
      socket.off('drain', onDrain);
      socket.off('data', onInbound);
      socket.off('end', onSourceEnd);
      // 'error' stays: a destroyed socket may still emit one, which must not go unhandled.
    }
    this.assembler?.reset();
    this.streamer?.abort(this.reported ?? new ConnectionError(ErrorCode.ConnectionLost, 'the connection ended before the end of the message'));
    this.cancelOpening();
    let code: number = CloseCode.AbnormalClosure;
    let reason = '';
    if (this.closeReceivedFrame) {
      code = this.closeReceivedFrame.code ?? CloseCode.NoStatusReceived;
      reason = this.closeReceivedFrame.reason;
    } else if (this.failCode !== undefined) {
      code = this.failCode;
    }
    const openForMs = this.openedAt === undefined ? undefined : clockMs() - this.openedAt;
    this.host.attemptEnded(this, { code, reason, error: this.reported, openForMs, redirectTo: this.opening?.redirectTo });
  }

  /** Emits 'drain' once the buffered bytes are back under the mark; the socket's 'drain' calls it again. */
  private drained(): void {
    if (!this.bufferFull || this.phase === 'closed') return;
    if (this.bufferedAmount >= this.options.highWaterMarkBytes) {
      const socket = this.socket;
      if (!socket || socket.destroyed || socket.writableEnded || socket.writableNeedDrain) return; // its 'drain' comes
      if (socket.writableLength > 0) {
        // A socket that takes the rest at once emits no further 'drain': an empty write's
        // callback says when what the socket holds now is written, then look again.
        socket.write(Buffer.alloc(0), () => this.drained());
      } else if ((this.deflater?.pendingBytes ?? 0) === 0) {
        // The bytes wait in the encoder's batch, flushed at the end of this turn.
        setImmediate(() => this.drained());
      }
      // Otherwise they are in zlib, whose callback looks again.
      return;
    }
    this.bufferFull = false;
    this.host.attemptBuffer('drain');
  }
}

/** The bits of `Attempt.flags`. */
const enum Flag {
  UserPaused = 1,
  InboundDone = 2,
  CloseWaiting = 4,
  CloseSent = 8,
  BufferFull = 16,
}

const CLOCK_ORIGIN_MS = Date.now();

/**
 * `Date.now()` from when this module loaded: for 12 days a small integer,
 * which V8 keeps in a field as is, where `Date.now()` needs a heap number
 * (`| 0` makes it one: a difference of two doubles is a double); later a
 * double again, as exact.
 */
function clockMs(): number {
  const ms = Date.now() - CLOCK_ORIGIN_MS;
  return ms <= 0x3fffffff ? ms | 0 : ms;
}

/**
 * The part of an attempt that only the opening handshake needs: where it
 * goes, the request, the handshake timer, the extension negotiation, a
 * close() deferred until open. The attempt lets go of it at the 101, so an
 * open connection keeps none of it (issue 12: idle memory).
 */
class Opening {
  /** The connect and the opening handshake must finish by then (`handshakeTimeoutMs`). */
  timer: NodeJS.Timeout | undefined;
  /** The request, before it is written. */
  request: { bytes: Buffer } | undefined;
  negotiator: PerMessageDeflateNegotiator | undefined;
  /** A close() asked for before the handshake completed: sent once open. */
  deferredClose: Buffer | undefined;
  /** The verified 101, from the reader to `opened()`. */
  response: HandshakeResponse | undefined;
  /** Set when the attempt ends to follow a redirect there. */
  redirectTo: ParsedUrl | undefined;

  constructor(
    readonly target: ParsedUrl,
    /** Let go once the request is built. */
    public requestOptions: HandshakeRequestOptions | undefined,
    readonly redirectsSoFar: number,
  ) {}
}

/** How an attempt is ending; an open idle connection has none yet (issue 12: idle memory). */
class Ending {
  closeTimer: NodeJS.Timeout | undefined;
  reported: WebSocketError | undefined;
  closeReceivedFrame: { code: number | undefined; reason: string } | undefined;
  failCode: number | undefined;
}

/** The attempt a socket feeds, for the shared listeners below. */
type Carrier = { [READ_SINK]?: Attempt };

function attemptOf(emitter: unknown): Attempt {
  return (emitter as Carrier)[READ_SINK]!;
}

function onInbound(this: Readable, chunk: Buffer): void {
  attemptOf(this).inbound(chunk);
}

function onSourceEnd(this: Readable): void {
  attemptOf(this).sourceEnd();
}

function onSocketError(this: Duplex, error: Error): void {
  attemptOf(this).socketError(error);
}

function onSocketClose(this: Duplex): void {
  attemptOf(this).socketClose();
}

function onDrain(this: Duplex): void {
  attemptOf(this).drain();
}

function handshakeTimedOut(attempt: Attempt): void {
  attempt.handshakeTimedOut();
}

function socketDone(attempt: Attempt): void {
  attempt.socketDone();
}

function asWebSocketError(error: unknown): WebSocketError {
  if (error instanceof WebSocketError) return error;
  return new ConnectionError(ErrorCode.ConnectionLost, (error as Error).message ?? String(error), { cause: error });
}
