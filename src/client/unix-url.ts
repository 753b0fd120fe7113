// WebSocket over a unix domain socket: `ws+unix:///run/app.sock:/chat?room=1`.
// The part of the path before the first ':' is the socket's file; the rest is
// the request path sent in the handshake (the convention of the `ws` package
// and of Docker's clients).

import { ErrorCode, UsageError } from '../protocol/errors.js';

export interface UnixSocketTarget {
  /** The filesystem path of the socket, percent-decoded. */
  socketPath: string;
  /** The request target for the handshake: path and query, starting with '/'. */
  path: string;
  /** Whether TLS runs over the socket (`wss+unix:`). */
  secure: boolean;
}

/** Whether `url` uses the `ws+unix:` or `wss+unix:` scheme. */
export function isUnixSocketUrl(url: string | URL): boolean {
  const protocol = url instanceof URL ? url.protocol : /^[a-z][a-z0-9+.-]*:/i.exec(url.trim())?.[0];
  const scheme = protocol?.toLowerCase();
  return scheme === 'ws+unix:' || scheme === 'wss+unix:';
}

/**
 * Splits a `ws+unix:` or `wss+unix:` URL into the socket path and the request
 * path (default '/'). Throws a `UsageError` (`WSP_ERR_INVALID_URL`) for another
 * scheme, a host part (`ws+unix://host/...`), a `#fragment` (refused for
 * `ws:` URLs too), or an empty socket path.
 */
export function parseUnixSocketUrl(url: string | URL): UnixSocketTarget {
  let parsed: URL;
  try {
    parsed = url instanceof URL ? url : new URL(url);
  } catch (error) {
    throw new UsageError(ErrorCode.InvalidUrl, 'not a valid URL', { cause: error });
  }
  const scheme = parsed.protocol.toLowerCase();
  if (scheme !== 'ws+unix:' && scheme !== 'wss+unix:') {
    throw new UsageError(ErrorCode.InvalidUrl, `expected a ws+unix: or wss+unix: URL, got '${scheme}'`);
  }
  if (parsed.host !== '') {
    throw new UsageError(
      ErrorCode.InvalidUrl,
      `a ${scheme} URL has no host: write ${scheme}///path/to/socket:/request/path (three slashes)`,
    );
  }
  // RFC 6455 3, as for ws: URLs: "Fragment identifiers are meaningless in the
  // context of WebSocket URIs and MUST NOT be used on these URIs."
  if (parsed.hash !== '') throw new UsageError(ErrorCode.InvalidUrl, `a ${scheme} URL cannot have a #fragment`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new UsageError(ErrorCode.InvalidUrl, `a ${scheme} URL cannot carry credentials`);
  }
  const pathname = parsed.pathname;
  const colon = pathname.indexOf(':');
  const encodedSocketPath = colon === -1 ? pathname : pathname.slice(0, colon);
  const requestPath = colon === -1 ? '' : pathname.slice(colon + 1);
  let socketPath: string;
  try {
    socketPath = decodeURIComponent(encodedSocketPath);
  } catch (error) {
    throw new UsageError(ErrorCode.InvalidUrl, 'the socket path has malformed percent-encoding', { cause: error });
  }
  if (socketPath === '' || socketPath === '/') {
    throw new UsageError(ErrorCode.InvalidUrl, `the ${scheme} URL names no socket path`);
  }
  if (requestPath !== '' && !requestPath.startsWith('/')) {
    throw new UsageError(ErrorCode.InvalidUrl, "the request path after ':' must start with '/'");
  }
  // The request path stays percent-encoded: it goes on the wire as it is.
  return {
    socketPath,
    path: (requestPath === '' ? '/' : requestPath) + parsed.search,
    secure: scheme === 'wss+unix:',
  };
}
