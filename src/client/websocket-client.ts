import type { Readable } from 'node:stream';
import { encodeClosePayload } from '../protocol/close.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode, UsageError, WebSocketError } from '../protocol/errors.js';
import { iterateMessages, type MessagesOptions } from '../interfaces/message-iterator.js';
import { validateHandshakeRequest, type HandshakeResponse } from '../protocol/handshake.js';
import { MAX_CONTROL_PAYLOAD_BYTES, Opcode } from '../protocol/opcode.js';
import { checkDuration } from '../protocol/option-checks.js';
import { isValidUtf8 } from '../protocol/utf8-validator.js';
import { Attempt, type AttemptEnd, type AttemptHost } from './attempt.js';
import { readyStateOf, type ReadyState } from './lifecycle.js';
import {
  parseWebSocketUrl,
  redactUrl,
  resolveOptions,
  type ResolvedOptions,
  type WebSocketClientOptions,
} from './options.js';
import { Route } from './redirect.js';
import { planRetry } from './reconnect.js';
import { SendQueue, toPayload, type SendData } from './send-queue.js';
import { guard, rethrowLater } from './user-code.js';
import { TypedEventEmitter, type Callback, type WebSocketClientEvents } from './typed-events.js';
import { ConnectionPromises, type ConnectionClosed } from './connection-promises.js';

export type { ReadyState } from './lifecycle.js';

export type { SendData } from './send-queue.js';

/** Per-call options of `send()`. */
export interface SendOptions {
  /** Send a binary frame (true) or a text frame (false). Default: the client's `messageType`, else by the data. */
  binary?: boolean;
  /**
   * With permessage-deflate negotiated: compress (true) or not (false)
   * whatever the size. Default: compress from `thresholdBytes` up.
   */
  compress?: boolean;
}

/**
 * A WebSocket client (RFC 6455) in the manner of Workerman's `ws` client:
 * set the callbacks, call `connect()`, `send()` away, `reconnect()` from
 * `onClose`. Every callback is also an event of the same meaning.
 *
 * Inside, each connection attempt (`attempt.ts`) is the same pipeline the
 * exported stages make (handshake, frame decoder, frame encoder, ping
 * injector), driven through their Sans-I/O cores so that an idle connection
 * keeps no stream objects alive; its lifecycle is in `lifecycle.ts`.
 * Reconnecting builds a new attempt on a new socket.
 */
export class WebSocketClient extends TypedEventEmitter<WebSocketClientEvents> {
  /** Fires when the TCP (or TLS) connection is up. */
  onConnect: ((conn: WebSocketClient) => void) | undefined;
  /** Fires when the opening handshake completed; `response` is the server's 101. */
  onWebSocketConnect: ((conn: WebSocketClient, response: HandshakeResponse) => void) | undefined;
  /**
   * Fires for each message: text as a string, binary as a Buffer (or a list of Buffers with
   * `fragments: 'list'`). Declared `(conn, ...[data, isBinary]: MessageArgs)`, `data` is narrowed by `isBinary`.
   */
  onMessage: Callback<[conn: WebSocketClient, data: string | Buffer | Buffer[], isBinary: boolean]> | undefined;
  /** Fires on an error; `code` is a stable `WSP_ERR_*` string. */
  onError: ((conn: WebSocketClient, code: ErrorCode, message: string, error: WebSocketError) => void) | undefined;
  /** Fires once per connection attempt when it has ended, with the close code (1006: no close frame). */
  onClose: ((conn: WebSocketClient, code: number, reason: string) => void) | undefined;
  /** Fires when buffered outgoing bytes go over `highWaterMarkBytes`. */
  onBufferFull: ((conn: WebSocketClient) => void) | undefined;
  /** Fires when they are back under it. */
  onBufferDrain: ((conn: WebSocketClient) => void) | undefined;

