import { ErrorCode, HandshakeError } from '../protocol/errors.js';
import { parseWebSocketUrl, type ParsedUrl } from './options.js';

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
