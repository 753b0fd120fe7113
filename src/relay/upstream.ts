// The relay's transport to the upstream: the client's own opener
// (src/client/transport.ts), so that tcp, tls, unix sockets, proxy tunnels
// (then TLS to the target inside them), `createConnection` and the proxy
// environment variables work for a relay as they do for a WebSocketClient.
import type { Duplex } from 'node:stream';
import type * as tls from 'node:tls';
import type { ConnectTarget, ParsedUrl } from '../client/options.js';
import { proxyForUrl } from '../client/proxy.js';
import { openTransport } from '../client/transport.js';

/** How the relay reaches its upstreams: the transport options of `WebSocketClient`. */
export interface UpstreamTransportOptions {
  /** TLS options for `wss:` upstreams (ca, cert, key, servername, rejectUnauthorized, ...). */
  tls?: tls.ConnectionOptions;
  /** Reach the upstream through this proxy: `http://`, `socks5://` or `socks5h://`. */
  proxy?: string | URL;
  /** Take the proxy from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, honouring NO_PROXY. Default false. */
  proxyFromEnv?: boolean;
  /** Open the transport yourself (any Duplex; for `wss:` it must already speak TLS). */
  createConnection?: (target: ConnectTarget) => Duplex | Promise<Duplex>;
}

/**
 * Opens a byte stream to `target`, ready for the opening handshake (TCP
 * connected, TLS verified). Rejects with a `ConnectionError`; `signal`
 * aborts the attempt and destroys whatever was opened.
 */
export function openUpstreamTransport(
  target: ParsedUrl,
  options: UpstreamTransportOptions,
  signal: AbortSignal,
  timeoutMs: number | undefined,
): Promise<Duplex> {
  return openTransport({
    host: target.host,
    port: target.port,
    secure: target.secure,
    socketPath: target.socketPath,
    tls: options.tls,
    proxy: options.proxy ?? (options.proxyFromEnv ? proxyForUrl(target.url) : undefined),
    proxyTimeoutMs: timeoutMs,
    createConnection: options.createConnection,
    signal,
  });
}
