import { ReadableStream, WritableStream, type ReadableStreamDefaultController, type WritableStreamDefaultController } from 'node:stream/web';
import { CloseCode } from '../protocol/close-codes.js';
import { WebSocketClient } from '../client/websocket-client.js';
import type { WebSocketClientOptions } from '../client/options.js';
import type { HandshakeResponse } from '../protocol/handshake.js';
import { bufferSourceView, tapConnections, type ConnectionEnd } from './connection-tap.js';
import { deferred } from '../client/connection-promises.js';
import type { WebSocketError } from '../protocol/errors.js';
import { checkCloseArguments, domException, missingSubprotocol, parseStandardUrl, requireArgument, toProtocolList } from './dom.js';

/**
 * Options of `new WebSocketStream(url, options)`: the standard's `protocols`
 * and `signal`, and any `WebSocketClient` option (headers, tls, proxy, ...).
 * A WebSocketStream is one connection: `reconnect` is not used.
 */
export interface WebSocketStreamOptions extends Omit<WebSocketClientOptions, 'protocols' | 'signal' | 'reconnect'> {
  protocols?: string[];
  /** Aborting it before the connection is established abandons it: `opened` and `closed` reject with its reason. */
  signal?: AbortSignal;
}

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  /** Messages received: text as strings, binary as `Uint8Array`s. */
  readable: ReadableStream<string | Uint8Array>;
  /** Messages to send: strings as text, `ArrayBuffer`s and views as binary. */
  writable: WritableStream<string | ArrayBuffer | ArrayBufferView>;
  extensions: string;
  protocol: string;
}

/** What `closed` resolves to, and what `close()` takes. */
export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

/**
 * The standard's `WebSocketError` (a `DOMException` named `'WebSocketError'`
 * with `closeCode` and `reason`): `closed` rejects with one after an unclean
 * close, and aborting the writable or cancelling the readable with one closes
 * with its code. Exported under this name because `WebSocketError` is the
 * base of wspipe's own errors.
 */
export class WebSocketStreamError extends DOMException {
  #closeCode: number | null;
  #reason: string;

  /** Checks the code and reason as `close()` does (1000 or 3000-4999, at most 123 bytes). */
  constructor(message = '', init: WebSocketCloseInfo = {}) {
    super(message, 'WebSocketError');
    const checked = checkCloseArguments(init.closeCode, init.reason);
    this.#closeCode = checked.code ?? null;
    this.#reason = checked.reason;
  }

  get closeCode(): number | null {
    return this.#closeCode;
  }

  get reason(): string {
    return this.#reason;
  }

  /** One the connection reports (1006 and the like), which no user may send. */
  static unchecked(message: string, closeCode: number, reason: string, cause?: unknown): WebSocketStreamError {
    const error = new WebSocketStreamError(message);
    error.#closeCode = closeCode;
    error.#reason = reason;
    if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
    return error;
  }
}

/**
 * Receive queue limit before the socket stops being read, in bytes (UTF-16
 * code units for text). A message larger than this is still delivered whole.
 */
const READABLE_HIGH_WATER_MARK_BYTES = 1024 * 1024;

/**
 * The WHATWG `WebSocketStream` (the WebSockets standard's streams interface,
 * as in Chrome, Deno and undici), over one `WebSocketClient`.
 *
 * Receive backpressure is real: when the reader stops reading, the queue
 * fills to about 1 MiB, then the client is paused and stops reading the
 * socket, so TCP slows the server down. Writing waits for the client's
 * buffer to drain before the next chunk is taken.
 */
export class WebSocketStream {
  /** The client underneath. */
  readonly client: WebSocketClient;
  readonly #url: URL;
  /** The subprotocols offered: a server that selects none of them fails the connection. */
  readonly #protocols: readonly string[];
  /** Why this adapter failed the connection itself (the standard's checks of the 101). */
  #failure: WebSocketError | undefined;
  readonly #opened = deferred<WebSocketOpenInfo>();
  readonly #closed = deferred<Required<WebSocketCloseInfo>>();
  #readable: ReadableStreamDefaultController<string | Uint8Array> | undefined;
  #writable: WritableStreamDefaultController | undefined;
  #established = false;
  /** The closing handshake was started here (close, cancel, abort): no more messages are delivered. */
  #closing = false;
  #readableDone = false;
  #handshakeAborted = false;
  #ended = false;
  #drainWaiters: Array<() => void> = [];

