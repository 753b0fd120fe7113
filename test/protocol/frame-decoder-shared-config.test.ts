// The decoder's options live in a configuration object shared by decoders made
// with the same values, and its frame and message flags in bits (issue 12,
// idle memory): one decoder's setCompression() must not reach another, and a
// message's flags must survive control frames and reads split anywhere.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { FrameDecoder, type DecoderEvent } from '../../src/protocol/frame-decoder.js';

const frame = (b0: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([b0, payload.length]), payload]);

/** Feeds `bytes` in pieces of `step` bytes; returns every event. */
function feed(decoder: FrameDecoder, bytes: Buffer, step: number): DecoderEvent[] {
  const events: DecoderEvent[] = [];
  for (let i = 0; i < bytes.length; i += step) events.push(...decoder.push(bytes.subarray(i, i + step)));
  return events;
}

describe('FrameDecoder shared configuration', () => {
  it("setCompression() on one decoder leaves another with the same options as it was", () => {
    const a = new FrameDecoder({ role: 'client' });
    const b = new FrameDecoder({ role: 'client' });
    a.setCompression(true);
    const compressedFirst = frame(0x80 | 0x40 | 0x2, Buffer.from('xyz'));
    expect(a.push(compressedFirst)).toMatchObject([{ type: 'data', compressed: true, messageStart: true, messageEnd: true }]);
    expect(b.push(compressedFirst)).toMatchObject([{ type: 'error', error: { code: ErrorCode.ReservedBits } }]);
    expect(a.role).toBe('client');
    expect(b.maxMessageBytes).toBe(a.maxMessageBytes);
  });

  it('decoders with different limits keep their own', () => {
    const small = new FrameDecoder({ role: 'client', maxMessageBytes: 2 });
    const large = new FrameDecoder({ role: 'client', maxMessageBytes: 100 });
    const data = frame(0x82, Buffer.from('abc'));
    expect(small.push(data)).toMatchObject([{ type: 'error', error: { code: ErrorCode.MessageTooBig } }]);
    expect(large.push(data)).toMatchObject([{ type: 'data', messageStart: true, messageEnd: true }]);
  });

  it('a compressed fragmented message keeps its flags across a ping, at every read size', () => {
    const bytes = Buffer.concat([
      frame(0x40 | 0x2, Buffer.from('ab')), // first fragment, RSV1, no FIN
      frame(0x89, Buffer.from('ping!')), // a ping between the fragments
      frame(0x00, Buffer.from('cd')), // continuation, no FIN
      frame(0x80, Buffer.from('ef')), // last continuation
    ]);
    for (let step = 1; step <= bytes.length; step++) {
      const decoder = new FrameDecoder({ role: 'client', perMessageCompression: true });
      const events = feed(decoder, bytes, step);
      const data = events.filter((e) => e.type === 'data');
      expect(Buffer.concat(data.map((e) => e.payload)).toString()).toBe('abcdef');
      expect(data.every((e) => e.compressed)).toBe(true);
      expect(data.filter((e) => e.messageStart)).toHaveLength(1);
      expect(data.filter((e) => e.messageEnd)).toHaveLength(1);
      expect(data.at(-1)!.messageEnd).toBe(true);
      const pings = events.filter((e) => e.type === 'ping');
      expect(pings.map((e) => e.payload.toString())).toEqual(['ping!']);
    }
  });
});
