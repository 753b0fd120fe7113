// The pieces of the web platform the standard interfaces share: event classes
// Node 20 lacks, DOMException helpers, and the argument checks the WHATWG
// WebSockets standard gives both `WebSocket` and `WebSocketStream`.
import { MAX_CLOSE_REASON_BYTES } from '../protocol/close.js';
import type { WebSocketError } from '../protocol/errors.js';

/** A `DOMException` with a standard name (`SyntaxError`, `InvalidStateError`, ...). */
export function domException(name: string, message: string, cause?: unknown): DOMException {
  const error = new DOMException(message, name);
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}

/** The DOM's `EventInit` (Node types it under its own name only). */
export interface EventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** What `new CloseEvent(type, init)` takes (HTML / WebSockets standard `CloseEventInit`). */
export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/**
 * The WebSockets standard's `CloseEvent` ("The CloseEvent interface"): Node 20
 * has no global one, so this is ours, with the same shape. `code` is the
 * close code (1005 when the server's close frame had none, 1006 when there
 * was no close frame), `wasClean` says both close frames were exchanged.
 */
export class CloseEvent extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.#wasClean = Boolean(init.wasClean);
    this.#code = clampUnsignedShort(init.code ?? 0);
    this.#reason = init.reason === undefined ? '' : String(init.reason);
  }

  get wasClean(): boolean {
    return this.#wasClean;
  }

  get code(): number {
    return this.#code;
  }

  get reason(): string {
    return this.#reason;
  }
}

/** What `new ErrorEvent(type, init)` takes. */
export interface ErrorEventInit extends EventInit {
  message?: string;
  error?: unknown;
}

/**
 * The `error` event of `WebSocket`. The standard fires a plain `Event`; this
 * subclass (as Node's own `WebSocket` does, with the HTML `ErrorEvent` shape)
 * also carries what went wrong: `error` is the wspipe `WebSocketError` with
 * its stable `code`, `message` its text.
 */
export class ErrorEvent extends Event {
  readonly #message: string;
  readonly #error: unknown;

  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.#message = init.message === undefined ? '' : String(init.message);
    this.#error = init.error;
  }

  get message(): string {
    return this.#message;
  }

  get error(): unknown {
    return this.#error;
  }
}

/** The error event for a failed connection, with the client's error when it reported one. */
export function errorEventFor(error: WebSocketError | undefined): ErrorEvent {
  return new ErrorEvent('error', { message: error?.message ?? 'the WebSocket connection failed', error });
}

/** Web IDL `[Clamp] unsigned short`: NaN is 0, clamp to 0..65535, round half to even. */
export function clampUnsignedShort(value: unknown): number {
  const n = Number(value);
  if (Number.isNaN(n)) return 0;
  const clamped = Math.min(Math.max(n, 0), 0xffff);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/** Web IDL `USVString`: lone surrogates become U+FFFD. */
export function toUSVString(value: unknown): string {
  // UTF-8 has no lone surrogates: Node encodes each as U+FFFD, so a round trip is the conversion.
  return Buffer.from(String(value), 'utf8').toString('utf8');
}

/**
 * The checks of `close(code, reason)` (WebSockets standard, "close the
 * WebSocket", steps 1-2): a code must be 1000 or in 3000-4999, else
 * `InvalidAccessError`; a reason over 123 bytes of UTF-8 is a `SyntaxError`.
 * Returns the code to send (1000 when only a reason is given; undefined when
 * neither is) and the reason.
 */
export function checkCloseArguments(code: unknown, reason: unknown): { code: number | undefined; reason: string } {
  let closeCode: number | undefined;
  if (code !== undefined) {
    closeCode = clampUnsignedShort(code);
    if (closeCode !== 1000 && !(closeCode >= 3000 && closeCode <= 4999)) {
      throw domException('InvalidAccessError', `close code ${closeCode} is neither 1000 nor in 3000-4999`);
    }
  }
  let text = '';
  if (reason !== undefined) {
    text = toUSVString(reason);
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_CLOSE_REASON_BYTES) {
      throw domException('SyntaxError', `the close reason is ${bytes} bytes of UTF-8; at most ${MAX_CLOSE_REASON_BYTES}`);
    }
  }
  // "If code is null and reason is not empty, set code to 1000" (a close frame with a reason has a code).
  if (closeCode === undefined && text !== '') closeCode = 1000;
  return { code: closeCode, reason: text };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The WebSockets standard's URL and subprotocol checks ("new WebSocket(url,
 * protocols)" steps 1-7, shared with `WebSocketStream`): parse, map `http:`
 * and `https:` to `ws:` and `wss:`, refuse any other scheme and any fragment,
 * refuse duplicate subprotocols and ones that are not RFC 7230 tokens (RFC
 * 6455 4.1, Sec-WebSocket-Protocol). Each failure is a `SyntaxError`.
 */
export function parseStandardUrl(input: unknown, protocols: readonly string[]): URL {
  let url: URL;
  try {
    // Node has no document base URL, so a relative URL does not parse.
    url = new URL(String(input));
  } catch (cause) {
    throw domException('SyntaxError', 'not a valid absolute URL', cause);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw domException('SyntaxError', `the URL scheme must be ws:, wss:, http: or https:, not ${url.protocol}`);
  }
  // A fragment is refused even when empty ("ws://host/#"): `hash` hides that case, the serialisation does not.
  if (url.href.includes('#')) throw domException('SyntaxError', 'a WebSocket URL cannot have a fragment');
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!TOKEN.test(protocol)) throw domException('SyntaxError', `subprotocol ${JSON.stringify(protocol)} is not a valid token`);
    if (seen.has(protocol)) throw domException('SyntaxError', `subprotocol ${JSON.stringify(protocol)} is given twice`);
    seen.add(protocol);
  }
  return url;
}

/** Web IDL `(DOMString or sequence<DOMString>)`, as the protocols argument. */
export function toProtocolList(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (typeof value === 'object' && value !== null && Symbol.iterator in value) return Array.from(value as Iterable<unknown>, String);
  return [String(value)];
}
