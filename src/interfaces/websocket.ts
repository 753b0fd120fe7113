import { Blob } from 'node:buffer';
import { CloseCode } from '../protocol/close-codes.js';
import { WebSocketClient } from '../client/websocket-client.js';
import type { WebSocketClientOptions } from '../client/options.js';
import type { HandshakeResponse } from '../protocol/handshake.js';
import { bufferSourceView, tapConnections, type ConnectionEnd } from './connection-tap.js';
import { ErrorCode, WebSocketError } from '../protocol/errors.js';
import { CloseEvent, type ErrorEvent, checkCloseArguments, domException, errorEventFor, missingSubprotocol, parseStandardUrl, requireArgument, toProtocolList } from './dom.js';

/** What `binaryType` may be: the standard's two, and Node's `Buffer` as a wspipe extension. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/**
 * wspipe's extension of the constructor (the shape of undici's
 * `WebSocketInit`): the subprotocols and any `WebSocketClient` option
 * (headers, tls, proxy, reconnect, ...). `messageType` and `fragments` are
 * the adapter's to set and are ignored.
 */
export interface WebSocketInit extends Omit<WebSocketClientOptions, 'protocols'> {
  protocols?: string | string[];
}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

/**
 * The events of `WebSocket` by type (the DOM's `WebSocketEventMap`), so that
 * `addEventListener('message', (event) => event.data)` type-checks as it does
 * against the DOM library; `error` is wspipe's `ErrorEvent`.
 */
export interface WebSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: ErrorEvent;
  close: CloseEvent;
}

/** A listener of one event type: a function (called with the socket as `this`) or a `handleEvent` object. */
type TypedListener<E extends Event> = ((this: WebSocket, event: E) => unknown) | { handleEvent(event: E): unknown };
/** The DOM's `AddEventListenerOptions` (Node's types keep theirs private), or `capture` as a boolean. */
type ListenerOptions = boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: AbortSignal };

/** Data `send()` accepts (other values are sent as their string, as Web IDL converts them). */
export type WebSocketSendData = string | ArrayBuffer | ArrayBufferView | Blob;

