import { ErrorCode, HandshakeError } from '../protocol/errors.js';
import type { HandshakeRequestOptions } from '../protocol/handshake.js';
import { parseWebSocketUrl, urlAuthorization, type ParsedUrl, type ResolvedOptions } from './options.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** What to do with a refused handshake: nothing special, follow it, or refuse it with an error. */
export type RedirectDecision =
  | { kind: 'not-a-redirect' }
  | { kind: 'follow'; to: ParsedUrl }
  | { kind: 'refuse'; error: HandshakeError };

/**
 * Decides about a refused handshake (pure): a 301/302/303/307/308 with a
 * Location is followed when `followRedirects` allows, at most `maxRedirects`
 * times in a row, and never from `wss:` to `ws:` (it would drop TLS).
 */
export function decideRedirect(
  error: unknown,
  from: ParsedUrl,
  redirectsSoFar: number,
  options: { followRedirects: boolean; maxRedirects: number },
): RedirectDecision {
  if (!options.followRedirects || !(error instanceof HandshakeError)) return { kind: 'not-a-redirect' };
  const status = error.status;
  const location = error.headers?.['location'];
  if (status === undefined || !REDIRECT_STATUSES.has(status) || location === undefined) return { kind: 'not-a-redirect' };
  const refuse = (why: string, cause?: unknown): RedirectDecision => ({
    kind: 'refuse',
    error: new HandshakeError(ErrorCode.HandshakeRedirect, why, { status, headers: error.headers, cause }),
  });
  if (redirectsSoFar >= options.maxRedirects) return refuse(`more than ${options.maxRedirects} redirects`);
  let to: ParsedUrl;
  try {
    to = parseWebSocketUrl(new URL(location, from.url));
  } catch (cause) {
    return refuse(`the server redirected to an invalid or unsupported location (${status})`, cause);
  }
  if (from.secure && !to.secure) return refuse('refusing a redirect from wss: to ws: (it would drop TLS)');
  return { kind: 'follow', to };
}

/**
 * Where the current connection attempt goes: the URL given, or where
 * redirects sent it, and the request that goes with it. One per connect()
 * or reconnection (each starts again from the URL given). A redirect that
 * leaves the original host stops Authorization and Cookie, which were meant
 * for that host.
 */
export class Route {
  current: ParsedUrl;
  /** Redirects followed in a row. */
  redirects = 0;
  private crossedHosts = false;

  constructor(initial: ParsedUrl) {
    this.current = initial;
  }

  /** Moves on to `to`; returns where it came from. */
  follow(to: ParsedUrl): ParsedUrl {
    const from = this.current;
    this.redirects++;
    if (to.url.host !== from.url.host) this.crossedHosts = true;
    this.current = to;
    return from;
  }

  /** The opening handshake request for the current URL. */
  request(options: ResolvedOptions): HandshakeRequestOptions {
    const target = this.current;
    return { host: target.hostHeader, path: target.path, headers: this.headers(options.headers), protocols: options.protocols, origin: options.origin };
  }

  /**
   * The user's headers, plus a Basic Authorization from `user:password@` in
   * the URL, minus credentials once off the first host. The user's record
   * itself (shared, never changed) when there is nothing to add or remove.
   */
  private headers(userHeaders: Record<string, string | string[]> | undefined): Record<string, string | string[]> | undefined {
    const authorization = urlAuthorization(this.current.url);
    if (authorization === undefined && !this.crossedHosts) return userHeaders;
    const headers: Record<string, string | string[]> = { ...userHeaders };
    const names = Object.keys(headers);
    if (authorization !== undefined && !names.some((n) => n.toLowerCase() === 'authorization')) headers['Authorization'] = authorization;
    if (this.crossedHosts) {
      for (const name of Object.keys(headers)) {
        const lower = name.toLowerCase();
        if (lower === 'authorization' || lower === 'cookie') delete headers[name];
      }
    }
    return headers;
  }
}