  /** The URL given (without credentials); after a redirect the current one is `currentUrl`. */
  readonly url: string;
  /**
   * The URL given, credentials included: the same string as `url` when it has
   * none. Every connect() and reconnection parses it again, so that an idle
   * connection keeps one string of its URL and no URL objects (issue 12).
   */
  private readonly href: string;
  /**
   * Where the attempts of this connect() (or reconnection) go: the URL given,
   * or where redirects sent them. The constructor's serves the first
   * connect(), a new one each later one; let go at the end or once open,
   * unless a redirect was followed (`currentUrl` then needs it).
   */
  private route: Route | undefined;
  private readonly options: ResolvedOptions;
  private attempt: Attempt | undefined;
  /** `started`, `paused` and `userClosed` as bits (see their accessors): one field, not three. */
  private flags = 0;
  /** Made by the first send() that has to wait, let go when emptied at open. */
  private queue: SendQueue | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** reconnect() was called while an attempt was still ending: its delay. */
  private reconnectAfterEnd: number | undefined;
  private retries = 0;
  private lastResponse: HandshakeResponse | undefined;
  /** Made when `opened` or `closed` is first read, or at the first end (which it remembers). */
  private promises: ConnectionPromises | undefined;

  constructor(url: string | URL, options: WebSocketClientOptions = {}) {
    super();
    const target = parseWebSocketUrl(url);
    this.href = target.url.href;
    this.url = redactUrl(target.url);
    this.options = resolveOptions(options);
    // The first connect() goes there (no second parse of the URL).
    this.route = new Route(target);
    // Headers, protocols and origin are checked at construction (without building a request).
    validateHandshakeRequest(this.route.request(this.options));
    // Made only when there is a signal: an idle connection keeps no closure it does not need.
    this.options.signal?.addEventListener(
      'abort',
      () => {
        this.cancelReconnect();
        this.terminate();
      },
      { once: true },
    );
  }

  /** Whether connect() was ever called: `'idle'` before, `'closed'` between attempts. */
  private get started(): boolean {
    return (this.flags & STARTED) !== 0;
  }
  private set started(on: boolean) {
    this.flags = on ? this.flags | STARTED : this.flags & ~STARTED;
  }

