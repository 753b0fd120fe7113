import { once } from 'node:events';
import { Readable } from 'node:stream';
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

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

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
