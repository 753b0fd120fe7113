import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF, isRetryable, nextAttempt } from '../../src/protocol/backoff.js';
import { ConnectionError, ErrorCode, HandshakeError, ProtocolError } from '../../src/protocol/errors.js';
import { keepaliveDecision } from '../../src/protocol/keepalive.js';

describe('keepaliveDecision', () => {
  it.each([
    ['waits until a ping is due', { lastPingAt: 0, awaitingPongSince: undefined }, 400, { action: 'wait', inMs: 600 }],
    ['pings when due', { lastPingAt: 0, awaitingPongSince: undefined }, 1000, { action: 'ping' }],
    ['waits for a pong until its deadline', { lastPingAt: 1000, awaitingPongSince: 1000 }, 1200, { action: 'wait', inMs: 300 }],
    ['fails when the pong is overdue', { lastPingAt: 1000, awaitingPongSince: 1000 }, 1500, { action: 'fail', overdueMs: 0 }],
  ] as const)('%s', (_name, state, now, expected) => {
    expect(keepaliveDecision({ ...state }, now, 1000, 500)).toEqual(expected);
  });

  it('never fails with a pong timeout of 0, and never pings with an interval of 0', () => {
    expect(keepaliveDecision({ lastPingAt: 0, awaitingPongSince: 0 }, 1e9, 1000, 0)).toEqual({ action: 'ping' });
    expect(keepaliveDecision({ lastPingAt: 0, awaitingPongSince: undefined }, 1e9, 0, 0)).toEqual({ action: 'wait', inMs: Infinity });
  });
});

describe('backoff', () => {
  const policy = { ...DEFAULT_BACKOFF, initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' as const, maxAttempts: 6 };
  it('grows exponentially to the cap, then gives up after maxAttempts', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(policy, a))).toEqual([100, 200, 400, 800, 1000, 1000, undefined]);
  });
  it('full jitter draws uniformly below the cap', () => {
    const full = { ...policy, jitter: 'full' as const };
    expect(backoffDelayMs(full, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(full, 3, () => 0.5)).toBe(400);
    expect(backoffDelayMs(full, 3, () => 0.999999)).toBe(799);
  });
  it('resets the count after a stable connection', () => {
    expect(nextAttempt(policy, 4, undefined)).toBe(5);
    expect(nextAttempt(policy, 4, 100)).toBe(5);
    expect(nextAttempt(policy, 4, policy.resetAfterMs)).toBe(1);
  });
});

describe('isRetryable', () => {
  it.each([
    ['connect failed', { error: new ConnectionError(ErrorCode.ConnectFailed, '') }, true],
    ['connection lost', { error: new ConnectionError(ErrorCode.ConnectionLost, ''), closeCode: 1006 }, true],
    ['pong timeout', { error: new ConnectionError(ErrorCode.PongTimeout, '') }, true],
    ['TLS failure (a bad certificate stays bad)', { error: new ConnectionError(ErrorCode.TlsFailed, '') }, false],
    ['503', { error: new HandshakeError(ErrorCode.HandshakeStatus, '', { status: 503 }) }, true],
    ['429', { error: new HandshakeError(ErrorCode.HandshakeStatus, '', { status: 429 }) }, true],
    ['403', { error: new HandshakeError(ErrorCode.HandshakeStatus, '', { status: 403 }) }, false],
    ['a bad accept', { error: new HandshakeError(ErrorCode.HandshakeAccept, '') }, false],
    ['a protocol violation', { error: new ProtocolError(ErrorCode.ReservedBits, '') }, false],
    ['1000 from the server', { closeCode: 1000 }, false],
    ['1001 going away', { closeCode: 1001 }, true],
    ['1006', { closeCode: 1006 }, true],
    ['1011', { closeCode: 1011 }, true],
    ['1012', { closeCode: 1012 }, true],
    ['1013', { closeCode: 1013 }, true],
    ['1014', { closeCode: 1014 }, true],
    ['1008 policy', { closeCode: 1008 }, false],
    ['4000 private', { closeCode: 4000 }, false],
  ])('%s: %s', (_name, reason, expected) => {
    expect(isRetryable(reason)).toBe(expected);
  });
});
