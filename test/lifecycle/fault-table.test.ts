import { describe, expect, it } from 'vitest';
import { WebSocketClient, type WebSocketClientOptions } from '../../src/index.js';
import { delay, waitUntil } from '../helpers/wait.js';
import {
  LeftBehind,
  refusedPort,
  start431Server,
  startFaultServer,
  startTlsPortServer,
  type Fault,
  type FaultServer,
  type ServerPhase,
} from './fault-server.js';

// Every attempt ends in exactly one onClose, promptly, whatever the phase and
// the fault, with or without a handshake timeout: the fault table of issue 9.
// "Promptly" is checked without a timing threshold: with the default
// handshakeTimeoutMs (10 s) the close must come within the 3 s wait, so it
// cannot have been the timeout that ended it.

type Timeout = 'default' | 0;
type Ending = 'by itself' | 'terminate()' | 'close()';

interface Row {
  phase: ServerPhase | 'refused' | '431 Connection: close' | 'ws:// at a TLS port';
  fault: Fault | '-';
  timeout: Timeout;
  /** The error reported (at most one), or none. */
  error: string | string[] | undefined;
  /** The close code onClose reports. */
  code: number;
  /** Silence with no timeout cannot end by itself: the test ends it. */
  ending: Ending;
}

/** The documented outcome of each phase x fault (the timeout column only changes how silence ends). */
function expected(phase: Row['phase'], fault: Row['fault'], timeout: Timeout): Omit<Row, 'phase' | 'fault' | 'timeout'> {
  if (fault === 'silence') {
    if (phase === 'refusal without length') return { error: 'WSP_ERR_HANDSHAKE_STATUS', code: 1006, ending: 'by itself' }; // the body wait ends it
    if (phase === 'bad 101') return { error: 'WSP_ERR_HANDSHAKE_ACCEPT', code: 1006, ending: 'by itself' };
    if (phase === 'closing') return { error: 'WSP_ERR_CLOSE_TIMEOUT', code: 1006, ending: 'by itself' };
    if (phase === 'open') return { error: 'WSP_ERR_CLOSE_TIMEOUT', code: 1006, ending: 'close()' }; // close() gets no answer
    return timeout === 0
      ? { error: undefined, code: 1006, ending: 'terminate()' }
      : { error: 'WSP_ERR_HANDSHAKE_TIMEOUT', code: 1006, ending: 'by itself' };
  }
  switch (phase) {
    case 'refused':
      return { error: 'WSP_ERR_CONNECT_FAILED', code: 1006, ending: 'by itself' };
    case '431 Connection: close':
      return { error: 'WSP_ERR_HANDSHAKE_STATUS', code: 1006, ending: 'by itself' };
    case 'ws:// at a TLS port':
      // The TLS server answers the plain request with an alert (not HTTP) or just closes.
      return { error: ['WSP_ERR_HANDSHAKE_MALFORMED', 'WSP_ERR_CONNECTION_LOST'], code: 1006, ending: 'by itself' };
    case 'bad 101':
      return { error: 'WSP_ERR_HANDSHAKE_ACCEPT', code: 1006, ending: 'by itself' };
    case 'refusal without length':
      // A reset while the body is read is a lost connection; otherwise the refusal is reported.
      return { error: fault === 'RST' ? ['WSP_ERR_CONNECTION_LOST', 'WSP_ERR_HANDSHAKE_STATUS'] : 'WSP_ERR_HANDSHAKE_STATUS', code: 1006, ending: 'by itself' };
    case 'closing':
      // Our close frame is out; the server closing TCP instead of answering is no error, a reset is.
      if (fault === 'FIN') return { error: undefined, code: 1006, ending: 'by itself' };
      if (fault === 'RST') return { error: 'WSP_ERR_CONNECTION_LOST', code: 1006, ending: 'by itself' };
      return { error: 'WSP_ERR_RESERVED_BITS', code: 1006, ending: 'by itself' }; // garbage: reported, then the close timer
    case 'open':
      // Garbage: we fail the connection with 1002 (RFC 6455 7.1.7) and report the code we sent.
      if (fault === 'garbage') return { error: 'WSP_ERR_RESERVED_BITS', code: 1002, ending: 'by itself' };
      return { error: 'WSP_ERR_CONNECTION_LOST', code: 1006, ending: 'by itself' };
    default:
      // A reset right after the accept may reach the client before it has seen its connect complete.
      if (phase === 'accepted' && fault === 'RST') return { error: ['WSP_ERR_CONNECT_FAILED', 'WSP_ERR_CONNECTION_LOST'], code: 1006, ending: 'by itself' };
      if (fault === 'garbage') return { error: 'WSP_ERR_HANDSHAKE_MALFORMED', code: 1006, ending: 'by itself' };
      if (fault === 'endless header') return { error: 'WSP_ERR_HANDSHAKE_TOO_LARGE', code: 1006, ending: 'by itself' };
      return { error: 'WSP_ERR_CONNECTION_LOST', code: 1006, ending: 'by itself' };
  }
}

