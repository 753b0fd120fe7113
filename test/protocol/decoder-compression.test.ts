import { describe, expect, it } from 'vitest';
import { FrameDecoder, type DecoderEvent } from '../../src/protocol/frame-decoder.js';
import type { ProtocolError } from '../../src/protocol/errors.js';
import { PerMessageInflateSink } from '../../src/streams/permessage-inflate-sink.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// FIN | RSV1 | text, "Hello" deflated (RFC 7692 7.2.3.1).
const COMPRESSED_HELLO = hex('c1 07 f2 48 cd c9 c9 07 00');

function summary(events: DecoderEvent[]): unknown[] {
  return events.map((e) => (e.type === 'error' ? { error: e.error.code, closeCode: e.error.closeCode } : { type: e.type, compressed: e.type === 'data' && e.compressed }));
}

describe('RSV1 is checked once, by the decoder, from what the handshake negotiated', () => {
  it('offered but not yet settled: RSV1 allowed (perMessageCompression), then refused after setCompression(false)', () => {
    const decoder = new FrameDecoder({ role: 'client', perMessageCompression: true });
    decoder.setCompression(false);
    expect(summary(decoder.push(COMPRESSED_HELLO))).toEqual([{ error: 'WSP_ERR_RESERVED_BITS', closeCode: 1002 }]);
  });

  it('not offered, then negotiated: setCompression(true) allows RSV1 on a data frame', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    decoder.setCompression(true);
    expect(summary(decoder.push(COMPRESSED_HELLO))).toEqual([{ type: 'data', compressed: true }]);
  });

  it('negotiated: RSV1 on a control frame is still 1002 (RFC 7692 6)', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    decoder.setCompression(true);
    expect(summary(decoder.push(hex('c9 00')))).toEqual([{ error: 'WSP_ERR_RESERVED_BITS', closeCode: 1002 }]);
  });

  it('FrameDecoderStream#setCompression reaches its decoder', () => {
    const stream = new FrameDecoderStream({ role: 'client' });
    stream.setCompression(true);
    expect(summary(stream.decoder.push(COMPRESSED_HELLO))).toEqual([{ type: 'data', compressed: true }]);
    stream.destroy();
  });

  it('the inflate sink does not judge RSV1: a compressed message it was not given parameters for is a wiring fault, 1007', () => {
    const errors: ProtocolError[] = [];
    const inner = { data() {}, control() {}, close() {}, error: (e: ProtocolError) => errors.push(e) };
    const sink = new PerMessageInflateSink(inner, { resume: () => {} });
    const decoder = new FrameDecoder({ role: 'client', perMessageCompression: true });
    decoder.decode(COMPRESSED_HELLO, sink);
    expect(errors.map((e) => [e.code, e.closeCode])).toEqual([['WSP_ERR_INVALID_COMPRESSED_DATA', 1007]]);
    sink.destroy();
  });
});
