// Runs one conformance case: a fresh peer, a fresh echoing client, a bounded
// wait, and a verdict listing every way the client departed from the case.

import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import type { ConformanceCase, Expectation } from './cases.js';
import { errorCodeOf, type ClientConstructor, type ClientUnderTest } from './client-under-test.js';
import { Peer, type PeerConnection, type ReceivedMessage, type WriteOptions } from './peer.js';

export interface ClientRecord {
  opened: boolean;
  errors: Array<{ code: string; closeCode: number | undefined; message: string }>;
  closes: Array<{ code: number; reason: string; at: number }>;
  /** Exceptions thrown by the client's own methods while the case ran. */
  thrown: string[];
}

export interface CaseResult {
  id: string;
  section: string;
  description: string;
  failures: string[];
  ms: number;
  client: ClientRecord;
  peerLog: string[];
}

const DEFAULT_TIMEOUT_MS = 8000;

/**
 * Extra client options for every case, to run the suite under another
 * configuration, e.g. CONFORMANCE_CLIENT_OPTIONS='{"fragments":"list","pingIntervalMs":20}'.
 */
const EXTRA_OPTIONS: Record<string, unknown> = process.env.CONFORMANCE_CLIENT_OPTIONS ? JSON.parse(process.env.CONFORMANCE_CLIENT_OPTIONS) : {};

function writeOptions(c: ConformanceCase): WriteOptions {
  if (c.write === 'bytes') return { chop: 1 };
  if (typeof c.write === 'number') return { chop: c.write };
  return {};
}

/** The standard server script: answer, send the frames as the case says, then end as the expectation implies. */
async function defaultScript(c: ConformanceCase, conn: PeerConnection): Promise<void> {
  // A close among our frames means the server starts the closing handshake.
  const serverCloses = c.frames.some((f) => (f[0]! & 0x0f) === 0x8);
  if (serverCloses) conn.serverCloseSent = true;
  const opts = writeOptions(c);
  if (c.withHandshake) {
    await conn.accept({ ...c.accept, ...opts, trailing: Buffer.concat(c.frames) });
  } else {
    await conn.accept(c.accept);
    if (c.write === 'frames') {
      for (const f of c.frames) {
        await conn.write(f);
        await immediate();
      }
    } else if (c.frames.length > 0) {
      await conn.write(c.frames, opts);
    }
  }
  const e = c.expect;
  if (!e.opened) {
    await conn.waitTcpClosed(4000);
    return;
  }
  if (e.errorCode !== undefined || serverCloses) {
    await conn.waitClientClose(3000);
    await conn.waitTcpClosed(3000);
    return;
  }
  const waitMs = (c.timeoutMs ?? DEFAULT_TIMEOUT_MS) - 2000;
  await conn.waitMessages(e.messages.length, waitMs);
  await conn.waitPongs(e.pongs.length, waitMs);
  await conn.finish(1000, 3000);
}

