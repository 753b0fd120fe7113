// Getting through a proxy: parse a proxy URL, open a TCP connection to the
// proxy and turn it into a tunnel to the target with HTTP CONNECT or SOCKS5.
// The socket that comes back is a plain byte pipe to the target, ready for TLS
// or for the WebSocket handshake; no byte the target sent early is lost.
//
// Proxy credentials are secrets: no error message, property or log line built
// here ever contains them. Errors name the proxy by its `label` only.

import { lookup as dnsLookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { ConnectionError, ErrorCode, UsageError } from '../protocol/errors.js';
import { basicProxyAuthorization, ConnectResponseReader, encodeConnectRequest } from './http-connect.js';
import { Socks5Negotiation, type Socks5Step } from './socks5.js';

export { proxyForUrl } from './proxy-env.js';

/** How long connecting to the proxy and negotiating the tunnel may take, unless told otherwise. */
export const DEFAULT_PROXY_TIMEOUT_MS = 10_000;

export type ProxyProtocol = 'http' | 'socks5' | 'socks5h';

/** A parsed proxy URL. */
export interface ProxyConfig {
  /**
   * `http` tunnels with CONNECT; `socks5` resolves the target name locally and
   * sends an address; `socks5h` sends the name for the proxy to resolve (the
   * meaning curl gives them).
   */
  readonly protocol: ProxyProtocol;
  /** The proxy's host name or IP literal (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** `scheme://host:port`, without credentials: safe to print and log. */
  readonly label: string;
  /**
   * The decoded user and password from the URL, when it had any. Not
   * enumerable, so that logging or serialising the config does not show them.
   */
  readonly credentials: ProxyCredentials | undefined;
}

export interface ProxyCredentials {
  readonly username: string;
  readonly password: string;
}

/** What a proxy failure carries besides its code: which proxy, and what it answered. */
export class ProxyError extends ConnectionError {
  /** The proxy's `label` (`scheme://host:port`, never credentials). */
  readonly proxy: string;
  /** The HTTP status of a refused CONNECT. */
  readonly status: number | undefined;
  /** The REP byte of a failed SOCKS5 CONNECT (RFC 1928 6). */
  readonly socksReply: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details: { proxy: string; status?: number; socksReply?: number; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.name = 'ProxyError';
    this.proxy = details.proxy;
    this.status = details.status;
    this.socksReply = details.socksReply;
  }
}

const DEFAULT_PORTS: Readonly<Record<ProxyProtocol, number>> = { http: 80, socks5: 1080, socks5h: 1080 };

/**
 * Parses `http://[user:pass@]host[:port]`, `socks5://...` or `socks5h://...`.
 * A string without a scheme is taken as `http://` (as curl does). Throws a
 * `UsageError` (`WSP_ERR_INVALID_URL`) for anything else, `https://` included:
 * TLS to the proxy itself is not supported. The message never repeats the
 * URL, which may hold a password.
 */
export function parseProxyUrl(url: string | URL): ProxyConfig {
  let parsed: URL;
  if (url instanceof URL) {
    parsed = url;
  } else {
    const text = url.trim();
    try {
      parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    } catch {
      // Deliberately no `cause`: URL's TypeError carries the input, password and all.
      throw new UsageError(ErrorCode.InvalidUrl, 'the proxy URL is not a valid URL');
    }
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme === 'https') {
    throw new UsageError(
      ErrorCode.InvalidUrl,
      'https:// proxies (TLS to the proxy) are not supported; use an http:// proxy, which still carries wss:// end to end encrypted',
    );
  }
  if (scheme !== 'http' && scheme !== 'socks5' && scheme !== 'socks5h') {
    throw new UsageError(
      ErrorCode.InvalidUrl,
      `unsupported proxy scheme '${scheme}:'; expected http:, socks5: or socks5h:`,
    );
  }
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  if (host === '') throw new UsageError(ErrorCode.InvalidUrl, 'the proxy URL has no host');
  const port = parsed.port === '' ? DEFAULT_PORTS[scheme] : Number(parsed.port);
  if (port === 0) throw new UsageError(ErrorCode.InvalidUrl, 'the proxy URL has port 0');

  let credentials: ProxyCredentials | undefined;
  if (parsed.username !== '' || parsed.password !== '') {
    try {
      credentials = {
        username: decodeURIComponent(parsed.username),
        password: decodeURIComponent(parsed.password),
      };
    } catch {
      throw new UsageError(ErrorCode.InvalidUrl, 'the proxy URL has malformed percent-encoding in its credentials');
    }
    if (credentials.username === '') {
      throw new UsageError(ErrorCode.InvalidUrl, 'the proxy URL has a password but no user name');
    }
  }
  const config = {
    protocol: scheme,
    host,
    port,
    label: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`,
  } as ProxyConfig;
  Object.defineProperty(config, 'credentials', { value: credentials, enumerable: false });
  return Object.freeze(config);
}

export interface ProxyTunnelOptions {
  /** The proxy, as a URL or as returned by `parseProxyUrl`. */
  proxy: string | URL | ProxyConfig;
  /** The target host: a name or an IP literal (IPv6 with or without brackets). */
  host: string;
  port: number;
  /** Limit on connecting to the proxy plus negotiating; default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Resolves the target name for `socks5://` (default: `dns.lookup`). */
  lookup?: (hostname: string) => Promise<{ address: string; family: number }>;
}

/**
 * Connects to the proxy and asks it for a tunnel to `host:port`. Resolves
 * with the connected socket once the proxy has agreed; bytes the target sent
 * in the same read as the proxy's answer are put back with `unshift()`, and
 * the socket is left without listeners, not paused, ready for `pipe()`,
 * `pipeline()` or `tls.connect({ socket })`.
 *
 * Rejects with a `ProxyError` (a `ConnectionError`) whose `code` is
 * `WSP_ERR_CONNECT_FAILED` (the proxy could not be reached),
 * `WSP_ERR_PROXY_AUTH_FAILED`, `WSP_ERR_PROXY_TARGET_UNREACHABLE` or
 * `WSP_ERR_PROXY_FAILED`; with a `ConnectionError` `WSP_ERR_ABORTED` when
 * `signal` aborts; with a `UsageError` for a bad proxy URL or target.
 */
export async function openProxyTunnel(options: ProxyTunnelOptions): Promise<Socket> {
  const proxy = isProxyConfig(options.proxy) ? options.proxy : parseProxyUrl(options.proxy);
  const target = checkTarget(options.host, options.port);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new UsageError(ErrorCode.InvalidOption, 'timeoutMs must be a positive number');
  const signal = options.signal;
  if (signal?.aborted) throw abortedError(proxy, signal);

  // One controller stops whatever stage is running, on timeout or abort.
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(TIMED_OUT), timeoutMs);
  timer.unref();
  const onAbort = (): void => stop.abort(abortedError(proxy, signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let host = target;
    if (proxy.protocol === 'socks5' && isIP(target) === 0) {
      host = await resolveTarget(target, options.lookup ?? dnsLookup, proxy, stop.signal, timeoutMs);
    }
    return await tunnel(proxy, host, options.port, stop.signal, timeoutMs);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The reason `stop` aborts with when the time is up; turned into an error by the stage that was running. */
const TIMED_OUT = Symbol('timed out');

function abortedError(proxy: ProxyConfig, signal: AbortSignal): ConnectionError {
  return new ConnectionError(ErrorCode.Aborted, `opening the tunnel through ${proxy.label} was aborted`, {
    cause: signal.reason,
  });
}

function isProxyConfig(value: ProxyTunnelOptions['proxy']): value is ProxyConfig {
  return typeof value === 'object' && !(value instanceof URL) && 'label' in value;
}

/** The target as the tunnel request will carry it: IPv6 without brackets; no characters that could break a request. */
function checkTarget(host: string, port: number): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || !/^[^\s\x00-\x1f\x7f/?#@[\]]+$/.test(bare)) {
    throw new UsageError(ErrorCode.InvalidUrl, 'the tunnel target host is empty or has characters a host cannot have');
  }
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new UsageError(ErrorCode.InvalidUrl, `the tunnel target port must be 1 to 65535, not ${String(port)}`);
  }
  return bare;
}

/** socks5:// (not socks5h://): the client resolves the name and sends an address. */
async function resolveTarget(
  host: string,
  lookup: NonNullable<ProxyTunnelOptions['lookup']>,
  proxy: ProxyConfig,
  stop: AbortSignal,
  timeoutMs: number,
): Promise<string> {
  let onStop: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    onStop = () =>
      reject(
        stop.reason === TIMED_OUT
          ? new ProxyError(ErrorCode.ConnectFailed, `resolving ${host} timed out after ${timeoutMs} ms`, {
              proxy: proxy.label,
            })
          : stop.reason,
      );
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
  });
  try {
    const { address } = await Promise.race([lookup(host), stopped]);
    return address;
  } catch (error) {
    if (error instanceof ConnectionError) throw error;
    throw new ProxyError(
      ErrorCode.ConnectFailed,
      `could not resolve ${host} (${errnoOf(error)}); with socks5h:// the proxy resolves names instead`,
      { proxy: proxy.label, cause: error },
    );
  } finally {
    stop.removeEventListener('abort', onStop!);
  }
}

