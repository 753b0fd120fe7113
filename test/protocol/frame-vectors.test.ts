import { describe, expect, it } from 'vitest';
import { FrameDecoder, type DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { FrameEncoder, type FrameSpec, type Role } from '../../src/protocol/frame-encoder.js';
import { MessageAssembler } from '../../src/protocol/message-assembler.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** The masking key of the RFC 6455 5.7 examples. */
const RFC_KEY = hex('37fa213d');
const fixedKey = (target: Uint8Array, offset: number): void => target.set(RFC_KEY, offset);

/** What a sequence of decoder events amounts to: whole messages and control frames. */
function summarize(events: DecoderEvent[]): unknown[] {
  const assembler = new MessageAssembler();
  const out: unknown[] = [];
  for (const e of events) {
    if (e.type === 'data') {
      const m = assembler.add(e.opcode, Buffer.from(e.payload), e.messageStart, e.messageEnd);
      if (m) out.push({ message: m.opcode, hex: (m.data as Buffer).toString('hex') });
    } else if (e.type === 'close') out.push({ close: e.code ?? null, reason: e.reason });
    else if (e.type === 'error') out.push({ error: e.error.code, closeCode: e.error.closeCode });
    else out.push({ [e.type]: e.payload.toString('hex') });
  }
  return out;
}

/** Feeds `bytes` in the pieces given by `cuts` to a fresh decoder. */
function decodeInPieces(role: Role, bytes: Buffer, cuts: number[], options: { maxMessageBytes?: number } = {}): unknown[] {
  const decoder = new FrameDecoder({ role, ...options });
  const events: DecoderEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A copy per piece: a server-role decoder unmasks its input in place.
    events.push(...decoder.push(Buffer.from(bytes.subarray(from, cut))));
    from = cut;
  }
  return summarize(events);
}

interface Vector {
  name: string;
  /** What the server sends (unmasked): what a client decodes. */
  wire: string;
  /** The frames that produce it. */
  frames: FrameSpec[];
  expected: unknown[];
}

const big = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));

const vectors: Vector[] = [
  // RFC 6455 5.7 examples.
  { name: 'single-frame unmasked text', wire: '810548656c6c6f', frames: [{ opcode: 1, payload: 'Hello' }], expected: [{ message: 1, hex: '48656c6c6f' }] },
  {
    name: 'fragmented unmasked text',
    wire: '010348656c 80026c6f',
    frames: [{ opcode: 1, payload: 'Hel', fin: false }, { opcode: 0, payload: 'lo' }],
    expected: [{ message: 1, hex: '48656c6c6f' }],
  },
  { name: 'unmasked ping', wire: '890548656c6c6f', frames: [{ opcode: 9, payload: 'Hello' }], expected: [{ ping: '48656c6c6f' }] },
  { name: 'empty pong', wire: '8a00', frames: [{ opcode: 10, payload: '' }], expected: [{ pong: '' }] },
  {
    name: '256 bytes binary (16-bit length)',
    wire: '827e0100' + big(256).toString('hex'),
    frames: [{ opcode: 2, payload: big(256) }],
    expected: [{ message: 2, hex: big(256).toString('hex') }],
  },
  {
    name: '65536 bytes binary (64-bit length)',
    wire: '827f0000000000010000' + big(65536).toString('hex'),
    frames: [{ opcode: 2, payload: big(65536) }],
    expected: [{ message: 2, hex: big(65536).toString('hex') }],
  },
  { name: '125 bytes: the last 7-bit length', wire: '827d' + big(125).toString('hex'), frames: [{ opcode: 2, payload: big(125) }], expected: [{ message: 2, hex: big(125).toString('hex') }] },
  { name: '126 bytes: the first 16-bit length', wire: '827e007e' + big(126).toString('hex'), frames: [{ opcode: 2, payload: big(126) }], expected: [{ message: 2, hex: big(126).toString('hex') }] },
  { name: 'empty text', wire: '8100', frames: [{ opcode: 1, payload: '' }], expected: [{ message: 1, hex: '' }] },
  {
    name: 'ping between fragments',
    wire: '0102 6869 8900 8001 21',
    frames: [{ opcode: 1, payload: 'hi', fin: false }, { opcode: 9, payload: '' }, { opcode: 0, payload: '!' }],
    expected: [{ ping: '' }, { message: 1, hex: '686921' }],
  },
  {
    name: 'close with code and reason',
    wire: '880503e8627965',
    frames: [{ opcode: 8, payload: hex('03e8627965') }],
    expected: [{ close: 1000, reason: 'bye' }],
  },
  { name: 'empty close', wire: '8800', frames: [{ opcode: 8, payload: '' }], expected: [{ close: null, reason: '' }] },
  {
    name: 'two messages in one chunk',
    wire: '8101 61 8201 ff',
    frames: [{ opcode: 1, payload: 'a' }, { opcode: 2, payload: hex('ff') }],
    expected: [{ message: 1, hex: '61' }, { message: 2, hex: 'ff' }],
  },
  {
    name: 'UTF-8 text split inside a code point across fragments',
    wire: '0102 e282 8001 ac',
    frames: [{ opcode: 1, payload: hex('e282'), fin: false }, { opcode: 0, payload: hex('ac') }],
    expected: [{ message: 1, hex: 'e282ac' }],
  },
];

