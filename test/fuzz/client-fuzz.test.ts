// Client-level fuzz over real sockets: a few hundred connections, each fed a
// seeded (mostly mutated) frame stream followed by a close frame, written in
// random pieces, some in the same write as the 101.
//
// The expected behaviour comes from a reference decode of the same bytes with
// FrameDecoder: the client must echo exactly the messages and answer exactly
// the pings that precede the first terminal event, then fail with that
// error's close code, or answer the server's close, or (if the stream never
// completes a frame) report 1006 when the server goes away. Always: onClose
// exactly once, every error a documented WebSocketError, every client frame
// valid (checked by the peer), and no hang.

import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Peer, type PeerConnection } from '../conformance/peer.js';
import { WebSocketClient } from '../conformance/client-under-test.js';
import { close } from '../conformance/wire.js';
import { makeInput } from './frame-streams.js';
import { Prng } from './prng.js';

const CONNECTIONS = Number(process.env.CLIENT_FUZZ_CONNECTIONS ?? 300);
const CONCURRENCY = 8;
const DOCUMENTED = new Set<string>(Object.values(ErrorCode));
/** How the reference decode of each stream ended, to show what the run covered. */
const outcomes = new Map<string, number>();

interface Reference {
  messages: string[];
  pings: string[];
  /** The terminal event: a protocol error, a close frame, or nothing (incomplete). */
  end: { kind: 'error'; code: string; closeCode: number } | { kind: 'close'; code: number | undefined } | { kind: 'incomplete' };
}

function reference(bytes: Buffer): Reference {
  const decoder = new FrameDecoder({ role: 'client' });
  const ref: Reference = { messages: [], pings: [], end: { kind: 'incomplete' } };
  let pieces: Buffer[] = [];
  for (const e of decoder.push(Buffer.from(bytes))) {
    if (e.type === 'data') {
      if (e.messageStart) pieces = [];
      pieces.push(Buffer.from(e.payload));
      if (e.messageEnd) ref.messages.push(`${e.opcode === 1 ? 't' : 'b'}:${Buffer.concat(pieces).toString('hex')}`);
    } else if (e.type === 'ping') {
      ref.pings.push(e.payload.toString('hex'));
    } else if (e.type === 'close') {
      ref.end = { kind: 'close', code: e.code };
    } else if (e.type === 'error') {
      ref.end = { kind: 'error', code: e.error.code, closeCode: e.error.closeCode };
    }
  }
  return ref;
}

/**
 * `exact`: no extension offered, so the reference decode (no compression) must
 * match the client event for event, error code included. `offered`: the
 * default options (permessage-deflate offered, which our server declines):
 * the client's decoder then admits RSV1 on a new data frame and leaves the
 * refusal to the inflate stage, so where a frame breaks two rules the error
 * code may differ; the close code on the wire may not. `paused`: as `exact`,
 * but the client pauses after some messages and resumes a little later, so
 * delivery resumes in the middle of a read.
 */
type Mode = 'exact' | 'offered' | 'paused';

