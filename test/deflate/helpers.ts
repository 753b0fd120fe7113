import { once } from 'node:events';
import { Readable } from 'node:stream';
import { ErrorCode } from '../../src/protocol/errors.js';
import type { DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { FrameEncoder, type FrameSpec } from '../../src/protocol/frame-encoder.js';
import type { NegotiatedDeflate } from '../../src/protocol/permessage-deflate.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { PerMessageInflateStream, type PerMessageInflateStreamOptions } from '../../src/streams/permessage-inflate-stream.js';
import { MessageDeflater, type OutgoingFrame } from '../../src/streams/permessage-deflate-stream.js';

export const NEGOTIATED_DEFAULT: NegotiatedDeflate = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

/** Hex to bytes; spaces and `0x` prefixes are ignored. */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/0x/g, '').replace(/\s+/g, ''), 'hex');

/** Encodes frames the way a server would (unmasked). */
export function serverFrames(frames: FrameSpec[]): Buffer {
  const encoder = new FrameEncoder({ role: 'server' });
  for (const frame of frames) encoder.add(frame);
  return Buffer.concat(encoder.take());
}

/** Runs `chunks` through decoder -> inflater and returns every output item (events or arrays). */
export async function decodeAndInflate(
  chunks: Buffer[],
  options: Partial<PerMessageInflateStreamOptions> & { batch?: boolean; decoderMaxMessageBytes?: number } = {},
): Promise<Array<DecoderEvent | DecoderEvent[]>> {
  const decoder = new FrameDecoderStream({
    role: 'client',
    perMessageCompression: true,
    batch: options.batch ?? false,
    maxMessageBytes: options.decoderMaxMessageBytes ?? options.maxMessageBytes,
  });
  const inflater = new PerMessageInflateStream({ negotiated: NEGOTIATED_DEFAULT, ...options });
  const out: Array<DecoderEvent | DecoderEvent[]> = [];
  inflater.on('data', (item) => out.push(item));
  const ended = once(inflater, 'end');
  decoder.pipe(inflater);
  Readable.from(chunks, { objectMode: false }).pipe(decoder);
  await ended;
  return out;
}

export function flatten(items: Array<DecoderEvent | DecoderEvent[]>): DecoderEvent[] {
  return items.flatMap((item) => (Array.isArray(item) ? item : [item]));
}

/** Joins the pieces of uncompressed messages (which pass through as they arrived) into one event each. */
export function joinPieces(events: DecoderEvent[]): DecoderEvent[] {
  const out: DecoderEvent[] = [];
  let open: Extract<DecoderEvent, { type: 'data' }> | undefined;
  for (const e of events) {
    if (e.type !== 'data') {
      out.push(e);
      continue;
    }
    if (e.messageStart) {
      open = { ...e, payload: Buffer.from(e.payload) };
      out.push(open);
    } else if (open) {
      open.payload = Buffer.concat([open.payload, e.payload]);
      open.messageEnd = e.messageEnd;
      open.frameEnd = e.frameEnd;
    }
  }
  return out;
}

/** A compact view of events for assertions. */
export function summarize(events: DecoderEvent[]): unknown[] {
  return events.map((e) => {
    switch (e.type) {
      case 'data':
        return { data: e.opcode === 1 ? e.payload.toString('utf8') : e.payload.toString('hex'), compressed: e.compressed, start: e.messageStart, end: e.messageEnd };
      case 'error':
        return { error: e.error.code, closeCode: e.error.closeCode };
      case 'close':
        return { close: e.code };
      default:
        return { [e.type]: e.payload.toString('latin1') };
    }
  });
}

/** Promise form of `MessageDeflater.frame`. */
export function deflateFrame(deflater: MessageDeflater, frame: OutgoingFrame): Promise<FrameSpec> {
  return new Promise((resolve, reject) => deflater.frame(frame, (error, spec) => (error ? reject(error) : resolve(spec))));
}

/** Text that compresses, but not trivially. */
export function sampleText(bytes: number, seed = 1): string {
  let x = seed;
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'ünï', 'код', '字'];
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const part = words[x % words.length] + (x % 7 === 0 ? '\n' : ' ');
    parts.push(part);
    length += Buffer.byteLength(part);
  }
  return parts.join('');
}

// Vectors from RFC 7692 7.2.3 ("Hello" compressed in various ways).
export const HELLO = '0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00';
export const VECTORS: Array<[name: string, frames: string, expected: unknown[]]> = [
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

/** The bytes whole, one at a time, and cut in two at every point. */
export function cuts(bytes: Buffer): Buffer[][] {
  const result: Buffer[][] = [[bytes], Array.from(bytes, (b) => Buffer.from([b]))];
  for (let i = 1; i < bytes.length; i++) result.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return result;
}