  /** pause() was called, and resume() not since. */
  private get paused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }
  private set paused(on: boolean) {
    this.flags = on ? this.flags | PAUSED : this.flags & ~PAUSED;
  }

  /** close() or terminate() was called: no sending, no reconnecting, until connect() or reconnect(). */
  private get userClosed(): boolean {
    return (this.flags & USER_CLOSED) !== 0;
  }
  private set userClosed(on: boolean) {
    this.flags = on ? this.flags | USER_CLOSED : this.flags & ~USER_CLOSED;
  }

  /**
   * `'idle'` before `connect()`, then `'connecting'`, `'open'`, `'closing'`,
   * `'closed'`: derived from the current attempt's phase (`lifecycle.ts`);
   * `'closed'` between attempts, also while a reconnect waits.
   */
  get readyState(): ReadyState {
    if (this.attempt) return readyStateOf(this.attempt.phase);
    return this.started ? 'closed' : 'idle';
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
    return (this.queue?.bytes ?? 0) + (this.attempt?.bufferedAmount ?? 0);
  }

  /**
   * The server's 101 once the connection is open: the current one's if it
   * opened, else the next one's (across reconnects). Rejects with the error
   * that ended the last attempt when it never opened and no other follows.
   */
  get opened(): Promise<HandshakeResponse> {
    return this.connectionPromises().opened(this.attempt?.everOpened ? this.lastResponse : undefined, this.underWay());
  }

  /**
   * How the connection under way (or the next one) ended: `{ code, reason,
   * error }`. Each connection of a reconnecting client has its own; with
   * nothing under way, the last one's. Never rejects: an unclean end is
   * 1006 with its `error`.
   */
  get closed(): Promise<ConnectionClosed> {
    return this.connectionPromises().closed(this.underWay());
  }

  /**
   * The messages as an async iterator with backpressure (the client is
   * paused while `highWaterMark` messages wait for the loop); across
   * reconnects, until the last connection ends. Leaving the loop early
   * closes the connection. `for await (const m of client)` is the same.
   */
  messages(options?: MessagesOptions): AsyncIterableIterator<string | Buffer> {
    return iterateMessages(this, options);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<string | Buffer> {
    return this.messages();
  }

  /** `await using client = ...`: closes (1000), stops reconnecting, and waits for the end of the connection. */
  async [Symbol.asyncDispose](): Promise<void> {
    const ending = this.attempt !== undefined;
    this.close();
    if (ending) await this.closed;
  }

  private connectionPromises(): ConnectionPromises {
    return (this.promises ??= new ConnectionPromises());
  }

  /** An attempt is running, a reconnect is planned, or connect() is still to come. */
  private underWay(): boolean {
    return this.attempt !== undefined || this.reconnectTimer !== undefined || !this.started;
  }

  /** The URL of the current attempt (differs from `url` after a redirect), without credentials. */
  get currentUrl(): string {
    const route = this.route;
    return route !== undefined && route.redirects > 0 ? redactUrl(route.current.url) : this.url;
  }

  /** Opens the connection. Calling it while connecting or open does nothing. */
  connect(): this {
    if (this.options.signal?.aborted) {
      throw new UsageError(ErrorCode.Aborted, 'the signal was aborted');
    }
    if (this.attempt !== undefined) return this;
    this.userClosed = false;
    this.cancelReconnect();
    this.startAttempt(false);
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
    const type = this.options.messageType;
    const binary = options?.binary ?? (type === undefined ? typeof data !== 'string' : type === 'binary');
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    const payload = toPayload(data);
    if (!binary && typeof payload !== 'string' && !isValidUtf8(payload)) {
      throw new UsageError(ErrorCode.InvalidOption, 'a text message must be valid UTF-8 (RFC 6455 5.6); send it as binary');
    }
    const a = this.attempt;
    if (a?.phase === 'open') return a.sendFrame(opcode, payload, options?.compress);
    const state = this.readyState;
    // A reconnect may follow an attempt that failed before opening: queue for it (planReconnect drops the queue if none does).
    const failingEarly = a?.phase === 'discarding' && !a.everOpened;
    const waiting = state === 'connecting' || state === 'idle' || this.reconnectTimer !== undefined || failingEarly;
    if (!waiting || this.userClosed) {
      this.report(new WebSocketError(ErrorCode.SendFailed, `cannot send: the connection is ${state}`));
      return false;
    }
    const queue = (this.queue ??= new SendQueue(this.options.maxQueuedBytes));
    queue.push(payload, opcode, options?.compress);
    return queue.bytes < this.options.highWaterMarkBytes;
  }

  /** Sends a ping with an optional payload of at most 125 bytes (`MAX_CONTROL_PAYLOAD_BYTES`). */
  ping(payload: SendData = Buffer.alloc(0)): void {
    if (this.attempt?.phase !== 'open') throw new UsageError(ErrorCode.NotOpen, 'ping() needs an open connection');
    const bytes = toPayload(payload);
    if ((typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length) > MAX_CONTROL_PAYLOAD_BYTES) {
      throw new UsageError(ErrorCode.InvalidOption, `a ping payload is at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes (RFC 6455 5.5)`);
    }
    this.attempt.ping(bytes);
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2) and stops any reconnecting.
   * The connection ends when the server answers and closes TCP, or after
   * `closeTimeoutMs`. Called while connecting, it lets the opening handshake
   * finish, sends what `send()` queued, then closes (the whole wait bounded
   * by `closeTimeoutMs` and `handshakeTimeoutMs`). `code` must be a number:
   * 1000 by default, 1000 or 3000-4999 as the application's; 1005
   * (`CloseCode.NoStatusReceived`) sends a close frame with no status code,
   * which the server reports as 1005 (RFC 6455 7.1.5; the WHATWG `close()`
   * with no arguments does this).
   */
  close(code: number = CloseCode.NormalClosure, reason = ''): void {
    // Checks the arguments (a number code, a string reason) before anything changes.
    // RFC 6455 7.4.1: 1005 itself is never sent; it stands for "no status code".
    const payload = code === CloseCode.NoStatusReceived && reason === '' ? Buffer.alloc(0) : encodeClosePayload(code, reason);
    this.userClosed = true;
    this.cancelReconnect();
    this.reconnectAfterEnd = undefined;
    const a = this.attempt;
    // Before open, the queue waits for the handshake; otherwise nothing more will carry it.
    if (a === undefined || readyStateOf(a.phase) !== 'connecting') this.discardQueue('close() was called');
    a?.requestClose(payload);
  }

  /** Destroys the connection at once, without a closing handshake, and stops any reconnecting. Queued messages are reported as not sent. */
  terminate(): void {
    this.userClosed = true;
    this.cancelReconnect();
    this.reconnectAfterEnd = undefined;
    this.discardQueue('terminate() was called');
    this.attempt?.terminate();
  }

  /**
   * Reconnects after `delayMs` (0 to 2^31-1) with a fresh handshake (and a
   * new key); all callbacks stay. Callable from `onClose` and `onError`. An
   * open connection is closed first (code 1000), one still connecting is
   * abandoned.
   */
  reconnect(delayMs = 0): void {
    checkDuration('reconnect(delayMs)', delayMs, 0);
    if (this.options.signal?.aborted) return;
    this.cancelReconnect();
    this.userClosed = false;
    const a = this.attempt;
    if (a === undefined) return this.scheduleReconnect(delayMs);
    this.reconnectAfterEnd = delayMs;
    if (a.phase === 'open') a.requestClose(encodeClosePayload(CloseCode.NormalClosure));
    else if (readyStateOf(a.phase) === 'connecting') a.terminate();
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
    this.attempt?.setPaused(true);
  }

  /** Resumes reading, starting with what arrived before the pause. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const a = this.attempt;
    if (a && a.phase !== 'discarding' && a.phase !== 'closed') {
      a.setPaused(false);
      a.resumeReading();
    }
  }

  // ---------------------------------------------------------------------------
  // Attempts.

  private startAttempt(redirected: boolean): void {
    // A connect() or reconnection starts from the URL given: the constructor's route, or a new one.
    if (!redirected && this.route?.redirects !== 0) this.route = new Route(parseWebSocketUrl(this.href));
    this.started = true;
    const route = this.route!;
    // A host per attempt (the attempt alone keeps it): the client keeps no field for it.
    this.attempt = new Attempt(new ClientHost(this), this.options, route.current, route.request(this.options), route.redirects, this.paused);
    this.attempt.start();
  }


  /** The attempt is over: report the close, maybe reconnect (or follow a redirect). */
  private attemptEnded(attempt: Attempt, end: AttemptEnd): void {
    if (this.attempt === attempt) this.attempt = undefined;
    if (end.redirectTo && !this.userClosed) {
      // Not an ending: the same connection attempt goes on at the new location.
      const from = this.route!.follow(end.redirectTo);
      guard(() => this.emit('redirect', { from: redactUrl(from.url), to: redactUrl(end.redirectTo!.url) }));
      if (this.attempt === undefined) this.startAttempt(true);
      return;
    }
    // Decide on automatic reconnection first, so a send() from onClose is queued
    // for it; a reconnect(), close() or terminate() in onClose overrides it.
    const planned = this.planReconnect(end);
    guard(() => this.onClose?.(this, end.code, end.reason));
    guard(() => this.emit('close', end.code, end.reason));
    if (planned && this.reconnectTimer === planned.timer) {
      guard(() => this.emit('reconnecting', { attempt: planned.attempt, delayMs: planned.delayMs }));
    }
    this.forgetRoute();
    this.connectionPromises().attemptEnded({ code: end.code, reason: end.reason, error: end.error }, this.underWay());
  }

  private planReconnect(end: AttemptEnd): { timer: NodeJS.Timeout; attempt: number; delayMs: number } | undefined {
    const asked = this.reconnectAfterEnd;
    this.reconnectAfterEnd = undefined;
    if (asked !== undefined && !this.userClosed) {
      this.scheduleReconnect(asked);
      return undefined;
    }
    if (this.attempt !== undefined || this.reconnectTimer !== undefined) return undefined; // the user reconnected
    const policy = this.options.reconnect;
    if (policy === undefined || this.userClosed || this.options.signal?.aborted) {
      this.discardQueue('the connection closed');
      return undefined;
    }
    const plan = planRetry(policy, this.retries, { error: end.error, closeCode: end.code }, end.openForMs);
    this.retries = plan.attempt;
    if (!plan.retry) {
      this.discardQueue(plan.why);
      return undefined;
    }
    this.scheduleReconnect(plan.delayMs);
    return { timer: this.reconnectTimer!, attempt: plan.attempt, delayMs: plan.delayMs };
  }

  private scheduleReconnect(delayMs: number): void {
    clearTimeout(this.reconnectTimer);
    // Not unref()ed: the user asked for a reconnection, which should keep the process alive.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.attempt === undefined && !this.options.signal?.aborted) this.startAttempt(false);
    }, delayMs);
  }

  private discardQueue(why: string): void {
    const count = this.queue?.take().length ?? 0;
    if (count > 0) this.report(new WebSocketError(ErrorCode.SendFailed, `${count} queued message(s) were not sent: ${why}`));
  }

  /** Lets the route go unless a redirect was followed (see `route`). */
  private forgetRoute(): void {
    if (this.route?.redirects === 0) this.route = undefined;
  }

  /** Reports an error to `onError` and to `'error'` listeners, never as an unhandled `'error'`. */
  private report(error: WebSocketError): void {
    guard(() => this.onError?.(this, error.code, error.message, error));
    if (this.listenerCount('error') > 0) guard(() => this.emit('error', error));
  }
}

