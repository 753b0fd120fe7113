import { describe, expect, it } from 'vitest';
import { readyStateOf, transition, type LifecycleEvent, type Phase } from '../../src/client/lifecycle.js';

// The lifecycle of one attempt as a table, without sockets: every phase x
// every event. `null` is an event the phase ignores (it came too late to
// matter); the table in lifecycle.ts documents that choice.

const PHASES: Phase[] = ['connecting', 'tls', 'handshake', 'open', 'closing', 'ending', 'discarding', 'closed'];
const EVENTS: LifecycleEvent[] = [
  'tcp-connected',
  'transport-ready',
  'response',
  'close-called',
  'close-received',
  'protocol-error',
  'connection-error',
  'close-timeout',
  'terminate',
  'redirect',
  'socket-closed',
];

type Expected = [Phase, ...string[]] | null;

const FAIL: Expected = ['discarding', 'destroy', 'report-error'];
const ABANDON: Expected = ['discarding', 'destroy'];
const LOST: Expected = ['closed', 'report-lost', 'report-close'];
const CLOSED: Expected = ['closed', 'report-close'];

const TABLE: Record<Phase, Partial<Record<LifecycleEvent, Expected>>> = {
  connecting: {
    'tcp-connected': ['tls'],
    'transport-ready': ['handshake', 'write-request'],
    'close-called': ['connecting', 'defer-close'],
    'protocol-error': FAIL,
    'connection-error': FAIL,
    'close-timeout': FAIL,
    terminate: ABANDON,
    'socket-closed': LOST,
  },
  tls: {
    'transport-ready': ['handshake', 'write-request'],
    'close-called': ['tls', 'defer-close'],
    'protocol-error': FAIL,
    'connection-error': FAIL,
    'close-timeout': FAIL,
    terminate: ABANDON,
    'socket-closed': LOST,
  },
  handshake: {
    response: ['open', 'report-open'],
    'close-called': ['handshake', 'defer-close'],
    'protocol-error': FAIL,
    'connection-error': FAIL,
    'close-timeout': FAIL,
    terminate: ABANDON,
    redirect: ABANDON,
    'socket-closed': LOST,
  },
  open: {
    'close-called': ['closing', 'send-close'],
    'close-received': ['ending', 'send-close', 'end-outbound'],
    'protocol-error': ['discarding', 'send-close', 'end-outbound', 'report-error'],
    'connection-error': FAIL,
    terminate: ABANDON,
    'socket-closed': LOST,
  },
  closing: {
    'close-received': ['ending', 'end-outbound'],
    'protocol-error': ['discarding', 'report-error'],
    'connection-error': FAIL,
    'close-timeout': FAIL,
    terminate: ABANDON,
    'socket-closed': CLOSED,
  },
  ending: {
    'protocol-error': ABANDON,
    'connection-error': ABANDON,
    'close-timeout': ABANDON,
    terminate: ABANDON,
    'socket-closed': CLOSED,
  },
  discarding: {
    'close-timeout': ABANDON,
    terminate: ABANDON,
    'socket-closed': CLOSED,
  },
  closed: {},
};

const cases = PHASES.flatMap((phase) => EVENTS.map((event) => [phase, event, TABLE[phase][event] ?? null] as const));

describe('transition(phase, event): the whole table', () => {
  it.each(cases)('%s + %s -> %j', (phase, event, expected) => {
    const next = transition(phase, event);
    if (expected === null) {
      expect(next).toBeUndefined();
    } else {
      expect(next).toBeDefined();
      expect([next!.phase, ...next!.actions]).toEqual(expected);
    }
  });

  it('is pure: the same answer every time, and the answers cannot be changed', () => {
    for (const [phase, event] of cases) expect(transition(phase, event)).toBe(transition(phase, event));
    const t = transition('open', 'close-called')!;
    expect(Object.isFrozen(t) && Object.isFrozen(t.actions)).toBe(true);
  });

  it('every phase but closed can reach closed through socket-closed, and exactly one close is reported on the way', () => {
    for (const phase of PHASES.filter((p) => p !== 'closed')) {
      const next = transition(phase, 'socket-closed')!;
      expect(next.phase).toBe('closed');
      expect(next.actions.filter((a) => a === 'report-close')).toHaveLength(1);
    }
    // And nothing leaves closed.
    for (const event of EVENTS) expect(transition('closed', event)).toBeUndefined();
  });

  it('at most one error report is asked for on any path: every report-error leaves for a phase that asks for none but report-lost', () => {
    for (const [phase, event] of cases) {
      const next = transition(phase, event);
      if (!next?.actions.includes('report-error')) continue;
      for (const later of EVENTS) expect(transition(next.phase, later)?.actions.includes('report-error') ?? false).toBe(false);
    }
  });

  it.each([
    ['connecting', 'connecting'],
    ['tls', 'connecting'],
    ['handshake', 'connecting'],
    ['open', 'open'],
    ['closing', 'closing'],
    ['ending', 'closing'],
    ['discarding', 'closing'],
    ['closed', 'closed'],
  ] as const)('readyState in %s is %s', (phase, readyState) => {
    expect(readyStateOf(phase)).toBe(readyState);
  });
});
