import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder, FrameEncoder, Opcode, type DecoderSink } from '../../src/protocol/index.js';
import { maskInPlace } from '../../src/protocol/mask.js';
import { Prng } from '../fuzz/prng.js';
import { delay, waitUntil } from '../helpers/wait.js';
import { Harness, rawClient, startRawUpstream } from './helpers.js';

// What the relay's in-place pump relies on: FrameDecoder with unmask: false
// (frameStart, frameMaskKey, pieceKeyOffset) at every split point, and the
// relay itself when a client's frames reach it cut at random places.

const harness = new Harness();
afterEach(() => harness.cleanup());

function frames(): { bytes: Buffer; payloads: Buffer[] } {
  const encoder = new FrameEncoder({ role: 'client' });
  const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('x'.repeat(200)), Buffer.alloc(70_000, 3), Buffer.from('end')];
  for (const payload of payloads) encoder.add({ opcode: Opcode.Binary, payload });
  return { bytes: Buffer.concat(encoder.take()), payloads };
}

describe('FrameDecoder with unmask: false', () => {
  it('gives, at every split point, masked pieces that the frame key and piece offset unmask, and the header start when it is in the chunk', () => {
    const { bytes, payloads } = frames();
    for (let cut = 0; cut <= bytes.length; cut += cut < 300 ? 1 : 997) {
      const decoder = new FrameDecoder({ role: 'server', unmask: false });
      const got: Buffer[] = [];
      let current: Buffer[] = [];
      const headers: number[] = [];
      let chunkIndex = 0;
      let first = true;
      const sink: DecoderSink = {
        data: (_opcode, chunk, start, end, _ms, messageEnd) => {
          if (first) headers.push(chunkIndex === 0 ? decoder.frameStart : decoder.frameStart === -1 ? -1 : cut + decoder.frameStart);
          first = messageEnd;
          const piece = Buffer.from(chunk.subarray(start, end));
          maskInPlace(piece, 0, piece.length, decoder.frameMaskKey, decoder.pieceKeyOffset);
          current.push(piece);
          if (messageEnd) {
            got.push(Buffer.concat(current));
            current = [];
          }
        },
        control: () => {},
        close: () => {},
        error: (error) => {
          throw error;
        },
      };
      const original = Buffer.from(bytes);
      decoder.decode(Buffer.from(bytes.subarray(0, cut)), sink);
      chunkIndex = 1;
      decoder.decode(Buffer.from(bytes.subarray(cut)), sink);
      expect(got.map((p) => p.toString('hex')), `cut at ${cut}`).toEqual(payloads.map((p) => p.toString('hex')));
      // A header start, when given, points at a header: its first byte is FIN | binary.
      for (const at of headers) if (at >= 0) expect(original[at], `cut at ${cut}`).toBe(0x82);
      expect(original.equals(bytes)).toBe(true);
    }
  });
});

describe('relay with reads cut anywhere', () => {
  it('relays frames whose headers and keys are split between reads intact', async () => {
    const raw = await startRawUpstream(harness);
    const { port } = await harness.mount('listen', { upstream: raw.url });
    const client = await rawClient(harness, port);
    client.socket.setNoDelay(true);
    const prng = new Prng(7);
    const encoder = new FrameEncoder({ role: 'client' });
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const text = `message ${i} ` + 'y'.repeat(prng.int(300));
      sent.push(text);
      // Some messages in two fragments.
      if (i % 5 === 0) {
        encoder.add({ opcode: Opcode.Text, payload: text.slice(0, 5), fin: false });
        encoder.add({ opcode: Opcode.Continuation, payload: text.slice(5) });
      } else encoder.add({ opcode: Opcode.Text, payload: text });
    }
    const bytes = Buffer.concat(encoder.take());
    for (let at = 0; at < bytes.length; ) {
      const size = 1 + prng.int(40);
      client.socket.write(bytes.subarray(at, at + size));
      at += size;
      if (prng.chance(0.3)) await delay(1);
    }
    await waitUntil(() => raw.events.filter((e) => e.type === 'data' && e.messageEnd).length === sent.length, 10_000, 'every message upstream');
    const texts: string[] = [];
    let current = '';
    for (const e of raw.events) {
      if (e.type !== 'data') continue;
      current += e.payload.toString();
      if (e.messageEnd) {
        texts.push(current);
        current = '';
      }
    }
    expect(texts).toEqual(sent);
  });
});