/** The masked form of a server-to-client vector: what the client sends with the RFC key. */
function maskedWire(frames: FrameSpec[]): Buffer {
  const encoder = new FrameEncoder({ role: 'client', maskKey: fixedKey });
  for (const f of frames) encoder.add(f);
  return Buffer.concat(encoder.take());
}

describe('frame vectors', () => {
  it('encodes the RFC 6455 5.7 masked example byte for byte', () => {
    expect(maskedWire([{ opcode: 1, payload: 'Hello' }]).toString('hex')).toBe('818537fa213d7f9f4d5158');
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const wire = hex(v.wire);
      it('server role encodes it exactly', () => {
        const encoder = new FrameEncoder({ role: 'server' });
        for (const f of v.frames) encoder.add(f);
        expect(Buffer.concat(encoder.take()).toString('hex')).toBe(wire.toString('hex'));
      });
      it('client decodes it whole, byte by byte, and at every split point', () => {
        expect(decodeInPieces('client', wire, [])).toEqual(v.expected);
        expect(decodeInPieces('client', wire, Array.from({ length: wire.length - 1 }, (_, i) => i + 1))).toEqual(v.expected);
        const step = wire.length > 2000 ? 997 : 1; // every cut for small vectors; a sample for large ones
        for (let cut = 1; cut < wire.length; cut += step) {
          expect(decodeInPieces('client', wire, [cut])).toEqual(v.expected);
        }
      });
      it('client role masks it with the injected key, and a server decodes it at every split point', () => {
        const masked = maskedWire(v.frames);
        // Every client frame has the mask bit and the key right after the length.
        expect(masked[1]! & 0x80).toBe(0x80);
        expect(decodeInPieces('server', masked, [])).toEqual(v.expected);
        const step = masked.length > 2000 ? 997 : 1;
        for (let cut = 1; cut < masked.length; cut += step) {
          expect(decodeInPieces('server', masked, [cut])).toEqual(v.expected);
        }
      });
    });
  }

  it('delivers a frame wholly inside one chunk as a view of that chunk (no copy)', () => {
    const chunk = hex('820461626364');
    const events = new FrameDecoder({ role: 'client' }).push(chunk);
    const data = events[0] as Extract<DecoderEvent, { type: 'data' }>;
    expect(data.payload.buffer).toBe(chunk.buffer);
    expect(data.payload.byteOffset).toBe(chunk.byteOffset + 2);
  });

  it('never mutates a borrowed payload when masking', () => {
    const payload = big(50_000);
    const copy = Buffer.from(payload);
    const encoder = new FrameEncoder({ role: 'client' });
    encoder.add({ opcode: 2, payload });
    encoder.add({ opcode: 2, payload: payload.subarray(0, 100) });
    encoder.take();
    expect(payload.equals(copy)).toBe(true);
  });
});

