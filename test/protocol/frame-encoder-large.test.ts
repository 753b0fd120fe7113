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