const FAULTS: Fault[] = ['FIN', 'RST', 'silence', 'garbage', 'endless header'];
const PHASES: ServerPhase[] = ['accepted', 'request read', 'half a 101', 'bad 101', 'refusal without length', 'open', 'closing'];
const ENDLESS_APPLIES = new Set<ServerPhase>(['accepted', 'request read', 'half a 101']);

const rows: Row[] = [];
for (const timeout of ['default', 0] as const) {
  for (const phase of ['refused', '431 Connection: close', 'ws:// at a TLS port'] as const) {
    rows.push({ phase, fault: '-', timeout, ...expected(phase, '-', timeout) });
  }
  for (const phase of PHASES) {
    for (const fault of FAULTS) {
      if (fault === 'endless header' && !ENDLESS_APPLIES.has(phase)) continue;
      rows.push({ phase, fault, timeout, ...expected(phase, fault, timeout) });
    }
  }
}
// close() (not only terminate()) ends a silent handshake with no timeout: the wait for it is bounded by closeTimeoutMs.
rows.push({ phase: 'request read', fault: 'silence', timeout: 0, error: 'WSP_ERR_CLOSE_TIMEOUT', code: 1006, ending: 'close()' });

async function serverFor(row: Row): Promise<FaultServer | number> {
  if (row.phase === 'refused') return refusedPort();
  if (row.phase === '431 Connection: close') return start431Server();
  if (row.phase === 'ws:// at a TLS port') return startTlsPortServer();
  return startFaultServer(row.phase, row.fault as Fault);
}

describe('the fault table: one onClose per attempt, promptly, in every phase', () => {
  it.each(rows.map((row) => [`${row.phase} / ${row.fault} / handshakeTimeoutMs ${row.timeout} / ${row.ending}`, row] as const))(
    '%s',
    async (_name, row) => {
      const server = await serverFor(row);
      const port = typeof server === 'number' ? server : server.port;
      const options: WebSocketClientOptions = { closeTimeoutMs: 200, perMessageDeflate: false };
      // Where the timeout is the point, a short one; otherwise the default, which the close must beat.
      if (row.timeout === 0) options.handshakeTimeoutMs = 0;
      else if (row.fault === 'silence') options.handshakeTimeoutMs = 300;
      const left = new LeftBehind().start();
      const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`, options);
      const errors: string[] = [];
      const closes: number[] = [];
      ws.onError = (_c, code) => errors.push(code);
      ws.onClose = (_c, code) => closes.push(code);
      if (row.phase === 'closing') ws.onWebSocketConnect = () => ws.close();
      try {
        ws.connect();
        if (row.ending !== 'by itself') {
          if (row.phase === 'open') await waitUntil(() => ws.readyState === 'open', 3_000, 'the open');
          else await delay(100);
          expect(closes).toEqual([]);
          expect(ws.readyState).toBe(row.phase === 'open' ? 'open' : 'connecting');
          if (row.ending === 'terminate()') ws.terminate();
          else ws.close();
        }
        await waitUntil(() => closes.length > 0, 3_000, 'onClose');
        await delay(50); // nothing more may follow
        expect(closes).toEqual([row.code]);
        if (row.error === undefined) expect(errors).toEqual([]);
        else if (typeof row.error === 'string') expect(errors).toEqual([row.error]);
        else {
          expect(errors).toHaveLength(1);
          expect(row.error).toContain(errors[0]);
        }
        expect(ws.readyState).toBe('closed');
        if (typeof server !== 'number') await waitUntil(() => server.openSockets() === 0, 2_000, 'the client dropped its socket');
        await delay(10);
        expect(left.stop()).toEqual([]);
        expect(ws.eventNames()).toEqual([]);
      } finally {
        left.stop();
        ws.terminate();
        if (typeof server !== 'number') await server.close();
      }
    },
  );
});