async function fuzzOne(seed: number, mode: Mode): Promise<string[]> {
  // The client reads server frames: unmasked, no compression negotiated, default limits.
  const input = makeInput(seed, { role: 'client', compression: false });
  const rng = new Prng(seed ^ 0x1234567);
  const bytes = Buffer.concat([input.bytes, close(1000, 'fuzz-end')]);
  const ref = reference(bytes);
  const withHandshake = rng.chance(0.3);
  const chop = bytes.length < 3000 && rng.chance(0.3) ? 1 : rng.range(1, Math.max(1, bytes.length));

  const peer = await Peer.start(async (conn: PeerConnection) => {
    if (ref.end.kind === 'close') conn.serverCloseSent = true;
    if (withHandshake) await conn.accept({ trailing: bytes, chop });
    else {
      await conn.accept();
      await conn.write(bytes, { chop });
    }
    if (ref.end.kind === 'incomplete') {
      // The stream stops mid-frame: give the client a moment, then go away.
      await conn.waitFor(() => conn.messages.length >= ref.messages.length && conn.pongs.length >= ref.pings.length, 1000);
      conn.end();
    }
    await conn.waitClientClose(2000);
    await conn.waitTcpClosed(2000);
  });
  const errors: Array<{ code: string; closeCode: number | undefined; isWse: boolean }> = [];
  const closes: number[] = [];
  const problems: string[] = [];
  const ws = new WebSocketClient(peer.url('/fuzz'), { handshakeTimeoutMs: 3000, closeTimeoutMs: 1000, ...(mode === 'offered' ? {} : { perMessageDeflate: false }) });
  ws.onMessage = (_c, data, isBinary) => {
    if (ws.readyState === 'open') ws.send(Array.isArray(data) ? Buffer.concat(data) : data, { binary: isBinary });
    if (mode === 'paused' && rng.chance(0.5)) {
      ws.pause();
      const resume = (): void => ws.resume();
      if (rng.chance(0.5)) setImmediate(resume);
      else setTimeout(resume, rng.int(5));
    }
  };
  ws.onError = (_c, code, _m, error) => errors.push({ code, closeCode: error?.closeCode, isWse: error instanceof Error && typeof error.code === 'string' });
  ws.onClose = (_c, code) => closes.push(code);
  ws.connect();
  const deadline = Date.now() + 6000;
  while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 20));
  const conn = peer.connections[0];
  ws.terminate();
  await peer.stop();

  if (!conn) return [`seed ${seed}: no connection`];
  if (closes.length !== 1) problems.push(`onClose called ${closes.length} times`);
  for (const v of conn.violations) problems.push(`peer: ${v}`);
  for (const e of errors) {
    if (!e.isWse || !DOCUMENTED.has(e.code)) problems.push(`undocumented error ${e.code}`);
  }
  const echoed = conn.messages.map((m) => `${m.binary ? 'b' : 't'}:${m.payload.toString('hex')}`);
  if (echoed.join('|') !== ref.messages.join('|')) problems.push(`echoed ${echoed.length} messages, expected ${ref.messages.length} (or different bytes)`);
  const pongs = conn.pongs.map((p) => p.toString('hex'));
  if (pongs.join('|') !== ref.pings.join('|')) problems.push(`sent ${pongs.length} pongs, expected ${ref.pings.length}`);
  const sent = conn.clientClose?.code;
  const end = ref.end;
  outcomes.set(end.kind === 'error' ? end.code : end.kind, (outcomes.get(end.kind === 'error' ? end.code : end.kind) ?? 0) + 1);
  switch (end.kind) {
    case 'error':
      if (sent !== end.closeCode) problems.push(`client close ${sent}; expected ${end.closeCode} for ${end.code}`);
      if (mode !== 'offered' && !errors.some((e) => e.code === end.code)) problems.push(`errors [${errors.map((e) => e.code)}]; expected ${end.code}`);
      if (mode === 'offered' && !errors.some((e) => e.closeCode === end.closeCode)) problems.push(`errors [${errors.map((e) => `${e.code}/${e.closeCode}`)}]; expected one with closeCode ${end.closeCode}`);
      if (closes[0] !== undefined && closes[0] !== end.closeCode && closes[0] !== 1006) problems.push(`onClose ${closes[0]}`);
      break;
    case 'close': {
      const want = end.code;
      if (want === undefined ? sent !== undefined && sent !== 1000 : sent !== want) problems.push(`client close ${sent}; expected ${want ?? 'empty'}`);
      if (closes[0] !== (want ?? 1005)) problems.push(`onClose ${closes[0]}; expected ${want ?? 1005}`);
      if (errors.length > 0) problems.push(`unexpected errors [${errors.map((e) => e.code)}]`);
      break;
    }
    case 'incomplete':
      if (closes[0] !== 1006) problems.push(`onClose ${closes[0]}; expected 1006 (the server went away mid-frame)`);
      if (!errors.some((e) => e.code === ErrorCode.ConnectionLost)) problems.push(`errors [${errors.map((e) => e.code)}]; expected ${ErrorCode.ConnectionLost}`);
      break;
  }
  return problems.map((p) => `seed ${seed} ${mode} (${input.kind}, ${bytes.length} bytes, chop ${chop}${withHandshake ? ', with the 101' : ''}): ${p}`);
}

describe('client fuzz over real sockets', () => {
  it(`${CONNECTIONS} connections with seeded frame streams`, async () => {
    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CONNECTIONS) {
        const i = next++;
        // No extension offered (exact), the default options (offered), and pausing.
        failures.push(...(await fuzzOne(0xc11e0000 + i, (['exact', 'offered', 'paused'] as const)[i % 3]!)));
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(
      `client fuzz: ${CONNECTIONS} connections in ${Date.now() - started} ms, ${failures.length} problems\n` +
        `  streams ended in: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
    expect(failures.slice(0, 15)).toEqual([]);
  }, 120_000);
});