/** The negotiation over a connected socket, for either protocol. */
interface Negotiator {
  /** What to send first, once connected. */
  readonly opening: Buffer;
  /** Feeds the proxy's bytes; says what to do next. */
  push(chunk: Buffer): Step;
  /** What the exchange is called in messages. */
  readonly exchange: string;
}

type Step =
  | { kind: 'need-more' }
  | { kind: 'send'; bytes: Buffer }
  | { kind: 'established'; leftover: Buffer }
  | { kind: 'failed'; error: ProxyError };

function tunnel(proxy: ProxyConfig, host: string, port: number, stop: AbortSignal, timeoutMs: number): Promise<Socket> {
  let negotiator: Negotiator;
  try {
    negotiator = proxy.protocol === 'http' ? httpNegotiator(proxy, host, port) : socksNegotiator(proxy, host, port);
  } catch (error) {
    // RangeErrors from the encoders: a name or a credential that will not fit.
    return Promise.reject(
      new UsageError(ErrorCode.InvalidOption, `cannot use ${proxy.label}: ${(error as Error).message}`),
    );
  }

  return new Promise<Socket>((resolve, reject) => {
    let connected = false;
    let settled = false;
    const socket = netConnect({ host: proxy.host, port: proxy.port });

    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      detach();
      socket.destroy();
      reject(error);
    };
    const onStop = (): void => {
      if (stop.reason !== TIMED_OUT) return fail(stop.reason as Error);
      fail(
        connected
          ? new ProxyError(ErrorCode.ProxyFailed, `the ${negotiator.exchange} with ${proxy.label} timed out after ${timeoutMs} ms`, {
              proxy: proxy.label,
            })
          : new ProxyError(ErrorCode.ConnectFailed, `connecting to ${proxy.label} timed out after ${timeoutMs} ms`, {
              proxy: proxy.label,
            }),
      );
    };
    const onConnect = (): void => {
      connected = true;
      socket.write(negotiator.opening);
    };
    const onError = (error: Error): void => {
      fail(
        connected
          ? new ProxyError(ErrorCode.ProxyFailed, `the connection to ${proxy.label} failed during the ${negotiator.exchange} (${errnoOf(error)})`, {
              proxy: proxy.label,
              cause: error,
            })
          : new ProxyError(ErrorCode.ConnectFailed, `could not connect to ${proxy.label} (${errnoOf(error)})`, {
              proxy: proxy.label,
              cause: error,
            }),
      );
    };
    const onEnd = (): void => {
      fail(
        new ProxyError(ErrorCode.ProxyFailed, `${proxy.label} closed the connection during the ${negotiator.exchange}`, {
          proxy: proxy.label,
        }),
      );
    };
    // Paused-mode reads ('readable' + read()) so that, once the listener is
    // gone, the socket is back to its initial state and the next consumer's
    // 'data' listener or pipe() starts the flow.
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
        let step: Step;
        try {
          step = negotiator.push(chunk);
        } catch (error) {
          return fail(
            new ProxyError(ErrorCode.ProxyFailed, `${proxy.label} sent a malformed answer to the ${negotiator.exchange}`, {
              proxy: proxy.label,
              cause: error,
            }),
          );
        }
        switch (step.kind) {
          case 'need-more':
            break;
          case 'send':
            socket.write(step.bytes);
            break;
          case 'failed':
            return fail(step.error);
          case 'established':
            settled = true;
            detach();
            if (step.leftover.length > 0) socket.unshift(step.leftover);
            return resolve(socket);
        }
      }
    };
    const detach = (): void => {
      stop.removeEventListener('abort', onStop);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('readable', onReadable);
    };

    socket.once('connect', onConnect);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('readable', onReadable);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
  });
}

