import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { decodeAndInflate, flatten, hex, joinPieces, NEGOTIATED_DEFAULT, serverFrames, summarize } from './helpers.js';

// Vectors from RFC 7692 7.2.3 ("Hello" compressed in various ways).
const HELLO = '0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00';
const vectors: Array<[name: string, frames: string, expected: unknown[]]> = [
  ['one compressed frame (7.2.3.1)', HELLO, [{ data: 'Hello', compressed: false, start: true, end: true }]],
  [
    'fragmented compressed message (7.2.3.1)',
    '0x41 0x03 0xf2 0x48 0xcd 0x80 0x04 0xc9 0xc9 0x07 0x00',
    [{ data: 'Hello', compressed: false, start: true, end: true }],
  ],
  [
    'second message uses the first one\'s window (7.2.3.2)',
    `${HELLO} 0xc1 0x05 0xf2 0x00 0x11 0x00 0x00`,
    [
      { data: 'Hello', compressed: false, start: true, end: true },
      { data: 'Hello', compressed: false, start: true, end: true },
    ],
  ],
  [
    'block with BFINAL set, then another message (7.2.3.3)',
    `0xc1 0x08 0xf3 0x48 0xcd 0xc9 0xc9 0x07 0x00 0x00 ${HELLO}`,
    [
      { data: 'Hello', compressed: false, start: true, end: true },
      { data: 'Hello', compressed: false, start: true, end: true },
    ],
  ],
  [
    'stored (uncompressed) deflate block (7.2.3.4)',
    '0xc1 0x0b 0x00 0x05 0x00 0xfa 0xff 0x48 0x65 0x6c 0x6c 0x6f 0x00',
    [{ data: 'Hello', compressed: false, start: true, end: true }],
  ],
  [
    'empty compressed message, one 0x00 byte (7.2.3.6)',
    '0xc1 0x01 0x00',
    [{ data: '', compressed: false, start: true, end: true }],
  ],
  ['empty compressed payload', '0xc1 0x00', [{ data: '', compressed: false, start: true, end: true }]],
  [
    'a ping between the fragments comes out first; uncompressed messages pass',
    '0x41 0x03 0xf2 0x48 0xcd 0x89 0x01 0x70 0x80 0x04 0xc9 0xc9 0x07 0x00 0x81 0x02 0x68 0x69',
    [
      { ping: 'p' },
      { data: 'Hello', compressed: false, start: true, end: true },
      { data: 'hi', compressed: false, start: true, end: true },
    ],
  ],
  [
    'a close after a compressed message keeps its place',
    `${HELLO} 0x88 0x02 0x03 0xe8`,
    [{ data: 'Hello', compressed: false, start: true, end: true }, { close: 1000 }],
  ],
  [
    'RSV1 on a continuation frame is 1002 (RFC 7692 6)',
    '0x41 0x03 0xf2 0x48 0xcd 0xc0 0x04 0xc9 0xc9 0x07 0x00',
    [{ error: ErrorCode.ReservedBits, closeCode: 1002 }],
  ],
  ['RSV1 on a ping is 1002', '0xc9 0x00', [{ error: ErrorCode.ReservedBits, closeCode: 1002 }]],
  ['RSV1 on a close is 1002', '0xc8 0x02 0x03 0xe8', [{ error: ErrorCode.ReservedBits, closeCode: 1002 }]],
  ['corrupt deflate data is 1007', '0xc1 0x03 0xff 0xff 0xff', [{ error: ErrorCode.InvalidCompressedData, closeCode: 1007 }]],
  [
    'corrupt data after a good message: the good one first, then 1007',
    `${HELLO} 0xc2 0x02 0x07 0xff 0x81 0x01 0x41`,
    [
      { data: 'Hello', compressed: false, start: true, end: true },
      { error: ErrorCode.InvalidCompressedData, closeCode: 1007 },
    ],
  ],
];

function cuts(bytes: Buffer): Buffer[][] {
  const result: Buffer[][] = [[bytes], Array.from(bytes, (b) => Buffer.from([b]))];
  for (let i = 1; i < bytes.length; i++) result.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return result;
}

describe('PerMessageInflateStream: RFC 7692 vectors at every split point', () => {
  it.each(vectors)('%s', async (_name, frames, expected) => {
    const bytes = hex(frames.replace(/0x/g, ''));
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
    const events = decoder.push(hex(HELLO.replace(/0x/g, '')));
    expect(summarize(events)).toEqual([{ error: ErrorCode.ReservedBits, closeCode: 1002 }]);
  });

  it('server_no_context_takeover: each message starts from an empty window', async () => {
    // The second message of 7.2.3.2 points back into the first one.
    const bytes = hex(`${HELLO} 0xc1 0x05 0xf2 0x00 0x11 0x00 0x00`.replace(/0x/g, ''));
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