/** The bits of `WebSocketClient.flags`. */
const STARTED = 1;
const PAUSED = 2;
const USER_CLOSED = 4;

/**
 * The client's side of `AttemptHost` as prototype methods, not a closure
 * each (issue 12: idle memory per connection). It reaches the client's
 * private state by element access, which TypeScript allows on purpose for
 * such a companion; nothing outside this file does so.
 */
class ClientHost implements AttemptHost {
  constructor(private readonly client: WebSocketClient) {}

  attemptConnected(): void {
    const c = this.client;
    // As guard(), without two closures per handshake.
    try {
      c.onConnect?.(c);
    } catch (error) {
      rethrowLater(error);
    }
    try {
      c.emit('connect');
    } catch (error) {
      rethrowLater(error);
    }
  }

  attemptOpened(attempt: Attempt, response: HandshakeResponse): void {
    const c = this.client;
    c['lastResponse'] = response;
    // Messages sent before the handshake completed go first, in order.
    const queue = c['queue'];
    c['queue'] = undefined;
    c['forgetRoute']();
    if (queue !== undefined) for (const message of queue.take()) attempt.sendFrame(message.opcode, message.payload, message.compress);
    try {
      c.onWebSocketConnect?.(c, response);
    } catch (error) {
      rethrowLater(error);
    }
    try {
      c.emit('open', response);
    } catch (error) {
      rethrowLater(error);
    }
    c['promises']?.attemptOpened(response);
  }

  attemptMessage(data: string | Buffer | Buffer[], isBinary: boolean): void {
    const c = this.client;
    // The hot path: the same guard as everywhere else, without a closure per message.
    try {
      c.onMessage?.(c, data, isBinary);
    } catch (error) {
      rethrowLater(error);
    }
    try {
      c.emit('message', data, isBinary);
    } catch (error) {
      rethrowLater(error);
    }
  }

  attemptMessageStream(stream: Readable): void {
    guard(() => this.client.emit('messageStream', stream));
  }

  attemptControl(event: 'ping' | 'pong', payload: Buffer): void {
    guard(() => this.client.emit(event, payload));
  }

  attemptError(error: WebSocketError): void {
    this.client['report'](error);
  }

  attemptBuffer(event: 'bufferFull' | 'drain'): void {
    const c = this.client;
    guard(() => (event === 'bufferFull' ? c.onBufferFull?.(c) : c.onBufferDrain?.(c)));
    guard(() => c.emit(event));
  }

  attemptEnded(attempt: Attempt, end: AttemptEnd): void {
    this.client['attemptEnded'](attempt, end);
  }
}
