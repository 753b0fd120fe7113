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
  if (socketPath !== undefined) {
    if (secure) return whenReady(tls.connect({ ...tlsOptions(request), path: socketPath }), 'secureConnect', signal);
    return whenReady(net.connect({ path: socketPath, onread: request.onread }), 'connect', signal);
  }
  if (request.proxy !== undefined) {
    const tunnel = await openProxyTunnel({ proxy: request.proxy, host, port, signal, timeoutMs: request.proxyTimeoutMs });
    if (!secure) return tunnel;
    request.onTlsStart?.();
    // TLS to the target inside the tunnel. `host` is what Node checks the
    // certificate against (checkServerIdentity), `servername` the SNI (names
    // only, RFC 6066 3): both the target's, exactly as without a proxy. Without
    // `host`, Node would check against the tunnel socket's host: the proxy.
    return whenReady(tls.connect({ ...tlsOptions(request), socket: tunnel, host }), 'secureConnect', signal);
  }
  if (secure) {
    const socket = tls.connect({ ...tlsOptions(request), host, port });
    if (request.onTlsStart) socket.once('connect', request.onTlsStart);
    return whenReady(socket, 'secureConnect', signal);
  }
  return whenReady(net.connect({ host, port, onread: request.onread }), 'connect', signal);
}

function tlsOptions(request: TransportRequest): tls.ConnectionOptions {
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
function whenReady(stream: Duplex, readyEvent: string | undefined, signal: AbortSignal): Promise<Duplex> {
  if (signal.aborted) {
    stream.destroy();
    return Promise.reject(aborted());
  }
  if (readyEvent === undefined) return Promise.resolve(stream);
  return new Promise<Duplex>((resolve, reject) => {
    let settled = false;
    const settle = (error: WebSocketError | undefined): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stream.off(readyEvent, onReady);
      stream.off('close', onClose);
      if (error) {
        stream.destroy();
        reject(error);
      } else {
        resolve(stream);
      }
      // Kept for one turn, so that an 'error' emitted before the caller attached its own listener is not unhandled.
      setImmediate(() => stream.off('error', onError));
    };
    const onReady = (): void => settle(undefined);
    const onError = (error: unknown): void => settle(toConnectionError(error));
    const onClose = (): void => settle(new ConnectionError(ErrorCode.ConnectFailed, 'could not connect: the transport closed before it was ready'));
    const onAbort = (): void => settle(aborted());
    stream.once(readyEvent, onReady);
    stream.on('error', onError);
    stream.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
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
