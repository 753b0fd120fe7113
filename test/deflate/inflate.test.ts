import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { cuts, decodeAndInflate, flatten, hex, HELLO, joinPieces, VECTORS, NEGOTIATED_DEFAULT, serverFrames, summarize } from './helpers.js';

describe('PerMessageInflateStream: RFC 7692 vectors at every split point', () => {
  it.each(VECTORS)('%s', async (_name, frames, expected) => {
    const bytes = hex(frames);
    for (const chunks of cuts(bytes)) {
      for (const batch of [false, true]) {
        const events = flatten(await decodeAndInflate(chunks, { batch }));
        expect(summarize(joinPieces(events)), `${chunks.length} chunks, batch ${batch}`).toEqual(expected);
      }
    }
  });
});

describe('PerMessageInflateStream', () => {
  it('RSV1 is refused with 1002 when the extension was not negotiated', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    const events = decoder.push(hex(HELLO));
    expect(summarize(events)).toEqual([{ error: ErrorCode.ReservedBits, closeCode: 1002 }]);
  });

  it('server_no_context_takeover: each message starts from an empty window', async () => {
    // The second message of 7.2.3.2 points back into the first one.
    const bytes = hex(`${HELLO} 0xc1 0x05 0xf2 0x00 0x11 0x00 0x00`);
    const events = flatten(await decodeAndInflate([bytes], { negotiated: { ...NEGOTIATED_DEFAULT, serverNoContextTakeover: true } }));
    expect(summarize(events)).toEqual([
      { data: 'Hello', compressed: false, start: true, end: true },
      { error: ErrorCode.InvalidCompressedData, closeCode: 1007 },
    ]);
  });

  it('invalid UTF-8 inside a compressed text message is 1007', async () => {
    const compressed = zlib.deflateRawSync(Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const frames = serverFrames([{ opcode: Opcode.Text, payload: compressed.subarray(0, -4), rsv1: true }]);
    const events = flatten(await decodeAndInflate([frames]));
    expect(summarize(events)).toEqual([{ error: ErrorCode.InvalidUtf8, closeCode: 1007 }]);
  });

  it('a text message cut inside a character is 1007; the same bytes as binary pass', async () => {
    const bytes = Buffer.from('héllo €', 'utf8').subarray(0, -1);
    const compressed = zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const text = flatten(await decodeAndInflate([serverFrames([{ opcode: Opcode.Text, payload: compressed, rsv1: true }])]));
    expect(summarize(text)).toEqual([{ error: ErrorCode.InvalidUtf8, closeCode: 1007 }]);
    const binary = flatten(await decodeAndInflate([serverFrames([{ opcode: Opcode.Binary, payload: compressed, rsv1: true }])]));
    expect(binary).toHaveLength(1);
    expect((binary[0] as { payload: Buffer }).payload.equals(bytes)).toBe(true);
  });

  it('an inflated message over maxMessageBytes is 1009, and later input is ignored', async () => {
    const big = Buffer.alloc(100_000, 0x61);
    const compressed = zlib.deflateRawSync(big, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const frames = serverFrames([
      { opcode: Opcode.Binary, payload: compressed, rsv1: true },
      { opcode: Opcode.Text, payload: 'after' },
    ]);
    const events = flatten(await decodeAndInflate([frames], { maxMessageBytes: 50_000 }));
    expect(summarize(events)).toEqual([{ error: ErrorCode.MessageTooBig, closeCode: 1009 }]);
    // Exactly at the limit is fine.
    const exact = flatten(await decodeAndInflate([frames], { maxMessageBytes: 100_000 }));
    expect(exact.map((e) => e.type)).toEqual(['data', 'data']);
  });

  it('a flood of empty compressed messages in one read does not exhaust the stack', async () => {
    const count = 100_000;
    const bytes = Buffer.alloc(count * 2);
    for (let i = 0; i < count; i++) bytes[i * 2] = 0xc2; // FIN | RSV1 | binary, length 0
    for (const batch of [true, false]) {
      const events = flatten(await decodeAndInflate([bytes], { batch }));
      expect(events.length).toBe(count);
      expect(events.every((e) => e.type === 'data' && e.payload.length === 0 && !e.compressed)).toBe(true);
    }
  });

  it('keeps batches as arrays, in order, one array per input array', async () => {
    const frames = serverFrames([
      { opcode: Opcode.Text, payload: 'plain' },
      { opcode: Opcode.Text, payload: hex('f248cdc9c90700'), rsv1: true },
      { opcode: Opcode.Ping, payload: 'x' },
    ]);
    const items = await decodeAndInflate([frames], { batch: true });
    expect(items).toHaveLength(1);
    expect(Array.isArray(items[0])).toBe(true);
    expect(summarize(items[0] as never)).toEqual([
      { data: 'plain', compressed: false, start: true, end: true },
      { data: 'Hello', compressed: false, start: true, end: true },
      { ping: 'x' },
    ]);
  });

  it('inflates many messages with context takeover from an independent zlib compressor', async () => {
    const deflate = zlib.createDeflateRaw({ windowBits: 15 });
    const outputs: Buffer[] = [];
    const texts = Array.from({ length: 50 }, (_, i) => `message number ${i} `.repeat(i + 1));
    for (const text of texts) {
      deflate.write(text);
      const chunks: Buffer[] = [];
      const onData = (c: Buffer) => chunks.push(c);
      deflate.on('data', onData);
      await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
      deflate.off('data', onData);
      outputs.push(Buffer.concat(chunks).subarray(0, -4));
    }
    deflate.close();
    const frames = serverFrames(outputs.map((payload) => ({ opcode: Opcode.Text, payload, rsv1: true })));
    const events = flatten(await decodeAndInflate([frames]));
    expect(events.map((e) => (e.type === 'data' ? e.payload.toString() : e.type))).toEqual(texts);
  });
});