  constructor(url: string | URL, options: WebSocketStreamOptions = {}) {
    requireArgument(arguments.length, 'new WebSocketStream()');
    const protocols = toProtocolList(options.protocols);
    this.#url = parseStandardUrl(url, protocols);
    this.#protocols = protocols;
    const { signal, ...clientOptions } = options;
    this.client = new WebSocketClient(this.#url, {
      ...(clientOptions as WebSocketClientOptions),
      protocols,
      reconnect: false,
      fragments: 'concat',
      messageType: 'text',
    });
    if (signal?.aborted) {
      this.#opened.reject(signal.reason);
      this.#closed.reject(signal.reason);
      this.#handshakeAborted = true;
      return;
    }
    signal?.addEventListener(
      'abort',
      () => {
        if (this.#established || this.#ended) return;
        // Abandon the handshake; the promises carry the signal's reason, not a WebSocketError.
        this.#handshakeAborted = true;
        this.#opened.reject(signal.reason);
        this.#closed.reject(signal.reason);
        this.client.terminate();
      },
      { once: true },
    );
    tapConnections(this.client, {
      open: (response) => this.#onOpen(response),
      message: (data, isBinary) => this.#onMessage(data, isBinary),
      end: (end) => this.#onEnd(end),
    });
    this.client.on('drain', () => this.#wakeWriters());
    this.client.connect();
  }

  /** The URL, parsed and serialised. */
  get url(): string {
    return this.#url.href;
  }

  /** Resolves once the connection is open; rejects if it never opens. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened.promise;
  }

  /** Resolves with the close code and reason after a clean close; rejects with a `WebSocketStreamError` otherwise. */
  get closed(): Promise<Required<WebSocketCloseInfo>> {
    return this.#closed.promise;
  }

  /**
   * Starts the closing handshake (before the connection is established: abandons it).
   * `closeCode` must be 1000 or in 3000-4999, `reason` at most 123 bytes of UTF-8.
   */
  close(closeInfo?: WebSocketCloseInfo | null): void {
    // Web IDL: a dictionary argument given as undefined or null is the empty dictionary.
    closeInfo ??= {};
    const code = closeInfo.closeCode === undefined ? undefined : enforceUnsignedShort(closeInfo.closeCode);
    const args = checkCloseArguments(code, closeInfo.reason ?? '');
    this.#close(args.code, args.reason);
  }

  #close(code: number | undefined, reason: string): void {
    if (this.#ended || this.#handshakeAborted) return;
    if (!this.#established) {
      // "Fail the WebSocket connection": opened and closed reject when the attempt ends.
      this.#closing = true;
      this.client.terminate();
      return;
    }
    if (this.#closing) return;
    this.#closing = true;
    // The server's close frame may sit behind messages nobody reads any more: read on.
    this.client.resume();
    // With no code: a close frame with no body, as the WebSocket's close() sends.
    if (this.client.readyState === 'open') this.client.close(code ?? (reason ? CloseCode.NormalClosure : CloseCode.NoStatusReceived), reason);
  }

  /** The standard's "close using reason": a WebSocketError's code and reason, else a plain close. */
  #closeUsingReason(reason: unknown): void {
    let code: number | undefined;
    let text = '';
    if (reason instanceof DOMException && reason.name === 'WebSocketError') {
      const candidate = reason as DOMException & { closeCode?: unknown; reason?: unknown };
      try {
        const checked = checkCloseArguments(candidate.closeCode ?? undefined, candidate.reason ?? '');
        code = checked.code;
        text = checked.reason;
      } catch {
        // "If this throws, discard code and reason and close the WebSocket."
      }
    }
    this.#close(code, text);
  }

  #onOpen(response: HandshakeResponse): void {
    if (this.#handshakeAborted || this.#closing) return;
    const refusal = missingSubprotocol(this.#protocols, response);
    if (refusal) {
      // "Fail the WebSocket connection": opened and closed reject when the attempt ends.
      this.#failure = refusal;
      this.client.terminate();
      return;
    }
    this.#established = true;
    const readable = new ReadableStream<string | Uint8Array>(
      {
        start: (controller) => {
          this.#readable = controller;
        },
        // The reader wants more: read the socket again.
        pull: () => this.client.resume(),
        cancel: (reason) => {
          this.#readableDone = true;
          this.#closeUsingReason(reason);
        },
      },
      { highWaterMark: READABLE_HIGH_WATER_MARK_BYTES, size: (chunk) => (typeof chunk === 'string' ? chunk.length : chunk.byteLength) },
    );
    const writable = new WritableStream<string | ArrayBuffer | ArrayBufferView>({
      start: (controller) => {
        this.#writable = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#close(undefined, ''),
      abort: (reason) => this.#closeUsingReason(reason),
    });
    this.#opened.resolve({
      readable,
      writable,
      extensions: response.headers['sec-websocket-extensions'] ?? '',
      protocol: response.protocol ?? '',
    });
  }

  #onMessage(data: string | Buffer, isBinary: boolean): void {
    const controller = this.#readable;
    if (controller === undefined || this.#closing || this.#readableDone) return;
    controller.enqueue(isBinary ? ownBytes(data as Buffer) : (data as string));
    // Receive backpressure: once the queue is full, stop reading until pull() asks again.
    if ((controller.desiredSize ?? 0) <= 0) this.client.pause();
  }

  /** Sends one chunk; resolves when the client can take the next (its buffer is under the high-water mark). */
  #write(chunk: unknown): Promise<void> | void {
    let sent: boolean;
    if (typeof chunk === 'string') {
      if (this.client.readyState !== 'open') return; // the closing handshake started: nothing more is sent
      sent = this.client.send(chunk, { binary: false });
    } else if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) {
      if (this.client.readyState !== 'open') return;
      sent = this.client.send(bufferSourceView(chunk), { binary: true });
    } else {
      throw new TypeError('a WebSocketStream writes strings, ArrayBuffers and ArrayBuffer views');
    }
    if (sent) return;
    return new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
  }

  #wakeWriters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #onEnd(end: ConnectionEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wakeWriters();
    if (this.#handshakeAborted) return;
    const failure = end.failure ?? this.#failure;
    const failed = failure !== undefined || !this.#established;
    // RFC 6455 7.1.5: with no close frame received, the code is 1006; 7.1.4: clean means both close frames went.
    const code = failed ? 1006 : end.code;
    const reason = failed ? '' : end.reason;
    if (!this.#established) {
      this.#opened.reject(WebSocketStreamError.unchecked('the WebSocket connection was not established', code, reason, failure));
    }
    if (!failed && code !== 1006) {
      if (!this.#readableDone) this.#readable?.close(); // what is queued is still read first
      this.#writable?.error(domException('InvalidStateError', 'the WebSocketStream is closed: nothing more can be written'));
      this.#closed.resolve({ closeCode: code, reason });
      return;
    }
    const error = WebSocketStreamError.unchecked(failure?.message ?? 'the WebSocket connection closed uncleanly', code, reason, failure);
    if (!this.#readableDone) this.#readable?.error(error);
    this.#writable?.error(error);
    this.#closed.reject(error);
  }
}

/**
 * The message as a Uint8Array whose `buffer` is the message alone, as the
 * standard makes it (a new ArrayBuffer of the bytes): code that reads
 * `chunk.buffer` (a DataView over it, a transfer to a worker) must not see
 * the rest of the socket read, which holds other frames. A Buffer that
 * already owns its whole ArrayBuffer is wrapped without a copy.
 */
function ownBytes(data: Buffer): Uint8Array {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return new Uint8Array(data.buffer, 0, data.byteLength);
  return new Uint8Array(data);
}

/** Web IDL `[EnforceRange] unsigned short`: a finite number in 0..65535, truncated; else a TypeError. */
function enforceUnsignedShort(value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n) || Math.trunc(n) < 0 || Math.trunc(n) > 0xffff) {
    throw new TypeError(`closeCode ${String(value)} is not an unsigned short`);
  }
  return Math.trunc(n);
}
