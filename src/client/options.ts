import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { DEFAULT_BACKOFF, type BackoffPolicy, type EndReason } from '../protocol/backoff.js';
import { ErrorCode, UsageError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-decoder.js';
import { validateHeaders, validateProtocols } from '../protocol/handshake.js';
import {
  checkBoolean,
  checkDuration,
  checkEnum,
  checkFunction,
  checkKnownKeys,
  checkSize,
  invalidOption,
  isPlainObject,
} from '../protocol/option-checks.js';
import { parseProxyUrl } from './proxy.js';
import { isUnixSocketUrl, parseUnixSocketUrl } from './unix-url.js';
import { normalizeDeflateOptions, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from '../protocol/permessage-deflate.js';

/** What `createConnection` is given. */
export interface ConnectTarget {
  host: string;
  port: number;
  /** True for `wss:`: the returned stream must already speak TLS, or be wrapped by the caller. */
  secure: boolean;
  /** The unix socket path for `ws+unix:` URLs. */
  socketPath?: string | undefined;
  /** Aborted when the attempt is abandoned (timeout, close, terminate). */
  signal: AbortSignal;
}

/** Automatic reconnection: a backoff policy and a say on which endings to retry. */
export interface ReconnectOptions extends Partial<BackoffPolicy> {
  /** Decides whether to retry; the default retries network failures, 5xx and 1001/1006/1011-1014. */
  shouldReconnect?: (reason: EndReason) => boolean;
}

/**
 * Extra handshake headers: a plain object (`{ name: value | value[] }`), a
 * WHATWG `Headers`, a `Map`, or a list of `[name, value]` pairs (a name may
 * repeat).
 */
export type HandshakeHeaders =
  | Record<string, string | readonly string[]>
  | Headers
  | ReadonlyMap<string, string | readonly string[]>
  | ReadonlyArray<readonly [string, string]>;

/** Options of `WebSocketClient`. Durations are in milliseconds, sizes in bytes. */
export interface WebSocketClientOptions {
  /** Extra HTTP headers for the opening handshake (a Cookie, an Authorization, ...). */
  headers?: HandshakeHeaders;
  /** Subprotocols to offer, in order of preference: one name or a list. */
  protocols?: string | readonly string[];
  /** The Origin header. Not sent by default. */
  origin?: string;
  /** The connect and the opening handshake must finish within this. Default 10,000; 0 waits forever. */
  handshakeTimeoutMs?: number;
  /**
   * The frame type of every `send()` unless the call says otherwise (the
   * reference's `websocketType`). Default: by the data, as `ws` and the
   * WHATWG API do: a string is a text message, binary data a binary one.
   */
  messageType?: 'text' | 'binary';
  /** Send a ping this often once open; 0 disables. Default 0. */
  pingIntervalMs?: number;
  /** Fail the connection when a ping's pong is this late. Default: `pingIntervalMs`. */
  pongTimeoutMs?: number;
  /** How long the close handshake may take before the socket is destroyed. Default 5,000. */
  closeTimeoutMs?: number;
  /** Largest message accepted; larger fails the connection with 1009 before buffering. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Bytes `send()` may queue while not open (before the handshake, or between reconnects). Default 16 MiB. */
  maxQueuedBytes?: number;
  /** Outgoing bytes buffered before `send()` returns false and `'bufferFull'` fires. Default 1 MiB. */
  highWaterMarkBytes?: number;
  /**
   * A binary message that spans reads: one `Buffer` (`'concat'`, one copy), the list of views
   * (`'list'`, no copy), or (`'stream'`) every binary message as a `Readable` of its pieces as they
   * arrive, in a `'messageStream'` event instead of `'message'`: any size in bounded memory (raise
   * `maxMessageBytes` to match). A compressed message is inflated whole first.
   */
  fragments?: 'concat' | 'list' | 'stream';
  /** TLS options for `wss:` (ca, cert, key, servername, rejectUnauthorized, ...). */
  tls?: TlsConnectionOptions;
  /** Reconnect automatically when the connection ends for a retryable reason. Default off. */
  reconnect?: boolean | ReconnectOptions;
  /** Open the transport yourself (any Duplex): a proxy tunnel, a test pipe, ... */
  createConnection?: (target: ConnectTarget) => Duplex | Promise<Duplex>;
  /** Aborting it terminates the connection and stops reconnecting. */
  signal?: AbortSignal;
  /**
   * Connect through a proxy: `http://[user:pass@]host:port` (HTTP CONNECT),
   * `socks5://` (the target name resolved here) or `socks5h://` (resolved by
   * the proxy). `wss:` runs TLS to the target inside the tunnel.
   */
  proxy?: string | URL;
  /** Take the proxy from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, honouring NO_PROXY. Default false. */
  proxyFromEnv?: boolean;
  /** Follow 301/302/303/307/308 answers to the handshake. Default false. */
  followRedirects?: boolean;
  /** With `followRedirects`: at most this many in a row. Default 5. */
  maxRedirects?: number;
  /**
   * Offer permessage-deflate compression (RFC 7692): its options, or `false`
   * not to offer it. Default: offered with default options; the server decides.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

/** Options with defaults filled in. */
export interface ResolvedOptions {
  headers: Record<string, string | string[]> | undefined;
  protocols: string[];
  origin: string | undefined;
  handshakeTimeoutMs: number;
  /** Undefined: by the data sent. */
  messageType: 'text' | 'binary' | undefined;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  closeTimeoutMs: number;
  maxMessageBytes: number;
  maxQueuedBytes: number;
  highWaterMarkBytes: number;
  fragments: 'concat' | 'list' | 'stream';
  tls: TlsConnectionOptions | undefined;
  reconnect: (BackoffPolicy & { shouldReconnect?: (reason: EndReason) => boolean }) | undefined;
  createConnection: WebSocketClientOptions['createConnection'];
  signal: AbortSignal | undefined;
  perMessageDeflate: ResolvedDeflateOptions | undefined;
  proxy: string | URL | undefined;
  proxyFromEnv: boolean;
  followRedirects: boolean;
  maxRedirects: number;
}

/** Where to connect, from the URL. */
export interface ParsedUrl {
  url: URL;
  secure: boolean;
  host: string;
  port: number;
  /** The Host header value. */
  hostHeader: string;
  /** Path and query. */
  path: string;
  /** For `ws+unix:` URLs: the socket file. */
  socketPath?: string;
}

/** The Authorization header that `user:password@` in a URL stands for, if any. */
export function urlAuthorization(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

/** `url` without its credentials, for display: `url.href` itself (the same string) when it has none. */
export function redactUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/**
 * Parses and checks a `ws:` or `wss:` URL (RFC 6455 3), or a `ws+unix:` /
 * `wss+unix:` one. Credentials in the URL become a Basic Authorization
 * header (see `urlAuthorization`) and are kept out of `url`.
 */
export function parseWebSocketUrl(input: string | URL): ParsedUrl {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch (cause) {
    // The input is not quoted back: it may carry credentials.
    throw new UsageError(ErrorCode.InvalidUrl, 'not a valid URL', { cause });
  }
  if (isUnixSocketUrl(url)) {
    const unix = parseUnixSocketUrl(url);
    return { url, secure: unix.secure, host: 'localhost', port: 0, hostHeader: 'localhost', path: unix.path, socketPath: unix.socketPath };
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UsageError(ErrorCode.InvalidUrl, `unsupported scheme ${url.protocol} (use ws: or wss:)`);
  }
  // RFC 6455 3: "Fragment identifiers are meaningless in the context of WebSocket URIs and MUST NOT be used".
  if (url.hash !== '') throw new UsageError(ErrorCode.InvalidUrl, 'a WebSocket URL cannot have a #fragment');
  if (url.hostname === '') throw new UsageError(ErrorCode.InvalidUrl, 'the URL has no host');
  const secure = url.protocol === 'wss:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const hostHeader = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
  return { url, secure, host, port, hostHeader, path: (url.pathname || '/') + url.search };
}

/** The TLS server name: the host, unless it is an IP address (RFC 6066 3 forbids those in SNI). */
export function defaultServername(host: string): string | undefined {
  return isIP(host) === 0 ? host : undefined;
}

/** Every option name, so that a misspelt one is refused rather than ignored. */
const OPTION_NAMES: Record<keyof WebSocketClientOptions, true> = {
  headers: true,
  protocols: true,
  origin: true,
  handshakeTimeoutMs: true,
  messageType: true,
  pingIntervalMs: true,
  pongTimeoutMs: true,
  closeTimeoutMs: true,
  maxMessageBytes: true,
  maxQueuedBytes: true,
  highWaterMarkBytes: true,
  fragments: true,
  tls: true,
  reconnect: true,
  createConnection: true,
  signal: true,
  proxy: true,
  proxyFromEnv: true,
  followRedirects: true,
  maxRedirects: true,
  perMessageDeflate: true,
};

const OPTION_NAME_LIST = Object.keys(OPTION_NAMES);

const RECONNECT_NAMES: Record<keyof ReconnectOptions, true> = {
  initialDelayMs: true,
  maxDelayMs: true,
  multiplier: true,
  jitter: true,
  maxAttempts: true,
  resetAfterMs: true,
  shouldReconnect: true,
};

const RECONNECT_NAME_LIST = Object.keys(RECONNECT_NAMES);

/**
 * Checks every option (a plain JavaScript caller gets no help from the
 * types) and fills in the defaults. Throws a `UsageError` with
 * `WSP_ERR_INVALID_OPTION` that names the option and says what it takes, or
 * `WSP_ERR_INVALID_HEADER` for a header that cannot be sent.
 */
export function resolveOptions(options: WebSocketClientOptions = {}): ResolvedOptions {
  if (!isObject(options)) invalidOption('options', 'an object', options);
  const node = isPlainObject(options) ? plainOptionsNode(options as Record<string, unknown>) : undefined;
  if (node?.resolved !== undefined) return node.resolved;
  const resolved = resolveAll(options);
  if (node !== undefined) node.resolved = Object.freeze(resolved);
  return resolved;
}

/**
 * Resolved options shared by the clients given the same options of plain
 * values (numbers, strings, booleans): a pool of a thousand clients made
 * alike holds one object of options, not a thousand (issue 12). Frozen, as
 * they are shared. Options holding an object (headers, tls, a signal, a
 * function, ...) are resolved for each client.
 *
 * A tree with a level per option given, in the order given: from a node,
 * option name, then its value (a Map key: '1' is not 1), lead to the next.
 * Looking up builds nothing, not even a string key. At most
 * `PLAIN_OPTIONS_MAX_NODES` nodes; when full, it starts again empty.
 */
interface PlainOptionsNode {
  resolved: ResolvedOptions | undefined;
  next: Map<string, Map<unknown, PlainOptionsNode>> | undefined;
}

let plainOptionsRoot: PlainOptionsNode = { resolved: undefined, next: undefined };
let plainOptionsNodes = 0;
const PLAIN_OPTIONS_MAX_NODES = 256;

/** The node of `options`' plain values (made if new), or undefined when one is not a plain value or a name is not an option. */
function plainOptionsNode(options: Record<string, unknown>): PlainOptionsNode | undefined {
  let node = plainOptionsRoot;
  for (const name in options) {
    if (!Object.hasOwn(OPTION_NAMES, name)) return undefined; // resolveAll() refuses it
    const value = options[name];
    const type = typeof value;
    if (type !== 'number' && type !== 'string' && type !== 'boolean' && value !== undefined) return undefined;
    const byValue = (node.next ??= new Map()).get(name) ?? new Map<unknown, PlainOptionsNode>();
    if (byValue.size === 0) node.next.set(name, byValue);
    let child = byValue.get(value);
    if (child === undefined) {
      if (++plainOptionsNodes > PLAIN_OPTIONS_MAX_NODES) {
        plainOptionsRoot = { resolved: undefined, next: undefined };
        plainOptionsNodes = 0;
        return undefined;
      }
      child = { resolved: undefined, next: undefined };
      byValue.set(value, child);
    }
    node = child;
  }
  return node;
}

function resolveAll(options: WebSocketClientOptions): ResolvedOptions {
  checkKnownKeys('', options, OPTION_NAME_LIST);
  const o = options as Record<keyof WebSocketClientOptions, unknown>;
  const headers = normalizeHeaders(o.headers);
  validateHeaders(headers);
  const pingIntervalMs = checkDuration('pingIntervalMs', o.pingIntervalMs, 0);
  if (o.origin !== undefined && typeof o.origin !== 'string') invalidOption('origin', 'a string', o.origin);
  if (o.tls !== undefined && !isObject(o.tls)) {
    // The keys are Node's tls.connect options: Node checks them, and new ones come with new Node versions.
    invalidOption('tls', 'an object of tls.connect options', o.tls);
  }
  if (o.signal !== undefined && !isAbortSignal(o.signal)) invalidOption('signal', 'an AbortSignal', o.signal);
  return overDefaults({
    headers,
    protocols: normalizeProtocols(o.protocols),
    origin: o.origin as string | undefined,
    handshakeTimeoutMs: checkDuration('handshakeTimeoutMs', o.handshakeTimeoutMs, DEFAULT_OPTIONS.handshakeTimeoutMs),
    messageType: checkEnum<'text' | 'binary', undefined>('messageType', o.messageType, ['text', 'binary'], undefined),
    pingIntervalMs,
    pongTimeoutMs: checkDuration('pongTimeoutMs', o.pongTimeoutMs, pingIntervalMs),
    closeTimeoutMs: checkDuration('closeTimeoutMs', o.closeTimeoutMs, DEFAULT_OPTIONS.closeTimeoutMs),
    maxMessageBytes: checkSize('maxMessageBytes', o.maxMessageBytes, DEFAULT_OPTIONS.maxMessageBytes),
    maxQueuedBytes: checkSize('maxQueuedBytes', o.maxQueuedBytes, DEFAULT_OPTIONS.maxQueuedBytes),
    highWaterMarkBytes: checkSize('highWaterMarkBytes', o.highWaterMarkBytes, DEFAULT_OPTIONS.highWaterMarkBytes),
    fragments: checkEnum('fragments', o.fragments, ['concat', 'list', 'stream'], 'concat'),
    tls: o.tls as TlsConnectionOptions | undefined,
    reconnect: resolveReconnect(o.reconnect),
    createConnection: checkFunction('createConnection', o.createConnection),
    signal: o.signal as AbortSignal | undefined,
    perMessageDeflate: resolveDeflate(o.perMessageDeflate),
    proxy: checkProxy(o.proxy),
    proxyFromEnv: checkBoolean('proxyFromEnv', o.proxyFromEnv, false),
    followRedirects: checkBoolean('followRedirects', o.followRedirects, false),
    maxRedirects: checkSize('maxRedirects', o.maxRedirects, DEFAULT_OPTIONS.maxRedirects),
  });
}

/** The permessage-deflate options offered when none are given; shared, so frozen. */
const DEFAULT_DEFLATE: ResolvedDeflateOptions = Object.freeze(normalizeDeflateOptions({}));

/** `reconnect: true`: the default policy, shared, so frozen. */
const DEFAULT_RECONNECT: NonNullable<ResolvedOptions['reconnect']> = Object.freeze({ ...DEFAULT_BACKOFF, shouldReconnect: undefined });

/**
 * Every option at its default, one frozen object for all clients: the
 * resolved options of a client inherit from it and hold as their own only
 * the options that differ (issue 12: an idle connection keeps a few bytes of
 * options, not a copy of every default). Never mutated, though not frozen:
 * a frozen prototype's properties could not be shadowed by assignment.
 */
const DEFAULT_OPTIONS: Readonly<ResolvedOptions> = {
  headers: undefined,
  protocols: Object.freeze([]) as unknown as string[],
  origin: undefined,
  handshakeTimeoutMs: 10_000,
  messageType: undefined,
  pingIntervalMs: 0,
  pongTimeoutMs: 0,
  closeTimeoutMs: 5_000,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxQueuedBytes: 16 * 1024 * 1024,
  highWaterMarkBytes: 1024 * 1024,
  fragments: 'concat',
  tls: undefined,
  reconnect: undefined,
  createConnection: undefined,
  signal: undefined,
  perMessageDeflate: DEFAULT_DEFLATE,
  proxy: undefined,
  proxyFromEnv: false,
  followRedirects: false,
  maxRedirects: 5,
};

const RESOLVED_NAMES = Object.keys(DEFAULT_OPTIONS) as (keyof ResolvedOptions)[];

/** `resolved` as an object over `DEFAULT_OPTIONS` that holds only what differs from it. */
function overDefaults(resolved: ResolvedOptions): ResolvedOptions {
  const own = Object.create(DEFAULT_OPTIONS) as Record<keyof ResolvedOptions, unknown>;
  for (const name of RESOLVED_NAMES) {
    if (resolved[name] !== DEFAULT_OPTIONS[name]) own[name] = resolved[name];
  }
  return own as unknown as ResolvedOptions;
}

function resolveReconnect(value: unknown): ResolvedOptions['reconnect'] {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_RECONNECT;
  if (!isObject(value)) invalidOption('reconnect', 'true, false or an object of reconnect options', value);
  const r = value as Record<string, unknown>;
  checkKnownKeys('reconnect', r, RECONNECT_NAME_LIST);
  const multiplier = r.multiplier ?? DEFAULT_BACKOFF.multiplier;
  if (typeof multiplier !== 'number' || !Number.isFinite(multiplier) || multiplier < 1) {
    invalidOption('reconnect.multiplier', 'a finite number >= 1', multiplier);
  }
  const maxAttempts = r.maxAttempts ?? DEFAULT_BACKOFF.maxAttempts;
  if (maxAttempts !== Infinity && (typeof maxAttempts !== 'number' || !Number.isSafeInteger(maxAttempts) || maxAttempts < 0)) {
    invalidOption('reconnect.maxAttempts', 'a non-negative integer, or Infinity (never give up)', maxAttempts);
  }
  return {
    initialDelayMs: checkDuration('reconnect.initialDelayMs', r.initialDelayMs, DEFAULT_BACKOFF.initialDelayMs),
    maxDelayMs: checkDuration('reconnect.maxDelayMs', r.maxDelayMs, DEFAULT_BACKOFF.maxDelayMs),
    multiplier,
    jitter: checkEnum('reconnect.jitter', r.jitter, ['full', 'none'], DEFAULT_BACKOFF.jitter),
    maxAttempts: maxAttempts as number,
    resetAfterMs: checkDuration('reconnect.resetAfterMs', r.resetAfterMs, DEFAULT_BACKOFF.resetAfterMs),
    shouldReconnect: checkFunction('reconnect.shouldReconnect', r.shouldReconnect),
  };
}

function resolveDeflate(value: unknown): ResolvedDeflateOptions | undefined {
  // On unless turned off, as in browsers, ws and python-websockets: the server decides.
  if (value === false) return undefined;
  if (value === undefined || value === true) return DEFAULT_DEFLATE;
  if (!isObject(value)) invalidOption('perMessageDeflate', 'true, false or an object of permessage-deflate options', value);
  return normalizeDeflateOptions(value as PerMessageDeflateOptions);
}

/**
 * The headers as the record the handshake is built from. Names keep the case
 * given (a `Headers` gives them in lower case); a name given twice in a list
 * of pairs is sent twice, in order.
 */
function normalizeHeaders(value: unknown): Record<string, string | string[]> | undefined {
  if (value === undefined) return undefined;
  const record: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const add = (name: unknown, v: unknown, nameLabel: string): void => {
    if (typeof name !== 'string') invalidOption(nameLabel, 'a string (a header name)', name);
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) {
      // Only the type of a bad value is named; a string value is checked (without being quoted) by validateHeaders.
      if (typeof one !== 'string') invalidOption(`headers[${JSON.stringify(name)}]`, 'a string or an array of strings', one);
    }
    const previous = record[name];
    if (previous === undefined) record[name] = Array.isArray(v) ? [...(v as string[])] : (v as string);
    else record[name] = [...(Array.isArray(previous) ? previous : [previous]), ...(values as string[])];
  };
  if (isHeaders(value)) {
    for (const [name, v] of value.entries()) add(name, v, 'a headers name');
  } else if (value instanceof Map) {
    for (const [name, v] of value) add(name, v, 'a key of the headers Map');
  } else if (Array.isArray(value)) {
    value.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) invalidOption(`headers[${i}]`, 'a [name, value] pair', pair);
      add(pair[0], pair[1], `headers[${i}][0]`);
    });
  } else if (isPlainObject(value)) {
    for (const [name, v] of Object.entries(value)) add(name, v, 'a headers name');
  } else {
    invalidOption('headers', 'a plain object, a Headers, a Map or an array of [name, value] pairs', value);
  }
  return { ...record };
}

function normalizeProtocols(value: unknown): string[] {
  if (value === undefined) return DEFAULT_OPTIONS.protocols;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) invalidOption('protocols', 'a string or an array of strings', value);
  validateProtocols(list);
  return [...(list as string[])];
}

/** An object that can hold options: not null, not an array. */
function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A WHATWG `Headers`, also one from another copy of undici or another realm. */
function isHeaders(value: unknown): value is Headers {
  return value instanceof Headers || Object.prototype.toString.call(value) === '[object Headers]';
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return value instanceof AbortSignal || Object.prototype.toString.call(value) === '[object AbortSignal]';
}

function checkProxy(proxy: unknown): string | URL | undefined {
  if (proxy === undefined || proxy === '') return undefined;
  if (typeof proxy !== 'string' && !(proxy instanceof URL)) {
    invalidOption('proxy', "a proxy URL (a string or a URL: 'http://host:port', 'socks5://...', 'socks5h://...')", proxy);
  }
  parseProxyUrl(proxy); // throws a UsageError that does not repeat the URL
  return proxy;
}
