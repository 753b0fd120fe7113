import { backoffDelayMs, isRetryable, nextAttempt, type EndReason } from '../protocol/backoff.js';
import type { ResolvedOptions } from './options.js';

/** The automatic reconnection decision after a connection ended. */
export type RetryPlan =
  | { retry: true; attempt: number; delayMs: number }
  | { retry: false; attempt: number; why: string };

/**
 * Whether and when to reconnect automatically (pure apart from the jitter's
 * `random`): the classifier (or the user's `shouldReconnect`) says whether the
 * ending is worth retrying, `backoff.ts` says how long to wait.
 */
export function planRetry(
  policy: NonNullable<ResolvedOptions['reconnect']>,
  attemptsSoFar: number,
  reason: EndReason,
  openForMs: number | undefined,
  random: () => number = Math.random,
): RetryPlan {
  const worth = policy.shouldReconnect ? policy.shouldReconnect(reason) : isRetryable(reason);
  const attempt = nextAttempt(policy, attemptsSoFar, openForMs);
  const delayMs = worth ? backoffDelayMs(policy, attempt - 1, random) : undefined;
  if (delayMs === undefined) {
    return { retry: false, attempt, why: worth ? 'reconnecting gave up' : 'the connection ended for a reason not worth retrying' };
  }
  return { retry: true, attempt, delayMs };
}
