import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ConnectionError, ErrorCode, WebSocketError } from '../protocol/errors.js';
import { defaultServername, type ConnectTarget } from './options.js';
import { openProxyTunnel } from './proxy.js';

/** Where and how to open a transport for one WebSocket connection. */
export interface TransportRequest {
  /** The target host (a name or an IP literal, IPv6 without brackets). */
  host: string;
  port: number;
  /** `wss:`: TLS to the target (inside the tunnel when there is a proxy). */
  secure: boolean;
  /** A unix domain socket instead of TCP. */
  socketPath?: string | undefined;
  /** `tls.connect` options for `secure`; SNI defaults to the host, except for IP addresses. */
  tls?: tls.ConnectionOptions | undefined;
  /** An HTTP CONNECT or SOCKS5 proxy to tunnel through. */
  proxy?: string | URL | undefined;
  /** Limit on opening the proxy tunnel (default: the proxy module's). */
  proxyTimeoutMs?: number | undefined;
  /** Brings its own transport; for `secure` it must already speak TLS. */
  createConnection?: ((target: ConnectTarget) => Duplex | Promise<Duplex>) | undefined;
  /** Aborting it destroys whatever is being opened and rejects. */
  signal: AbortSignal;
  /**
   * `net.connect`'s `onread`, for the plain TCP and unix sockets opened here
   * (not TLS, a proxy tunnel or `createConnection`): such a socket emits no
   * 'data' and hands its reads to `onread.callback` instead.
   */
  onread?: net.OnReadOpts | undefined;
  /** Called when TCP is up and the TLS handshake starts (when that moment can be seen). */
  onTlsStart?: (() => void) | undefined;
}

/**
 * Opens the transport of one WebSocket connection: TCP, TLS, a unix socket,
 * a proxy tunnel (then TLS to the target inside it), or the caller's
 * `createConnection`. Resolves with the stream once it is ready for the
 * opening handshake request (connected, and TLS verified), with no listeners
 * of ours left on it after the next turn of the event loop.
 *
 * Rejects with a `ConnectionError`: `WSP_ERR_CONNECT_FAILED`,
 * `WSP_ERR_TLS_FAILED` (handshake or certificate), `WSP_ERR_ABORTED`, or a
 * `ProxyError` from the tunnel. Exported for code (such as a relay) that
 * wants the same transports as the client.
 */
export async function openTransport(request: TransportRequest): Promise<Duplex> {
  const { host, port, secure, socketPath, signal } = request;
  if (signal.aborted) throw aborted();
  if (request.createConnection) {
    let stream: Duplex;
    try {
      stream = await request.createConnection({ host, port, secure, socketPath, signal });
    } catch (cause) {
      throw toConnectionError(cause);
    }
    // A stream from createConnection is ready unless it is a socket still connecting.
    return whenReady(stream, (stream as net.Socket).connecting === true ? 'connect' : undefined, signal);
  }
  // A unix socket is never tunnelled: `socketPath` wins over `proxy`.
  if (socketPath === undefined && request.proxy !== undefined) {
    const tunnel = await openProxyTunnel({ proxy: request.proxy, host, port, signal, timeoutMs: request.proxyTimeoutMs });
    if (!secure) return tunnel;
    request.onTlsStart?.();
    // TLS to the target inside the tunnel. `host` is what Node checks the
    // certificate against (checkServerIdentity), `servername` the SNI (names
    // only, RFC 6066 3): both the target's, exactly as without a proxy. Without
    // `host`, Node would check against the tunnel socket's host: the proxy.
    return whenReady(tls.connect({ ...tlsOptions(request), socket: tunnel, host }), 'secureConnect', signal);
  }
  const socket = openSocket(request);
  return whenReady(socket, secure ? 'secureConnect' : 'connect', signal, secure && socketPath === undefined ? request.onTlsStart : undefined);
}

/** What `connectTransport` opens: a plain TCP, TLS or unix socket (no proxy, no `createConnection`). */
export type DirectTransportRequest = Omit<TransportRequest, 'proxy' | 'proxyTimeoutMs' | 'createConnection' | 'signal' | 'onTlsStart'>;

/**
 * Where `connectTransport` reports, through methods of one object: no
 * promise and no closures per connection (issue 12: the garbage of every
 * handshake stays resident as young-generation pages).
 */
export interface TransportSink {
  /** TCP is up and the TLS handshake starts (TLS over TCP only). */
  transportTcpConnected?(): void;
  /** The socket is ready for the request (connected, TLS verified); our listeners are gone. */
  transportReady(socket: Duplex): void;
  /** Opening failed; the socket is destroyed. Never called after `cancelTransport()`. */
  transportFailed(error: WebSocketError): void;
  /**
   * Our 'error' listener stays one turn after `transportReady`, for a caller
   * that attaches its own only later (after a promise settles). Without it,
   * the sink must listen for 'error' within `transportReady`.
   */
  readonly keepErrorListenerOneTurn?: boolean;
}

/**
 * Opens a plain TCP, TLS or unix socket as `openTransport` does, reporting
 * to `sink` instead of settling a promise: the cheap path of every client
 * without a proxy or `createConnection`. Returns the socket being opened,
 * which `cancelTransport()` cancels (the sink then hears nothing more).
 * The sink must listen for the socket's 'error' itself in `transportReady`.
 */
