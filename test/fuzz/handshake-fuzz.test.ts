// Handshake fuzz over real sockets: a few hundred mutated 101 responses
// (bit flips, deleted and inserted characters, duplicated, reordered and
// re-cased lines, truncations). An independent verifier written here from
// RFC 6455 4.1 and RFC 7230 3 decides whether each response is acceptable;
// the client must open exactly when it is, and otherwise fail the attempt
// with a handshake (or connection) error, close TCP, and call onClose once.

import { acceptValue } from '../../src/protocol/handshake.js';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Peer } from '../conformance/peer.js';
import { WebSocketClient } from '../conformance/client-under-test.js';
import { text } from '../conformance/wire.js';
import { Prng } from './prng.js';

const CONNECTIONS = Number(process.env.HANDSHAKE_FUZZ_CONNECTIONS ?? 300);
const CONCURRENCY = 8;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FAILURE_CODES = new Set<string>([
  ErrorCode.HandshakeStatus,
  ErrorCode.HandshakeUpgrade,
  ErrorCode.HandshakeConnection,
  ErrorCode.HandshakeAccept,
  ErrorCode.HandshakeProtocol,
  ErrorCode.HandshakeExtension,
  ErrorCode.HandshakeMalformed,
  ErrorCode.HandshakeTooLarge,
  ErrorCode.HandshakeTimeout,
  ErrorCode.HandshakeRedirect,
  ErrorCode.ConnectionLost,
]);

/** Whether `head` (up to and including CRLFCRLF, or not) is a response the client must accept. */
export function acceptable(head: string, key: string): { ok: boolean; why: string } {
  const end = head.indexOf('\r\n\r\n');
  if (end === -1) return { ok: false, why: 'no end of head' };
  const lines = head.slice(0, end).split('\r\n');
  // RFC 7230 3.1.2: status-line = HTTP-version SP status-code SP reason-phrase, and
  // "a client SHOULD ignore the reason-phrase content": any reason (even none) is fine.
  // RFC 7230 2.6: HTTP/1.x with x >= 1 reads as 1.1; 1.0 has no Upgrade; other majors are other syntaxes.
  const status = /^HTTP\/1\.[1-9] 101(?: .*)?$/.exec(lines[0]!);
  if (!status) return { ok: false, why: `status line ${JSON.stringify(lines[0])}` };
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    // RFC 7230 3.2.4: no whitespace between name and colon; obs-fold is not accepted here.
    if (colon <= 0 || !TOKEN.test(name)) return { ok: false, why: `header line ${JSON.stringify(line)}` };
    // RFC 7230 3.2: OWS is spaces and tabs; a field value has no CR, LF or NUL (a bare CR or LF
    // inside a line is not taken as a line ending: RFC 7230 3.5 leaves that to the recipient).
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\r\n\0]/.test(value)) return { ok: false, why: `CR, LF or NUL in ${JSON.stringify(line)}` };
    headers.set(name.toLowerCase(), [...(headers.get(name.toLowerCase()) ?? []), value]);
  }
  const one = (n: string): string | undefined => (headers.get(n)?.length === 1 ? headers.get(n)![0] : headers.get(n)?.join(', '));
  if (one('upgrade')?.toLowerCase() !== 'websocket') return { ok: false, why: 'upgrade' };
  if (!(one('connection') ?? '').split(',').some((t) => t.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase() === 'upgrade')) return { ok: false, why: 'connection' };
  if (one('sec-websocket-accept') !== acceptValue(key)) return { ok: false, why: 'accept' };
  if (headers.has('sec-websocket-protocol')) return { ok: false, why: 'protocol not offered' };
  if (headers.has('sec-websocket-extensions')) return { ok: false, why: 'extension not offered' };
  return { ok: true, why: '' };
}

