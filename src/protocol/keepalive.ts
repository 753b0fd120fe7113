/** What the keepalive timer should do now. */
export type KeepaliveDecision =
  | { action: 'wait'; inMs: number }
  | { action: 'ping' }
  | { action: 'fail'; overdueMs: number };

export interface KeepaliveState {
  /** When the last ping was sent, or the connection opened. */
  lastPingAt: number;
  /** When the ping that still awaits its pong was sent; undefined when none is outstanding. */
  awaitingPongSince: number | undefined;
}

/**
 * Decides, from the clock alone, whether a ping is due or a pong is overdue.
 * RFC 6455 5.5.2/5.5.3: a ping may be sent at any time after the connection
 * is established; the peer answers with a pong "as soon as is practical".
 */
export function keepaliveDecision(
  state: KeepaliveState,
  now: number,
  pingIntervalMs: number,
  pongTimeoutMs: number,
): KeepaliveDecision {
  if (state.awaitingPongSince !== undefined && pongTimeoutMs > 0) {
    const overdueMs = now - state.awaitingPongSince - pongTimeoutMs;
    if (overdueMs >= 0) return { action: 'fail', overdueMs };
  }
  const pingDueIn = state.lastPingAt + pingIntervalMs - now;
  if (pingIntervalMs > 0 && pingDueIn <= 0) return { action: 'ping' };
  let inMs = pingIntervalMs > 0 ? pingDueIn : Infinity;
  if (state.awaitingPongSince !== undefined && pongTimeoutMs > 0) {
    inMs = Math.min(inMs, state.awaitingPongSince + pongTimeoutMs - now);
  }
  return { action: 'wait', inMs };
}