export async function runCase(c: ConformanceCase, Client: ClientConstructor): Promise<CaseResult> {
  const started = Date.now();
  const peer = await Peer.start((conn) => (c.server ? c.server(conn) : defaultScript(c, conn)));
  const record: ClientRecord = { opened: false, errors: [], closes: [], thrown: [] };
  let ws: ClientUnderTest | undefined;
  const failures: string[] = [];
  const path = `/case/${c.id}?q=${c.id}&x=%20y`;
  try {
    ws = new Client(peer.url(path), { handshakeTimeoutMs: 3000, closeTimeoutMs: 2000, ...EXTRA_OPTIONS, ...(c.clientOptions as object) });
    const client = ws;
    client.onWebSocketConnect = () => {
      record.opened = true;
      try {
        c.onOpen?.(client);
      } catch (error) {
        record.thrown.push(`onOpen: ${String(error)}`);
      }
    };
    client.onMessage = (_conn, data, isBinary) => {
      // A message that arrives after the client sent its close is delivered, but cannot be answered.
      if (client.readyState !== 'open') return;
      try {
        client.send(Array.isArray(data) ? Buffer.concat(data) : data, { binary: isBinary });
      } catch (error) {
        record.thrown.push(`send: ${String(error)}`);
      }
    };
    client.onError = (_conn, code, message, error) => {
      record.errors.push({ code: errorCodeOf(code, error), closeCode: error?.closeCode, message });
    };
    client.onClose = (_conn, code, reason) => {
      record.closes.push({ code, reason, at: Date.now() - started });
    };
    client.connect();

    const deadline = started + (c.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const conn = await peer.connection(0, deadline - Date.now());
    if (conn) {
      await Promise.race([
        (async () => {
          await conn.closed;
          await peer.settled(deadline - Date.now());
        })(),
        sleep(Math.max(0, deadline - Date.now()), undefined, { ref: false }),
      ]);
    }
    // Let the client report its close (and anything it should not do after it).
    while (record.closes.length === 0 && Date.now() < deadline) await sleep(10);
    await sleep(20);
    failures.push(...verdict(c.expect, record, conn, started, { path, host: `127.0.0.1:${peer.port}` }));
  } catch (error) {
    failures.push(`harness: ${(error as Error).stack ?? String(error)}`);
  } finally {
    try {
      ws?.terminate();
    } catch {
      // already closed
    }
    await peer.stop();
  }
  return {
    id: c.id,
    section: c.section,
    description: c.description,
    failures,
    ms: Date.now() - started,
    client: record,
    peerLog: peer.connections.flatMap((p) => p.log),
  };
}

function describeMessage(m: ReceivedMessage): string {
  const head = m.payload.subarray(0, 24);
  return `${m.binary ? 'binary' : 'text'}(${m.payload.length} bytes: ${m.binary ? head.toString('hex') : JSON.stringify(head.toString('utf8'))}${m.payload.length > 24 ? '...' : ''})`;
}

function sameMessages(a: ReceivedMessage[], b: ReceivedMessage[]): boolean {
  return a.length === b.length && a.every((m, i) => m.binary === b[i]!.binary && m.payload.equals(b[i]!.payload));
}

/** Every way the run departed from the expectation; empty when the case passed. */
export function verdict(
  e: Expectation,
  r: ClientRecord,
  conn: PeerConnection | undefined,
  started: number,
  expectedTarget?: { path: string; host: string },
): string[] {
  const out: string[] = [];
  if (!conn) return ['the client never connected'];
  if (!conn.request) out.push('the client never sent a complete handshake request');
  // RFC 6455 4.1 items 3-4: the request target is the URL's path and query; Host is host[:port].
  else if (expectedTarget !== undefined) {
    if (conn.request.target !== expectedTarget.path) out.push(`request target ${conn.request.target}; expected ${expectedTarget.path}`);
    if (conn.request.headers['host'] !== expectedTarget.host) out.push(`Host ${conn.request.headers['host']}; expected ${expectedTarget.host}`);
  }
  for (const v of conn.violations) out.push(`peer: ${v}`);
  for (const t of r.thrown) out.push(`client threw: ${t}`);
  if (r.opened !== e.opened) out.push(e.opened ? 'the client never opened' : 'the client opened despite a bad handshake');

  if (!sameMessages(conn.messages, e.messages)) {
    out.push(`echoed ${conn.messages.map(describeMessage).join(', ') || 'nothing'}; expected ${e.messages.map(describeMessage).join(', ') || 'nothing'}`);
  }
  const pongs = conn.pongs.map((p) => p.toString('hex'));
  const wantPongs = e.pongs.map((p) => p.toString('hex'));
  if (pongs.join('|') !== wantPongs.join('|') || pongs.length !== wantPongs.length) {
    out.push(`pongs [${pongs.join(', ')}]; expected [${wantPongs.join(', ')}]`);
  }

  const cc = conn.clientClose;
  const got = cc === undefined ? 'no close frame' : cc.code === undefined ? 'a close frame without code' : `close ${cc.code}`;
  switch (e.clientClose) {
    case null:
      if (cc !== undefined) out.push(`the client sent ${got}; expected no close frame`);
      break;
    case 'any':
      break;
    case 'none':
      if (cc === undefined || cc.code !== undefined) out.push(`the client sent ${got}; expected a close frame without code`);
      break;
    case 'none-or-1000':
      if (cc === undefined || (cc.code !== undefined && cc.code !== 1000)) out.push(`the client sent ${got}; expected an empty close or 1000`);
      break;
    default:
      if (cc?.code !== e.clientClose) out.push(`the client sent ${got}; expected close ${e.clientClose}`);
  }

  if (e.errorCode === undefined) {
    for (const err of r.errors) out.push(`unexpected onError ${err.code}: ${err.message}`);
  } else {
    const match = r.errors.find((err) => err.code === e.errorCode);
    if (!match) {
      out.push(`onError ${r.errors.map((x) => x.code).join(', ') || 'never called'}; expected ${e.errorCode}`);
    } else if (e.errorCloseCode !== undefined && match.closeCode !== e.errorCloseCode) {
      out.push(`error ${match.code} carries closeCode ${match.closeCode}; expected ${e.errorCloseCode}`);
    }
  }

  if (r.closes.length > 1) out.push(`onClose called ${r.closes.length} times`);
  if (e.onCloseCodes.length > 0) {
    const first = r.closes[0];
    if (!first) out.push(`onClose never called; expected ${e.onCloseCodes.join(' or ')}`);
    else if (!e.onCloseCodes.includes(first.code)) out.push(`onClose ${first.code}; expected ${e.onCloseCodes.join(' or ')}`);
    else if (e.onCloseReason !== undefined && first.reason !== e.onCloseReason) out.push(`onClose reason ${JSON.stringify(first.reason)}; expected ${JSON.stringify(e.onCloseReason)}`);
  }

  if (!conn.isClosed) out.push('the TCP connection was still open when the case ended');
  if (e.clientDropsTcpWithinMs !== undefined) {
    if (conn.tcpEndedBy !== 'client') out.push(`TCP ended by ${conn.tcpEndedBy ?? 'nobody'}; the client must drop it`);
    else if ((conn.tcpEndedAt ?? Infinity) > e.clientDropsTcpWithinMs) out.push(`the client dropped TCP after ${conn.tcpEndedAt} ms; bound ${e.clientDropsTcpWithinMs} ms`);
  }
  void started;
  return out;
}