type Outgoing = { text: string; bytes?: undefined; blob?: undefined } | { bytes: Buffer; text?: undefined; blob?: undefined } | { blob: Blob; text?: undefined; bytes?: undefined };

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * The WHATWG `WebSocket` (WebSockets Living Standard, "The WebSocket
 * interface"), a thin adapter over one `WebSocketClient`: code written for
 * browsers or Node's global `WebSocket` runs by changing the import.
 *
 * Events `open`, `message` (`MessageEvent`), `error` and `close`
 * (`CloseEvent`) through `addEventListener` or the `on*` attributes.
 * Exceptions are `DOMException`s with the standard's names.
 *
 * Extensions: `binaryType = 'nodebuffer'`, and an options object (second
 * argument instead of the protocols, or third) with every client option.
 * With `reconnect`, each connection still ends in one `close` event; when
 * another attempt follows, `readyState` is back to `CONNECTING` in that
 * event, and `open` fires again when it succeeds.
 */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: typeof CONNECTING;
  declare readonly OPEN: typeof OPEN;
  declare readonly CLOSING: typeof CLOSING;
  declare readonly CLOSED: typeof CLOSED;

  /** The client underneath, for what the standard has no word for (pings, stats, events). */
  readonly client: WebSocketClient;
  readonly #url: URL;
  readonly #origin: string;
  /** The subprotocols offered: a server that selects none of them fails the connection. */
  readonly #protocols: readonly string[];
  /** Why this adapter failed the connection itself (the standard's checks of the 101). */
  #failure: WebSocketError | undefined;
  #readyState: number = CONNECTING;
  #binaryType: BinaryType = 'blob';
  #protocol = '';
  #extensions = '';
  /** The user asked to close while connecting: the attempt is failed (the standard's words). */
  #failedByClose = false;
  /** Application bytes handed to the client that it may not have written yet (its count includes frame headers). */
  #bytesInClient = 0;
  /** send() after the connection closed still counts (the standard: bufferedAmount only grows then). */
  #bytesAfterClose = 0;
  /** Messages held behind a Blob being read, to keep send() order. */
  #outbox: Outgoing[] = [];
  #outboxBytes = 0;
  #readingBlob = false;
  /** A close() that waits for the outbox to empty. */
  #pendingClose: { code: number | undefined; reason: string } | undefined;
  readonly #handlers = new Map<string, { value: (event: Event) => unknown; listener: (event: Event) => void }>();

  constructor(url: string | URL, protocols?: string | string[] | WebSocketInit, init?: WebSocketInit) {
    super();
    requireArgument(arguments.length, 'new WebSocket()');
    let options: WebSocketInit;
    let list: string[];
    if (protocols !== null && typeof protocols === 'object' && !(Symbol.iterator in protocols)) {
      options = protocols;
      list = toProtocolList(options.protocols);
    } else {
      options = init ?? {};
      list = toProtocolList(protocols ?? options.protocols);
    }
    // Steps 1-7 of the constructor: every failure is a SyntaxError.
    this.#url = parseStandardUrl(url, list);
    this.#origin = this.#url.origin;
    this.#protocols = list;
    this.client = new WebSocketClient(this.#url, { ...options, protocols: list, fragments: 'concat', messageType: 'text' });
    // The client's own listener (added first) terminates the connection; this one says why, so that the
    // end is a failure like any other: error, then close with 1006 (as close() while CONNECTING does).
    options.signal?.addEventListener(
      'abort',
      () => {
        if (this.#readyState === CLOSED) return;
        this.#failure ??= new WebSocketError(ErrorCode.Aborted, 'the signal was aborted', { cause: options.signal?.reason });
        // Between two attempts of a reconnecting client no connection is left to report an end: end it
        // here. When one is, whichever end comes first is the one close event; the other finds CLOSED.
        queueMicrotask(() => this.#ended({ code: 1006, reason: '', failure: undefined, reconnecting: false }));
      },
      { once: true },
    );
    tapConnections(this.client, {
      open: (response) => this.#opened(response),
      message: (data, isBinary) => this.#message(data, isBinary),
      end: (end) => this.#ended(end),
    });
    this.client.connect();
  }

  /** The URL, parsed and serialised (`http:` shown as `ws:`). */
  get url(): string {
    return this.#url.href;
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): number {
    // The server's close frame starts the closing handshake too (the client says so before any event).
    if (this.#readyState === OPEN && this.client.readyState === 'closing') return CLOSING;
    return this.#readyState;
  }

  /** Bytes given to `send()` and not yet handed to the network; after closing, it only grows. */
  get bufferedAmount(): number {
    // The standard counts "bytes of application data (UTF-8 text and binary data)", not framing: the
    // client's figure adds 2-14 header bytes per frame and any control frame. While it holds bytes, ours
    // is what we gave it, capped by what it holds; once it holds none, everything was written.
    const inClient = this.client.bufferedAmount;
    if (inClient === 0) this.#bytesInClient = 0;
    return Math.min(this.#bytesInClient, inClient) + this.#outboxBytes + this.#bytesAfterClose;
  }

  /** The Sec-WebSocket-Extensions the server accepted, or `''`. */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol the server selected, or `''`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** How binary messages arrive: `'blob'` (default), `'arraybuffer'`, or `'nodebuffer'` (wspipe). */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // Web IDL: assigning a value outside an enumeration is ignored.
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  get onopen(): Handler<Event> {
    return this.#getHandler('open');
  }
  set onopen(value: Handler<Event>) {
    this.#setHandler('open', value);
  }
  get onmessage(): Handler<MessageEvent> {
    return this.#getHandler('message');
  }
  set onmessage(value: Handler<MessageEvent>) {
    this.#setHandler('message', value);
  }
  get onerror(): Handler<Event> {
    return this.#getHandler('error');
  }
  set onerror(value: Handler<Event>) {
    this.#setHandler('error', value);
  }
  get onclose(): Handler<CloseEvent> {
    return this.#getHandler('close');
  }
  set onclose(value: Handler<CloseEvent>) {
    this.#setHandler('close', value);
  }

  /**
   * Sends a message: a string as text, an `ArrayBuffer`, a view or a `Blob`
   * as binary. Throws `InvalidStateError` while `CONNECTING`. The bytes are
   * taken at the call: changing the buffer afterwards changes nothing sent.
   * A `Blob` is read asynchronously; messages sent after it wait behind it.
   */
  send(data: WebSocketSendData): void {
    // Web IDL checks the argument count first; `send(undefined)` is the string "undefined", `send()` a TypeError.
    requireArgument(arguments.length, 'WebSocket.send()');
    if (this.readyState === CONNECTING) {
      throw domException('InvalidStateError', 'send() was called before the connection opened (readyState is CONNECTING)');
    }
    const item = toOutgoing(data);
    const bytes = item.text !== undefined ? Buffer.byteLength(item.text) : item.bytes !== undefined ? item.bytes.length : item.blob.size;
    if (this.readyState !== OPEN || this.#pendingClose) {
      // "If the connection is closing or closed": nothing is sent, but bufferedAmount grows.
      this.#bytesAfterClose += bytes;
      return;
    }
    if (this.#outbox.length > 0 || item.blob !== undefined) {
      // Held behind a Blob: take the bytes now, the caller may change its buffer.
      this.#outbox.push(item.bytes !== undefined ? { bytes: Buffer.from(item.bytes) } : item);
      this.#outboxBytes += bytes;
      this.#pump();
      return;
    }
    this.#transmit(item);
  }

  /**
   * Closes the connection: `code` must be 1000 or in 3000-4999
   * (`InvalidAccessError`), `reason` at most 123 bytes of UTF-8
   * (`SyntaxError`). While connecting, the attempt is failed (an `error`
   * event, then `close` with 1006). Stops any reconnecting.
   */
  close(code?: number, reason?: string): void {
    const args = checkCloseArguments(code, reason);
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      // "Fail the WebSocket connection and set readyState to CLOSING."
      this.#readyState = CLOSING;
      this.#failedByClose = true;
      this.#outbox = [];
      this.#outboxBytes = 0;
      const attempting = this.client.readyState === 'connecting';
      this.client.terminate();
      // Between two attempts of a reconnecting client there is no connection to end: end it here.
      if (!attempting) queueMicrotask(() => this.#ended({ code: 1006, reason: '', failure: undefined, reconnecting: false }));
      return;
    }
    // "Start the WebSocket closing handshake", behind what send() was given before.
    this.#readyState = CLOSING;
    this.#pendingClose = args;
    this.#pump();
  }

  #transmit(item: Outgoing): void {
    if (this.client.readyState !== 'open') {
      this.#bytesAfterClose += item.text !== undefined ? Buffer.byteLength(item.text) : item.bytes!.length;
      return;
    }
    // The client's return value (backpressure) is bufferedAmount's business here, as in browsers.
    if (this.client.bufferedAmount === 0) this.#bytesInClient = 0;
    if (item.text !== undefined) {
      this.client.send(item.text, { binary: false });
      this.#bytesInClient += Buffer.byteLength(item.text);
    } else {
      this.client.send(item.bytes!, { binary: true });
      this.#bytesInClient += item.bytes!.length;
    }
  }

  /** Sends what waits in order; reads one Blob at a time; then the close, if one waits. */
  #pump(): void {
    while (!this.#readingBlob) {
      const item = this.#outbox[0];
      if (item === undefined) break;
      if (item.blob !== undefined) {
        this.#readingBlob = true;
        item.blob.arrayBuffer().then(
          (buffer) => {
            this.#readingBlob = false;
            this.#outbox[0] = { bytes: Buffer.from(buffer) };
            this.#pump();
          },
          () => {
            // The standard: a Blob that cannot be read fails the connection... nothing in Node fails to read one.
            this.#readingBlob = false;
            this.#outbox.shift();
            this.#outboxBytes -= item.blob.size;
            this.client.terminate();
          },
        );
        return;
      }
      this.#outbox.shift();
      this.#outboxBytes -= item.text !== undefined ? Buffer.byteLength(item.text) : item.bytes!.length;
      this.#transmit(item);
    }
    if (this.#outbox.length === 0 && this.#pendingClose) {
      const { code, reason } = this.#pendingClose;
      this.#pendingClose = undefined;
      if (this.client.readyState !== 'open') return;
      // "If code is null and reason is empty", a close frame with no body (the server reports 1005);
      // "if code is null but reason is non-empty, set code to 1000".
      this.client.close(code ?? (reason ? CloseCode.NormalClosure : CloseCode.NoStatusReceived), reason);
    }
  }

  #opened(response: HandshakeResponse): void {
    if (this.#readyState !== CONNECTING) return;
    const refusal = missingSubprotocol(this.#protocols, response);
    if (refusal) {
      // "Fail the WebSocket connection": no open event; error, then close with 1006, follow.
      this.#failure = refusal;
      this.client.terminate();
      return;
    }
    this.#readyState = OPEN;
    this.#protocol = response.protocol ?? '';
    this.#extensions = response.headers['sec-websocket-extensions'] ?? '';
    this.dispatchEvent(new Event('open'));
  }

  #message(data: string | Buffer, isBinary: boolean): void {
    // "If readyState is not OPEN, then return": nothing is delivered once close() was called.
    if (this.#readyState !== OPEN) return;
    let payload: string | ArrayBuffer | Blob | Buffer;
    if (!isBinary) payload = data as string;
    else if (this.#binaryType === 'nodebuffer') payload = data as Buffer;
    else if (this.#binaryType === 'arraybuffer') payload = toArrayBuffer(data as Buffer);
    else payload = new Blob([data as Buffer]);
    this.dispatchEvent(new MessageEvent('message', { data: payload, origin: this.#origin }));
  }

  /** One connection ended (the standard's "the WebSocket connection is closed"). */
  #ended(end: ConnectionEnd): void {
    if (this.#readyState === CLOSED) return;
    const failure = end.failure ?? this.#failure;
    const failed = failure !== undefined || this.#failedByClose;
    const reconnecting = end.reconnecting && !this.#failedByClose && this.#failure === undefined;
    this.#failedByClose = false;
    this.#failure = undefined;
    this.#pendingClose = undefined;
    this.#outbox = [];
    this.#outboxBytes = 0;
    // A failed connection reports 1006: no close frame was received (RFC 6455 7.1.5); wasClean is
    // true only when the closing handshake completed (RFC 6455 7.1.4, "closed cleanly").
    const code = failed ? 1006 : end.code;
    const reason = failed ? '' : end.reason;
    const wasClean = !failed && code !== 1006;
    this.#readyState = reconnecting ? CONNECTING : CLOSED;
    // "If the user agent was required to fail the WebSocket connection ... fire an event named error."
    if (failed) this.dispatchEvent(errorEventFor(failure));
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }

  #getHandler<E extends Event>(type: string): Handler<E> {
    return (this.#handlers.get(type)?.value as Handler<E> | undefined) ?? null;
  }

  /**
   * HTML "event handler attributes": the first non-null value adds one
   * listener, later values replace the handler in that same place, null
   * removes it; a handler returning false cancels the event.
   */
  #setHandler(type: string, value: unknown): void {
    const entry = this.#handlers.get(type);
    if (typeof value !== 'function') {
      // [LegacyTreatNonObjectAsNull]: anything that is not callable clears the handler.
      if (entry) {
        this.removeEventListener(type, entry.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (entry) {
      entry.value = value as (event: Event) => unknown;
      return;
    }
    const created = {
      value: value as (event: Event) => unknown,
      listener: (event: Event): void => {
        if (created.value.call(this, event) === false) event.preventDefault();
      },
    };
    this.#handlers.set(type, created);
    this.addEventListener(type, created.listener);
  }
}

// Typed overloads of the EventTarget methods, merged into the class's type (no runtime code):
// Node's EventTarget types every listener's event as a plain `Event`.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface WebSocket {
  addEventListener<K extends keyof WebSocketEventMap>(type: K, listener: TypedListener<WebSocketEventMap[K]> | null, options?: ListenerOptions): void;
  addEventListener(type: string, listener: TypedListener<Event> | null, options?: ListenerOptions): void;
  removeEventListener<K extends keyof WebSocketEventMap>(type: K, listener: TypedListener<WebSocketEventMap[K]> | null, options?: boolean | { capture?: boolean }): void;
  removeEventListener(type: string, listener: TypedListener<Event> | null, options?: boolean | { capture?: boolean }): void;
}

for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSING', CLOSING], ['CLOSED', CLOSED]] as const) {
  // On the prototype as well, as Web IDL constants are: `ws.OPEN` works on every instance.
  Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
}

function toOutgoing(data: unknown): Outgoing {
  if (typeof data === 'string') return { text: data };
  if (data instanceof Blob) return { blob: data };
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return { bytes: bufferSourceView(data) };
  // Web IDL: a value of no other type of the union is converted to a string.
  return { text: String(data) };
}

/** An ArrayBuffer of exactly these bytes (a copy: the Buffer may be a view of a larger read). */
function toArrayBuffer(data: Buffer): ArrayBuffer {
  const copy = new ArrayBuffer(data.length);
  new Uint8Array(copy).set(data);
  return copy;
}
