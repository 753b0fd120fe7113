// Opening the relay's transport to the upstream: tcp, tls, unix socket, a
// proxy tunnel (then TLS to the target inside it), or the user's own
// `createConnection`. One function, so that it can give way to the client's
// transport opener (src/client/transport.ts) once that exists.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ConnectionError, ErrorCode } from '../protocol/errors.js';
import { defaultServername, type ConnectTarget, type ParsedUrl } from '../client/options.js';
import { openProxyTunnel, proxyForUrl } from '../client/proxy.js';

/** How the relay reaches its upstreams: the transport options of `WebSocketClient`. */
export interface UpstreamTransportOptions {
  /** TLS options for `wss:` upstreams (ca, cert, key, servername, rejectUnauthorized, ...). */
  tls?: tls.ConnectionOptions;
  /** Reach the upstream through this proxy: `http://`, `socks5://` or `socks5h://`. */
  proxy?: string | URL;
  /** Take the proxy from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, honouring NO_PROXY. Default false. */
  proxyFromEnv?: boolean;
  /** Open the transport yourself (any Duplex). */
  createConnection?: (target: ConnectTarget) => Duplex | Promise<Duplex>;
}

/**
 * Opens a byte stream to `target`, ready for the opening handshake (TCP
 * connected, TLS negotiated). Rejects with a `ConnectionError`; `signal`
 * aborts the attempt and destroys whatever was opened.
 */
export async function openUpstreamTransport(
  target: ParsedUrl,
  options: UpstreamTransportOptions,
  signal: AbortSignal,
  timeoutMs: number | undefined,
): Promise<Duplex> {
  const { host, port, secure, socketPath } = target;
  // The certificate is checked for the target's name, also through a tunnel.
  const tlsOptions = (): tls.ConnectionOptions => ({
    ...options.tls,
    host,
    servername: options.tls?.servername ?? defaultServername(host),
    ALPNProtocols: ['http/1.1'],
  });
  if (options.createConnection) {
    const stream = await options.createConnection({ host, port, secure, socketPath, signal });
    return ready(stream, (stream as net.Socket).connecting === true ? 'connect' : undefined, signal);
  }
  if (socketPath !== undefined) {
    return secure
      ? ready(tls.connect({ ...tlsOptions(), path: socketPath }), 'secureConnect', signal)
      : ready(net.connect({ path: socketPath }), 'connect', signal);
  }
  const proxy = options.proxy ?? (options.proxyFromEnv ? proxyForUrl(target.url) : undefined);
  if (proxy !== undefined) {
    const tunnel = await openProxyTunnel({ proxy, host, port, signal, timeoutMs });
    if (!secure) return tunnel;
    return ready(tls.connect({ ...tlsOptions(), socket: tunnel }), 'secureConnect', signal);
  }
  return secure ? ready(tls.connect({ ...tlsOptions(), port }), 'secureConnect', signal) : ready(net.connect({ host, port }), 'connect', signal);
}

/** Resolves with `stream` once `event` fired (at once without one); rejects if it fails or `signal` aborts first. */
function ready(stream: Duplex, event: string | undefined, signal: AbortSignal): Promise<Duplex> {
  if (event === undefined) return Promise.resolve(stream);
  if (signal.aborted) {
    stream.destroy();
    return Promise.reject(new ConnectionError(ErrorCode.Aborted, 'opening the upstream connection was aborted'));
  }
  return new Promise((resolve, reject) => {
    const done = (error?: unknown): void => {
      stream.off(event, onReady);
      stream.off('error', onError);
      stream.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) return resolve(stream);
      stream.destroy();
      reject(error);
    };
    const onReady = (): void => done();
    const onError = (error: Error): void => done(toConnectionError(error));
    const onClose = (): void => done(new ConnectionError(ErrorCode.ConnectFailed, 'the upstream connection closed before it was ready'));
    const onAbort = (): void => done(new ConnectionError(ErrorCode.Aborted, 'opening the upstream connection was aborted'));
    stream.once(event, onReady);
    stream.once('error', onError);
    stream.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function toConnectionError(error: Error): ConnectionError {
  if (error instanceof ConnectionError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const tlsFailure = typeof code === 'string' && (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL'));
  return new ConnectionError(tlsFailure ? ErrorCode.TlsFailed : ErrorCode.ConnectFailed, `upstream: ${code ?? error.message}`, { cause: error });
}
