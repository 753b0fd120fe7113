import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { DEFAULT_BACKOFF, type BackoffPolicy, type EndReason } from '../protocol/backoff.js';
import { ErrorCode, UsageError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-decoder.js';
import { validateHeaders } from '../protocol/handshake.js';
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

/** Options of `WebSocketClient`. Durations are in milliseconds, sizes in bytes. */
export interface WebSocketClientOptions {
  /** Extra HTTP headers for the opening handshake (a Cookie, an Authorization, ...). */
  headers?: Record<string, string | string[]>;
  /** Subprotocols to offer, in order of preference. */
  protocols?: string[];
  /** The Origin header. Not sent by default. */
  origin?: string;
  /** The connect and the opening handshake must finish within this. Default 10,000; 0 waits forever. */
  handshakeTimeoutMs?: number;
  /** The frame type `send()` uses unless told otherwise. Default `'text'`. */
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
  messageType: 'text' | 'binary';
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

/** `url` without its credentials, for display. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new UsageError(ErrorCode.InvalidOption, `${name} must be a number >= 0`);
  }
  return value;
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

export function resolveOptions(options: WebSocketClientOptions = {}): ResolvedOptions {
  validateHeaders(options.headers);
  const pingIntervalMs = nonNegative('pingIntervalMs', options.pingIntervalMs, 0);
  const messageType = options.messageType ?? 'text';
  if (messageType !== 'text' && messageType !== 'binary') {
    throw new UsageError(ErrorCode.InvalidOption, "messageType must be 'text' or 'binary'");
  }
  const fragments = options.fragments ?? 'concat';
  if (fragments !== 'concat' && fragments !== 'list' && fragments !== 'stream') {
    throw new UsageError(ErrorCode.InvalidOption, "fragments must be 'concat', 'list' or 'stream'");
  }
  let reconnect: ResolvedOptions['reconnect'];
  if (options.reconnect) {
    const r = options.reconnect === true ? {} : options.reconnect;
    reconnect = {
      initialDelayMs: nonNegative('reconnect.initialDelayMs', r.initialDelayMs, DEFAULT_BACKOFF.initialDelayMs),
      maxDelayMs: nonNegative('reconnect.maxDelayMs', r.maxDelayMs, DEFAULT_BACKOFF.maxDelayMs),
      multiplier: nonNegative('reconnect.multiplier', r.multiplier, DEFAULT_BACKOFF.multiplier),
      jitter: r.jitter ?? DEFAULT_BACKOFF.jitter,
      maxAttempts: nonNegative('reconnect.maxAttempts', r.maxAttempts, DEFAULT_BACKOFF.maxAttempts),
      resetAfterMs: nonNegative('reconnect.resetAfterMs', r.resetAfterMs, DEFAULT_BACKOFF.resetAfterMs),
      shouldReconnect: r.shouldReconnect,
    };
  }
  return {
    headers: options.headers,
    protocols: options.protocols ?? [],
    origin: options.origin,
    handshakeTimeoutMs: nonNegative('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000),
    messageType,
    pingIntervalMs,
    pongTimeoutMs: nonNegative('pongTimeoutMs', options.pongTimeoutMs, pingIntervalMs),
    closeTimeoutMs: nonNegative('closeTimeoutMs', options.closeTimeoutMs, 5_000),
    maxMessageBytes: nonNegative('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    maxQueuedBytes: nonNegative('maxQueuedBytes', options.maxQueuedBytes, 16 * 1024 * 1024),
    highWaterMarkBytes: nonNegative('highWaterMarkBytes', options.highWaterMarkBytes, 1024 * 1024),
    fragments,
    tls: options.tls,
    reconnect,
    createConnection: options.createConnection,
    signal: options.signal,
    // On unless turned off, as in browsers, ws and python-websockets: the server decides.
    perMessageDeflate:
      options.perMessageDeflate === false
        ? undefined
        : normalizeDeflateOptions(options.perMessageDeflate === true || options.perMessageDeflate === undefined ? {} : options.perMessageDeflate),
    proxy: checkProxy(options.proxy),
    proxyFromEnv: options.proxyFromEnv ?? false,
    followRedirects: options.followRedirects ?? false,
    maxRedirects: nonNegative('maxRedirects', options.maxRedirects, 5),
  };
}

function checkProxy(proxy: string | URL | undefined): string | URL | undefined {
  if (proxy === undefined || proxy === '') return undefined;
  parseProxyUrl(proxy); // throws a UsageError that does not repeat the URL
  return proxy;
}
