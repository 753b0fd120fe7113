// The lifecycle of one connection attempt, as one pure function: which event
// in which phase leads where, and what the attempt must do about it. No
// sockets, timers or clocks here; `attempt.ts` owns those and feeds events in.

/** The public state of a client: `'idle'` before the first `connect()`. */
export type ReadyState = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/**
 * Where one connection attempt is, named after what it waits for.
 *
 * ```
 *  connecting ─tcp-connected─> tls ─transport-ready─> handshake ─response─> open ─close-called─> closing
 *      └───────────────transport-ready────────────────────┘                  │                     │
 *                                                                      close-received        close-received
 *                                                                            v                     │
 *                                                                          ending <────────────────┘
 *  close-called before open: same phase, the close deferred until open
 *  any phase but closed ─errors, timeouts, terminate, redirect─> discarding (details: TABLE)
 *  any phase but closed ─socket-closed─> closed (the one close report)
 * ```
 */
export type Phase =
  /** Waits for the transport: DNS, TCP connect, a proxy tunnel, or `createConnection`. */
  | 'connecting'
  /** Waits for the TLS handshake with the target (shown when the TCP connect is seen first). */
  | 'tls'
  /** The request is sent; waits for the server's 101. */
  | 'handshake'
  /** Messages flow both ways. */
  | 'open'
  /** We sent a close frame; waits for the server's (RFC 6455 7.1.2). */
  | 'closing'
  /** Both close frames are exchanged; waits for the server to close TCP (RFC 6455 7.1.1). */
  | 'ending'
  /** Failed, terminated, timed out or redirected: delivers nothing more, waits for the socket to close. */
  | 'discarding'
  /** Over: exactly one close report was made. */
  | 'closed';

/** What can happen to an attempt. */
export type LifecycleEvent =
  /** TCP is up and TLS follows. */
  | 'tcp-connected'
  /** The transport is ready for the request (TCP, or TLS, connected). */
  | 'transport-ready'
  /** A valid 101 arrived. */
  | 'response'
  /** `close()` (or `reconnect()`) asked for the closing handshake. */
  | 'close-called'
  /** The server's close frame arrived. */
  | 'close-received'
  /** A protocol error whose close code goes on the wire (RFC 6455 7.1.7). */
  | 'protocol-error'
  /** A network, TLS, handshake or timeout error: no close frame is sent. */
  | 'connection-error'
  /** `closeTimeoutMs` ran out. */
  | 'close-timeout'
  /** `terminate()`, or an aborted signal. */
  | 'terminate'
  /** A redirect that is followed: this attempt ends, the next goes elsewhere. */
  | 'redirect'
  /** The socket closed (and what it delivered has been decoded), or there never was one. */
  | 'socket-closed';

/**
 * What the attempt must do, in this order. Reports to user code come last,
 * so that a callback which calls back into the client finds the new phase.
 */
export type LifecycleAction =
  /** Write the opening handshake request and report `'connect'`. */
  | 'write-request'
  /** Report `'open'`: flush the send queue, then a deferred close if there is one. */
  | 'report-open'
  /** Remember the close for when the handshake completes (and bound the wait by `closeTimeoutMs`). */
  | 'defer-close'
  /** Send a close frame (the one asked for, the echo of the server's, or the failure's code) and start the close timer. */
  | 'send-close'
  /** End our side of TCP once every frame given so far is written. */
  | 'end-outbound'
  /** Report the error that caused this event (at most once per attempt). */
  | 'report-error'
  /** Report `WSP_ERR_CONNECTION_LOST`: TCP ended with no close frame and no other error. */
  | 'report-lost'
  /** Destroy the socket (or abandon the transport still being opened). */
  | 'destroy'
  /** Free everything and report the close (once). */
  | 'report-close';

/** The outcome of an event: the next phase and what to do. */
export interface Transition {
  readonly phase: Phase;
  readonly actions: readonly LifecycleAction[];
}

type Table = { readonly [P in Phase]: { readonly [E in LifecycleEvent]?: Transition } };

function to(phase: Phase, ...actions: LifecycleAction[]): Transition {
  return Object.freeze({ phase, actions: Object.freeze(actions) });
}

// Before open, every failure is the same: report it and drop the socket; no
// close frame can be sent before the 101 (RFC 6455 4.1: the connection is not
// yet a WebSocket connection).
const FAIL_EARLY = to('discarding', 'destroy', 'report-error');
const ABANDON = to('discarding', 'destroy');
const LOST = to('closed', 'report-lost', 'report-close');
const CLOSED = to('closed', 'report-close');

const connectingLike = {
  'protocol-error': FAIL_EARLY,
  'connection-error': FAIL_EARLY,
  'close-timeout': FAIL_EARLY,
  terminate: ABANDON,
  'socket-closed': LOST,
};

/**
 * The whole table. A missing entry is an event that has no meaning in that
 * phase any more (a socket error after a terminate(), a second close frame, a
 * late 101 after a timeout): `transition()` returns undefined and the attempt
 * ignores it. That is the design, not a gap: I/O callbacks arrive late, and
 * an attempt must never throw from one.
 */
const TABLE: Table = {
  connecting: {
    ...connectingLike,
    'tcp-connected': to('tls'),
    'transport-ready': to('handshake', 'write-request'),
    'close-called': to('connecting', 'defer-close'),
  },
  tls: {
    ...connectingLike,
    'transport-ready': to('handshake', 'write-request'),
    'close-called': to('tls', 'defer-close'),
  },
  handshake: {
    ...connectingLike,
    response: to('open', 'report-open'),
    'close-called': to('handshake', 'defer-close'),
    redirect: ABANDON,
  },
  open: {
    'close-called': to('closing', 'send-close'),
    // RFC 6455 5.5.1: answer a close with a close, then end our side of TCP.
    'close-received': to('ending', 'send-close', 'end-outbound'),
    // RFC 6455 7.1.7: fail the connection with a close frame carrying the code.
    'protocol-error': to('discarding', 'send-close', 'end-outbound', 'report-error'),
    'connection-error': FAIL_EARLY,
    terminate: ABANDON,
    'socket-closed': LOST,
  },
  closing: {
    'close-received': to('ending', 'end-outbound'),
    // Our close frame is out already; the close timer bounds the wait for TCP.
    'protocol-error': to('discarding', 'report-error'),
    'connection-error': FAIL_EARLY,
    'close-timeout': FAIL_EARLY,
    terminate: ABANDON,
    // We asked to close and the server closed TCP: no close frame from it, 1006, no error.
    'socket-closed': CLOSED,
  },
  ending: {
    // The closing handshake is done: a reset or a timeout while tearing down is not worth reporting.
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

/**
 * The transition for `event` in `phase`, or undefined when the event is
 * ignored there (see the table's comment). Pure: no side effects, the same
 * answer every time.
 */
export function transition(phase: Phase, event: LifecycleEvent): Transition | undefined {
  return TABLE[phase][event];
}

/** The public `readyState` of an attempt in `phase`. */
export function readyStateOf(phase: Phase): ReadyState {
  switch (phase) {
    case 'connecting':
    case 'tls':
    case 'handshake':
      return 'connecting';
    case 'open':
      return 'open';
    case 'closed':
      return 'closed';
    default:
      return 'closing';
  }
}