function mutateHead(rng: Prng, head: string): string {
  const lines = head.slice(0, -4).split('\r\n');
  switch (rng.int(8)) {
    case 0: {
      const b = Buffer.from(head, 'latin1');
      b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b.toString('latin1');
    }
    case 1: {
      const at = rng.int(head.length);
      return head.slice(0, at) + head.slice(at + 1);
    }
    case 2: {
      const at = rng.int(head.length);
      return head.slice(0, at) + rng.pick([' ', '\t', ':', '\r', '\n', '\r\n', ',', 'x', '\x00', '\x0b', '\x7f', '\xa0', 'é']) + head.slice(at);
    }
    case 3: {
      const i = rng.range(1, lines.length - 1);
      lines.splice(i, 0, lines[i]!);
      return lines.join('\r\n') + '\r\n\r\n';
    }
    case 4: {
      const rest = lines.slice(1);
      for (let i = rest.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [rest[i], rest[j]] = [rest[j]!, rest[i]!];
      }
      return [lines[0], ...rest].join('\r\n') + '\r\n\r\n';
    }
    case 5: {
      // Re-case header names and token values (but not the accept value, which is case-sensitive base64).
      return lines
        .map((l, i) => {
          if (i === 0 || /^sec-websocket-accept:/i.test(l)) return l.replace(/^[^:]+/, (n) => (rng.chance(0.5) ? n.toUpperCase() : n.toLowerCase()));
          return rng.chance(0.5) ? l.toUpperCase() : l.toLowerCase();
        })
        .join('\r\n') + '\r\n\r\n';
    }
    case 6:
      return head.slice(0, rng.int(head.length));
    default: {
      const extra = rng.pick([
        'Sec-WebSocket-Protocol: chat',
        'Sec-WebSocket-Extensions: permessage-deflate',
        'X-Extra: value',
        ' folded continuation',
        'Bad Header: x',
        'Connection: close',
        'Upgrade: h2c',
        'Content-Length: 0',
      ]);
      lines.splice(rng.range(1, lines.length), 0, extra);
      return lines.join('\r\n') + '\r\n\r\n';
    }
  }
}

async function fuzzOne(seed: number): Promise<string[]> {
  const rng = new Prng(seed);
  let chosen = { head: '', verdict: { ok: false, why: '' } };
  const peer = await Peer.start(async (conn) => {
    const key = conn.request!.key;
    const names = rng.pick([['Upgrade', 'Connection', 'Sec-WebSocket-Accept'], ['upgrade', 'connection', 'sec-websocket-accept']]);
    const head = `HTTP/1.1 101 Switching Protocols\r\n${names[0]}: websocket\r\n${names[1]}: Upgrade\r\n${names[2]}: ${acceptValue(key)}\r\n\r\n`;
    const mutated = rng.chance(0.1) ? head : mutateHead(rng, rng.chance(0.3) ? mutateHead(rng, head) : head);
    chosen = { head: mutated, verdict: acceptable(mutated, key) };
    conn.accepted = true;
    await conn.write(Buffer.concat([Buffer.from(mutated, 'latin1'), chosen.verdict.ok ? text('hi') : Buffer.alloc(0)]), { chop: rng.chance(0.3) ? 1 : 1 << 20 });
    if (chosen.verdict.ok) {
      await conn.waitMessages(1, 2000);
      await conn.finish();
    } else {
      await conn.waitTcpClosed(300);
      if (!conn.isClosed) conn.end();
    }
  });
  const errors: string[] = [];
  const closes: number[] = [];
  let opened = false;
  // No extension offered: any Sec-WebSocket-Extensions in the answer is one not offered.
  const ws = new WebSocketClient(peer.url('/hs'), { handshakeTimeoutMs: 1500, closeTimeoutMs: 1000, perMessageDeflate: false });
  ws.onWebSocketConnect = () => (opened = true);
  ws.onMessage = (_c, data) => ws.send(data as string);
  ws.onError = (_c, code) => errors.push(code);
  ws.onClose = (_c, code) => closes.push(code);
  ws.connect();
  const deadline = Date.now() + 4000;
  while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 10));
  ws.terminate();
  const conn = peer.connections[0];
  await peer.stop();

  const problems: string[] = [];
  if (closes.length !== 1) problems.push(`onClose called ${closes.length} times`);
  if (conn) for (const v of conn.violations) problems.push(`peer: ${v}`);
  if (chosen.verdict.ok) {
    if (!opened) problems.push(`refused a valid response (${errors.join(', ')})`);
    if (errors.length > 0) problems.push(`errors ${errors.join(', ')}`);
    if (conn?.messages.length !== 1) problems.push('did not echo');
  } else {
    if (opened) problems.push(`accepted an invalid response (${chosen.verdict.why})`);
    if (errors.length === 0 || !errors.every((e) => FAILURE_CODES.has(e))) problems.push(`errors [${errors.join(', ')}] for ${chosen.verdict.why}`);
    if (conn?.clientClose) problems.push('sent a close frame before the handshake completed');
  }
  const shown = chosen.head.replace(/[^\x20-\x7e]/g, (c) => (c === '\r' ? '\\r' : c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return problems.map((p) => `seed ${seed}: ${p}\n      head: ${shown}`);
}

describe('handshake fuzz over real sockets', () => {
  it(`${CONNECTIONS} mutated 101 responses: open exactly when valid`, async () => {
    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CONNECTIONS) {
        const seed = 0x4a5e0000 + next++;
        failures.push(...(await fuzzOne(seed)));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(`handshake fuzz: ${CONNECTIONS} responses, ${failures.length} problems`);
    expect(failures.slice(0, 10)).toEqual([]);
  }, 120_000);
});