function httpNegotiator(proxy: ProxyConfig, host: string, port: number): Negotiator {
  const credentials = proxy.credentials;
  const reader = new ConnectResponseReader();
  const exchange = 'HTTP CONNECT';
  return {
    exchange,
    opening: encodeConnectRequest({
      host,
      port,
      proxyAuthorization: credentials && basicProxyAuthorization(credentials.username, credentials.password),
    }),
    push(chunk) {
      const outcome = reader.push(chunk);
      if (outcome === undefined) return { kind: 'need-more' };
      if (outcome.kind === 'established') return { kind: 'established', leftover: outcome.leftover };
      const { status, statusText } = outcome.response;
      const answered = `${status}${statusText === '' ? '' : ` ${printable(statusText)}`}`;
      let message: string;
      if (outcome.code === ErrorCode.ProxyAuthFailed) {
        message = credentials
          ? `${proxy.label} rejected the proxy credentials (${answered})`
          : `${proxy.label} requires authentication and no credentials were given (${answered})`;
      } else if (outcome.code === ErrorCode.ProxyTargetUnreachable) {
        message = `${proxy.label} could not reach ${host}:${port} (${answered})`;
      } else {
        message = `${proxy.label} refused to tunnel to ${host}:${port} (${answered})`;
      }
      return { kind: 'failed', error: new ProxyError(outcome.code, message, { proxy: proxy.label, status }) };
    },
  };
}

function socksNegotiator(proxy: ProxyConfig, host: string, port: number): Negotiator {
  const negotiation = new Socks5Negotiation({ host, port }, proxy.credentials);
  return {
    exchange: 'SOCKS5 negotiation',
    opening: negotiation.greeting(),
    push(chunk) {
      const step: Socks5Step = negotiation.push(chunk);
      switch (step.kind) {
        case 'need-more':
        case 'send':
          return step;
        case 'established':
          return { kind: 'established', leftover: step.result.leftover };
        case 'failed': {
          const { code, message, reply } = step.failure;
          const details = reply === undefined ? { proxy: proxy.label } : { proxy: proxy.label, socksReply: reply };
          const where = reply === undefined ? '' : ` for ${host}:${port}`;
          return { kind: 'failed', error: new ProxyError(code, `${proxy.label}: ${message}${where}`, details) };
        }
      }
    },
  };
}

/** A proxy's reason phrase, made safe to put in a message. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

function errnoOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