export function connectTransport(request: DirectTransportRequest, sink: TransportSink): Duplex | undefined {
  let socket: net.Socket;
  try {
    socket = openSocket(request);
  } catch (cause) {
    // As from openTransport: reported later, never from inside the caller's call.
    queueMicrotask(() => sink.transportFailed(toConnectionError(cause)));
    return undefined;
  }
  watch(socket, request.secure ? 'secureConnect' : 'connect', sink, request.secure && request.socketPath === undefined);
  return socket;
}

/** Cancels a transport being opened by `connectTransport`: our listeners go, the socket is destroyed, nothing is reported. */
export function cancelTransport(stream: Duplex): void {
  unwatch(stream as Watched);
  stream.destroy();
}

function openSocket(request: DirectTransportRequest): net.Socket {
  const { host, port, secure, socketPath, onread } = request;
  if (socketPath !== undefined) return secure ? tls.connect({ ...tlsOptions(request), path: socketPath }) : net.connect({ path: socketPath, onread });
  return secure ? tls.connect({ ...tlsOptions(request), host, port }) : net.connect({ host, port, onread });
}

function tlsOptions(request: DirectTransportRequest): tls.ConnectionOptions {
  return {
    ...request.tls,
    servername: request.tls?.servername ?? defaultServername(request.host),
    ALPNProtocols: ['http/1.1'],
  };
}

function aborted(): ConnectionError {
  return new ConnectionError(ErrorCode.Aborted, 'opening the connection was aborted');
}

/** Resolves with `stream` once `readyEvent` fires (at once without one); rejects on error, close or abort. */
function whenReady(stream: Duplex, readyEvent: ReadyEvent | undefined, signal: AbortSignal, onTlsStart?: () => void): Promise<Duplex> {
  if (signal.aborted) {
    stream.destroy();
    return Promise.reject(aborted());
  }
  if (readyEvent === undefined) return Promise.resolve(stream);
  return new Promise<Duplex>((resolve, reject) => {
    const onAbort = (): void => settle(stream as Watched, aborted());
    const sink: TransportSink = {
      transportTcpConnected: onTlsStart,
      transportReady: (ready) => {
        signal.removeEventListener('abort', onAbort);
        resolve(ready);
      },
      transportFailed: (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
      keepErrorListenerOneTurn: true,
    };
    watch(stream, readyEvent, sink, onTlsStart !== undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// The listeners of a transport being opened are shared functions that find
// their sink on the stream: nothing is made per connection but the property.
type ReadyEvent = 'connect' | 'secureConnect';
const SINK = Symbol('wspipe.transportSink');
type Watched = Duplex & { [SINK]?: TransportSink };

/**
 * Reports `readyEvent`, an error or a close before it to `sink`, once.
 * `tcpHook`: TCP's 'connect' goes to `sink.transportTcpConnected`.
 */
function watch(stream: Duplex, readyEvent: ReadyEvent, sink: TransportSink, tcpHook: boolean): void {
  (stream as Watched)[SINK] = sink;
  if (tcpHook) stream.on('connect', onOpeningTcp);
  stream.on(readyEvent, onOpeningReady);
  stream.on('error', onOpeningError);
  stream.on('close', onOpeningClose);
}

function unwatch(stream: Watched): void {
  // Deleted, not set to undefined: the last property added goes without a trace on the socket kept for life.
  delete stream[SINK];
  stream.off('connect', onOpeningTcp);
  stream.off('connect', onOpeningReady);
  stream.off('secureConnect', onOpeningReady);
  stream.off('close', onOpeningClose);
  // 'error' stays: see settle().
}

function settle(stream: Watched, error: WebSocketError | undefined): void {
  const sink = stream[SINK];
  if (sink === undefined) return;
  unwatch(stream);
  if (error) {
    // Our 'error' listener stays on the destroyed stream: a late error must not go unhandled.
    stream.destroy();
    sink.transportFailed(error);
    return;
  }
  sink.transportReady(stream);
  // Kept for one turn, so that an 'error' emitted before the caller attached its own listener is not unhandled.
  if (sink.keepErrorListenerOneTurn === true) setImmediate(stopHearingErrors, stream);
  else stream.off('error', onOpeningError);
}

function stopHearingErrors(stream: Duplex): void {
  stream.off('error', onOpeningError);
}

function onOpeningTcp(this: Watched): void {
  this[SINK]?.transportTcpConnected?.();
}

function onOpeningReady(this: Watched): void {
  settle(this, undefined);
}

function onOpeningError(this: Watched, error: unknown): void {
  settle(this, toConnectionError(error));
}

function onOpeningClose(this: Watched): void {
  settle(this, new ConnectionError(ErrorCode.ConnectFailed, 'could not connect: the transport closed before it was ready'));
}

const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

/**
 * A transport error as a typed error: TLS failures (handshake, certificate)
 * as `WSP_ERR_TLS_FAILED`, others as `WSP_ERR_CONNECT_FAILED` before the
 * transport was up, `WSP_ERR_CONNECTION_LOST` after.
 */
export function toConnectionError(cause: unknown, connected = false): WebSocketError {
  if (cause instanceof WebSocketError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = (cause as Error | undefined)?.message ?? String(cause);
  if (TLS_ERROR.test(code)) return new ConnectionError(ErrorCode.TlsFailed, `TLS failed: ${message}`, { cause });
  if (!connected) return new ConnectionError(ErrorCode.ConnectFailed, `could not connect: ${message}`, { cause });
  return new ConnectionError(ErrorCode.ConnectionLost, `connection error: ${message}`, { cause });
}
