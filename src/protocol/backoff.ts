import { CloseCode } from './close-codes.js';
import { ErrorCode, HandshakeError, WebSocketError } from './errors.js';

/** How automatic reconnection paces itself. All durations in milliseconds. */
export interface BackoffPolicy {
  /** The first delay's cap. Default 500. */
  initialDelayMs: number;
  /** No delay is longer. Default 30,000. */
  maxDelayMs: number;
  /** Growth per attempt. Default 2. */
  multiplier: number;
  /** `full`: a uniform draw in [0, cap] (spreads a herd of clients); `none`: the cap itself. Default `full`. */
  jitter: 'full' | 'none';
  /** Give up after this many consecutive failed attempts. Default Infinity. */
  maxAttempts: number;
  /** A connection that stayed open this long resets the attempt count. Default 10,000. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 'full',
  maxAttempts: Infinity,
  resetAfterMs: 10_000,
};

/**
 * The delay before retry number `attempt + 1` (`attempt` 0 for the first), or
 * undefined when the policy gives up. `random` returns a number in [0, 1).
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** attempt);
  return policy.jitter === 'full' ? Math.floor(random() * cap) : cap;
}

/**
 * The number of the next attempt (1 for the first retry), after a connection
 * that was open for `openForMs` (undefined: it never opened) ended. A
 * connection that stayed up for `resetAfterMs` starts the count again.
 */
export function nextAttempt(policy: BackoffPolicy, attempt: number, openForMs: number | undefined): number {
  if (openForMs !== undefined && openForMs >= policy.resetAfterMs) return 1;
  return attempt + 1;
}

/** Why a connection ended, as the retry classifier sees it. */
export interface EndReason {
  /** The error that ended it, if one did. */
  error?: unknown;
  /** The close code received or reported (1006 when the TCP connection dropped). */
  closeCode?: number;
}

const RETRY_CLOSE_CODES = new Set<number>([
  CloseCode.GoingAway,
  CloseCode.AbnormalClosure,
  CloseCode.InternalError,
  CloseCode.ServiceRestart,
  CloseCode.TryAgainLater,
  CloseCode.BadGateway,
]);

const RETRY_ERROR_CODES = new Set<string>([
  ErrorCode.ConnectFailed,
  ErrorCode.ConnectionLost,
  ErrorCode.PongTimeout,
  ErrorCode.CloseTimeout,
  ErrorCode.HandshakeTimeout,
  ErrorCode.ProxyFailed,
  ErrorCode.ProxyTargetUnreachable,
]);

/**
 * Whether a connection that ended this way is worth retrying: network
 * failures, timeouts, 5xx (and 429) answers to the handshake, and close codes
 * that say "come back later" (1001, 1006, 1011-1014). Protocol violations,
 * other 4xx answers, bad certificates and normal closures are not retried:
 * trying again would fail the same way.
 */
export function isRetryable(reason: EndReason): boolean {
  const { error, closeCode } = reason;
  if (error instanceof HandshakeError && error.code === ErrorCode.HandshakeStatus) {
    const status = error.status ?? 0;
    return status >= 500 || status === 429;
  }
  if (error instanceof WebSocketError) return RETRY_ERROR_CODES.has(error.code);
  if (error !== undefined) return false;
  return closeCode !== undefined && RETRY_CLOSE_CODES.has(closeCode);
}
