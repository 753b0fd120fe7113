import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { FrameEncoder } from '../../src/protocol/frame-encoder.js';

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const fixedKey = (target: Uint8Array, offset: number): void => target.set(KEY, offset);

const payloadOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff));

/** Decodes a client's frames as a server would: whole messages, in order. */
function serverDecode(buffers: Buffer[]): { opcode: number; data: Buffer }[] {
  const decoder = new FrameDecoder({ role: 'server', maxMessageBytes: 1 << 30 });
  const out: { opcode: number; data: Buffer }[] = [];
  let pieces: Buffer[] = [];
  // A copy: the server-role decoder unmasks in place.
  for (const event of decoder.push(Buffer.concat(buffers))) {
    if (event.type !== 'data') throw new Error(`unexpected ${event.type}`);
    pieces.push(Buffer.from(event.payload));
    if (event.messageEnd) {
      out.push({ opcode: event.opcode, data: Buffer.concat(pieces) });
      pieces = [];
    }
  }
  return out;
}

describe('FrameEncoder, short text (the ASCII loop) against the general path', () => {
  const texts: string[] = [];
  for (let n = 0; n <= 80; n++) texts.push(Array.from({ length: n }, (_, i) => String.fromCharCode(0x20 + ((i * 7 + n) % 95))).join(''));
  // Not ASCII: the general path (byteLength, write), including a lone surrogate (written as U+FFFD).
  texts.push('é', 'aé', 'abc\u007f', 'abc\u0080', '€uro', '😀', 'x'.repeat(63) + 'é', 'lone \ud800 surrogate', '\u0000nul');

  for (const role of ['client', 'server'] as const) {
    it(`${role}: every length 0..80 and non-ASCII strings encode to the UTF-8 bytes, masked with the key`, () => {
      const encoder = new FrameEncoder({ role, maskKey: fixedKey });
      for (const text of texts) encoder.add({ opcode: 1, payload: text });
      const out = Buffer.concat(encoder.take());
      const decoder = new FrameDecoder({ role: role === 'client' ? 'server' : 'client', validateUtf8: false });
      // A copy: a server-role decoder unmasks in place.
      const payloads = decoder.push(Buffer.from(out)).map((e) => (e.type === 'data' ? Buffer.from(e.payload) : e.type));
      expect(payloads).toEqual(texts.map((t) => Buffer.from(t, 'utf8')));
      // The wire bytes: header, the key (client), then the payload XORed with it.
      let at = 0;
      for (const text of texts) {
        const bytes = Buffer.from(text, 'utf8');
        const header = bytes.length < 126 ? 2 : 4;
        at += header;
        if (role === 'client') {
          expect(out.subarray(at, at + 4).equals(KEY)).toBe(true);
          at += 4;
          const masked = Buffer.from(bytes.map((b, i) => b ^ KEY[i & 3]!));
          expect(out.subarray(at, at + bytes.length).equals(masked)).toBe(true);
        } else {
          expect(out.subarray(at, at + bytes.length).equals(bytes)).toBe(true);
        }
        at += bytes.length;
      }
      expect(at).toBe(out.length);
    });
  }
});

describe('FrameEncoder, large frames', () => {
  it('masks a large borrowed payload into one new [header | key | payload] buffer, leaving the payload untouched', () => {
    for (const length of [16 * 1024, 16 * 1024 + 1, 65535, 65536, 100_003, 1 << 20]) {
      const encoder = new FrameEncoder({ role: 'client', maskKey: fixedKey });
      const payload = payloadOf(length);
      const before = Buffer.from(payload);
      const out = encoder.encode({ opcode: 2, payload });
      expect(out).toHaveLength(1);
      const header = length < 0x10000 ? 4 : 10;
      expect(out[0]!.length).toBe(header + 4 + length);
      expect(out[0]!.subarray(header, header + 4).equals(KEY)).toBe(true);
      expect(payload.equals(before)).toBe(true);
      const [message] = serverDecode(out);
      expect(message!.opcode).toBe(2);
      expect(message!.data.equals(before)).toBe(true);
    }
  });

  it('encodes a large string straight into its frame buffer and masks it there', () => {
    const text = 'añ€😀'.repeat(5000); // 1+2+3+4 bytes: 50,000 bytes of UTF-8
    const encoder = new FrameEncoder({ role: 'client', maskKey: fixedKey });
    const out = encoder.encode({ opcode: 1, payload: text });
    expect(out).toHaveLength(1);
    const [message] = serverDecode(out);
    expect(message!.data.toString('utf8')).toBe(text);
  });

  it('keeps small and large frames in order, with small ones batched around them', () => {
    const encoder = new FrameEncoder({ role: 'client' });
    const big = payloadOf(70_000);
    encoder.add({ opcode: 1, payload: 'first' });
    encoder.add({ opcode: 2, payload: big });
    encoder.add({ opcode: 1, payload: 'third' });
    encoder.add({ opcode: 2, payload: big, fin: false });
    encoder.add({ opcode: 9, payload: 'ping' });
    encoder.add({ opcode: 0, payload: Buffer.from('tail') });
    const out = encoder.take();
    const decoder = new FrameDecoder({ role: 'server' });
    const seen = decoder.push(Buffer.concat(out)).map((e) => (e.type === 'data' ? `${e.opcode}:${e.payload.length}` : e.type));
    expect(seen).toEqual(['1:5', '2:70000', '1:5', '2:70000', 'ping', '2:4']);
  });

  it('as a server, sends a large payload as [header, payload] without copying it', () => {
    const encoder = new FrameEncoder({ role: 'server' });
    const payload = payloadOf(50_000);
    const out = encoder.encode({ opcode: 2, payload });
    expect(out).toHaveLength(2);
    expect(out[1]).toBe(payload);
  });
});

describe('FrameEncoder, slab sizes', () => {
  const slabOf = (buffer: Buffer): number => buffer.buffer.byteLength;

  it('one small frame per batch keeps a small slab (no 64 KiB slab made and dropped every few frames)', () => {
    const encoder = new FrameEncoder({ role: 'client', maskKey: fixedKey });
    const payload = payloadOf(64);
    const slabs = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const [frame] = encoder.encode({ opcode: 2, payload });
      expect(frame!.length).toBe(2 + 4 + 64);
      slabs.add(slabOf(frame!));
      expect(serverDecode([frame!])[0]!.data.equals(payload)).toBe(true);
    }
    // A 1 KiB slab from Node's shared pool (its ArrayBuffer is the pool's), never one of 64 KiB.
    expect(Math.max(...slabs)).toBeLessThan(64 * 1024);
  });

  it('a burst that fills a slab within one batch goes to the largest slab', () => {
    const encoder = new FrameEncoder({ role: 'client', maskKey: fixedKey });
    const payload = payloadOf(64);
    for (let i = 0; i < 100; i++) encoder.add({ opcode: 2, payload });
    const out = encoder.take();
    expect(serverDecode(out)).toHaveLength(100);
    expect(slabOf(out.at(-1)!)).toBe(64 * 1024);
  });
});