describe('protocol errors carry a stable code and the close code', () => {
  const cases: Array<[string, string, string, number, { maxMessageBytes?: number }?]> = [
    ['RSV1 without an extension', 'c100', 'WSP_ERR_RESERVED_BITS', 1002],
    ['RSV2', 'a100', 'WSP_ERR_RESERVED_BITS', 1002],
    ['RSV3', '9100', 'WSP_ERR_RESERVED_BITS', 1002],
    ['RSV bits on a frame after a valid one', '8100 f100', 'WSP_ERR_RESERVED_BITS', 1002],
    ['reserved data opcode 3', '8300', 'WSP_ERR_RESERVED_OPCODE', 1002],
    ['reserved data opcode 7', '8700', 'WSP_ERR_RESERVED_OPCODE', 1002],
    ['reserved control opcode 0xB', '8b00', 'WSP_ERR_RESERVED_OPCODE', 1002],
    ['reserved control opcode 0xF', '8f00', 'WSP_ERR_RESERVED_OPCODE', 1002],
    ['fragmented ping', '0900', 'WSP_ERR_FRAGMENTED_CONTROL_FRAME', 1002],
    ['fragmented close', '0800', 'WSP_ERR_FRAGMENTED_CONTROL_FRAME', 1002],
    ['126-byte ping', '897e007e' + '00'.repeat(126), 'WSP_ERR_CONTROL_FRAME_TOO_LONG', 1002],
    ['continuation with no message', '8000', 'WSP_ERR_UNEXPECTED_CONTINUATION', 1002],
    ['new message inside a fragmented one', '0100 8100', 'WSP_ERR_EXPECTED_CONTINUATION', 1002],
    ['masked frame from a server', '818037fa213d', 'WSP_ERR_MASKED_FRAME', 1002],
    ['64-bit length with the top bit set', '827f8000000000000000', 'WSP_ERR_INVALID_LENGTH', 1002],
    ['64-bit length 2^63-1', '827f7fffffffffffffff', 'WSP_ERR_MESSAGE_TOO_BIG', 1009],
    ['message over maxMessageBytes (from the header alone)', '820b', 'WSP_ERR_MESSAGE_TOO_BIG', 1009, { maxMessageBytes: 10 }],
    ['fragments adding up over maxMessageBytes', '0206' + '00'.repeat(6) + '8006', 'WSP_ERR_MESSAGE_TOO_BIG', 1009, { maxMessageBytes: 10 }],
    ['invalid UTF-8', '8102c328', 'WSP_ERR_INVALID_UTF8', 1007],
    ['a surrogate, in a non-final fragment (fail fast)', '0102eda0', 'WSP_ERR_INVALID_UTF8', 1007],
    ['above U+10FFFF, first two bytes only', '0102f490', 'WSP_ERR_INVALID_UTF8', 1007],
    ['truncated sequence at the end of a message', '8102e282', 'WSP_ERR_INVALID_UTF8', 1007],
    ['1-byte close payload', '880103', 'WSP_ERR_INVALID_CLOSE_PAYLOAD', 1002],
    ['close code 1005', '880203ed', 'WSP_ERR_INVALID_CLOSE_CODE', 1002],
    ['close code 999', '880203e7', 'WSP_ERR_INVALID_CLOSE_CODE', 1002],
    ['close code 5000', '88021388', 'WSP_ERR_INVALID_CLOSE_CODE', 1002],
    ['close reason not UTF-8', '880403e8fffe', 'WSP_ERR_INVALID_UTF8', 1007],
  ];
  for (const [name, wire, code, closeCode, options] of cases) {
    it(`${name}: ${code} / ${closeCode}, at every split point`, () => {
      const bytes = hex(wire);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const out = decodeInPieces('client', bytes, cut === 0 ? [] : [cut], options);
        expect(out[out.length - 1]).toEqual({ error: code, closeCode });
      }
    });
  }

  it('discards everything after an error', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    expect(decoder.push(hex('c100'))).toHaveLength(1);
    expect(decoder.push(hex('810161'))).toEqual([]);
  });

  it('ignores data after a close frame (RFC 6455 5.5.1)', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    const events = decoder.push(hex('880203e8 810161'));
    expect(summarize(events)).toEqual([{ close: 1000, reason: '' }]);
    expect(decoder.push(hex('810161'))).toEqual([]);
  });

  it('a server-role decoder refuses unmasked frames', () => {
    expect(decodeInPieces('server', hex('810161'), [])).toEqual([{ error: 'WSP_ERR_UNMASKED_FRAME', closeCode: 1002 }]);
  });

  it('RSV1 is accepted on a first data frame only when compression is negotiated', () => {
    const d = new FrameDecoder({ role: 'client', perMessageCompression: true });
    const events = d.push(hex('c10161'));
    expect(events[0]).toMatchObject({ type: 'data', compressed: true });
    const bad = new FrameDecoder({ role: 'client', perMessageCompression: true });
    expect(summarize(bad.push(hex('4100 c000')))).toEqual([{ error: 'WSP_ERR_RESERVED_BITS', closeCode: 1002 }]);
    const control = new FrameDecoder({ role: 'client', perMessageCompression: true });
    expect(summarize(control.push(hex('c900')))).toEqual([{ error: 'WSP_ERR_RESERVED_BITS', closeCode: 1002 }]);
  });
});
