import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { ErrorCode, type ProtocolError } from '../../src/protocol/errors.js';
import type { DecoderEvent, DecoderSink } from '../../src/protocol/frame-decoder.js';
import type { NegotiatedDeflate } from '../../src/protocol/permessage-deflate.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { PerMessageInflateSink } from '../../src/streams/permessage-inflate-sink.js';
import { cuts, hex, joinPieces, NEGOTIATED_DEFAULT, sampleText, serverFrames, summarize, VECTORS } from './helpers.js';

/** An inner sink that records events the way the decoder's `push()` would have. */
class RecordingSink implements DecoderSink {
  paused = false;
  readonly events: DecoderEvent[] = [];
  private done: (() => void) | undefined;
  readonly finished = new Promise<void>((resolve) => (this.done = resolve));

  data(opcode: number, chunk: Buffer, start: number, end: number, messageStart: boolean, messageEnd: boolean, frameEnd: boolean, compressed: boolean): void {
    this.events.push({ type: 'data', opcode, payload: Buffer.from(chunk.subarray(start, end)), messageStart, messageEnd, frameEnd, compressed });
  }
  control(opcode: number, payload: Buffer): void {
    this.events.push({ type: opcode === Opcode.Ping ? 'ping' : 'pong', payload });
  }
  close(code: number | undefined, reason: string, payload: Buffer): void {
    this.events.push({ type: 'close', code, reason, payload });
    this.done!();
  }
  error(error: ProtocolError): void {
    this.events.push({ type: 'error', error });
    this.done!();
  }
}

const CLOSE = hex('88 00');

/** Feeds `chunks` and a closing frame through a sink-mode decoder; resolves when the inner sink saw a close or an error. */
async function run(chunks: Buffer[], negotiated: NegotiatedDeflate | undefined, options: { maxMessageBytes?: number } = {}) {
  const inner = new RecordingSink();
  let decoder: FrameDecoderStream | undefined;
  const sink = new PerMessageInflateSink(inner, { ...options, resume: () => decoder!.resumeSink() });
  decoder = new FrameDecoderStream({ role: 'client', perMessageCompression: true, sink, maxMessageBytes: options.maxMessageBytes });
  sink.negotiate(negotiated);
  decoder.setCompression(negotiated !== undefined);
  for (const chunk of [...chunks, CLOSE]) decoder.write(chunk);
  decoder.end();
  await inner.finished;
  sink.destroy();
  return { inner, sink, decoder };
}

describe('PerMessageInflateSink with a sink-mode FrameDecoderStream', () => {
  it.each(VECTORS)('%s (every split point)', async (_name, frames, expected) => {
    const bytes = hex(frames);
    for (const chunks of cuts(bytes)) {
      const { inner } = await run(chunks, NEGOTIATED_DEFAULT);
      const events = summarize(joinPieces(inner.events));
      // Every vector is followed by a close frame, seen unless an error came first.
      const last = expected[expected.length - 1] as { error?: string; close?: number };
      const want = last.error !== undefined || last.close !== undefined ? expected : [...expected, { close: undefined }];
      expect(events, `${chunks.length} chunks`).toEqual(want);
    }
  });

  it('RSV1 when the server declined the extension: the decoder refuses it with 1002, the sink passes that on', async () => {
    const { inner } = await run([hex('c1 07 f2 48 cd c9 c9 07 00')], undefined);
    expect(summarize(inner.events)).toEqual([{ error: ErrorCode.ReservedBits, closeCode: 1002 }]);
  });

  it('stops a bomb at maxMessageBytes with 1009', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(8 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const frames = serverFrames([{ opcode: Opcode.Binary, payload: bomb, rsv1: true }]);
    const { inner } = await run([frames], NEGOTIATED_DEFAULT, { maxMessageBytes: 1024 * 1024 });
    expect(summarize(inner.events)).toEqual([{ error: ErrorCode.MessageTooBig, closeCode: 1009 }]);
  });

  it('keeps order across many compressed and plain messages and controls', async () => {
    const deflate = zlib.createDeflateRaw();
    const compress = (text: string) =>
      new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        deflate.on('data', onData);
        deflate.write(text);
        deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          deflate.off('data', onData);
          resolve(Buffer.concat(chunks).subarray(0, -4));
        });
      });
    const expected: unknown[] = [];
    const specs = [];
    for (let i = 0; i < 40; i++) {
      const text = sampleText(100 + i * 211, i);
      if (i % 3 === 0) {
        specs.push({ opcode: Opcode.Text, payload: text });
      } else {
        specs.push({ opcode: Opcode.Text, payload: await compress(text), rsv1: true });
      }
      expected.push({ data: text, compressed: false, start: true, end: true });
      if (i % 5 === 0) {
        specs.push({ opcode: Opcode.Ping, payload: `p${i}` });
        expected.push({ ping: `p${i}` });
      }
    }
    deflate.close();
    const bytes = serverFrames(specs);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1000) chunks.push(bytes.subarray(at, at + 1000));
    const { inner } = await run(chunks, NEGOTIATED_DEFAULT);
    expect(summarize(joinPieces(inner.events))).toEqual([...expected, { close: undefined }]);
  });

  it('a pause set by the reader holds decoding until it resumes, even across an inflate', async () => {
    const inner = new RecordingSink();
    let decoder: FrameDecoderStream | undefined;
    let resumes = 0;
    const sink = new PerMessageInflateSink(inner, {
      negotiated: NEGOTIATED_DEFAULT,
      resume: () => {
        resumes++;
        decoder!.resumeSink();
      },
    });
    decoder = new FrameDecoderStream({ role: 'client', perMessageCompression: true, sink });
    // Pause from inside the delivery of the first (compressed) message.
    const data = inner.data.bind(inner);
    inner.data = (...args) => {
      data(...args);
      if (inner.events.length === 1) sink.paused = true;
    };
    decoder.write(hex(`c1 07 f2 48 cd c9 c9 07 00 81 02 68 69 88 00`));
    await new Promise((r) => setTimeout(r, 50));
    expect(summarize(inner.events)).toEqual([{ data: 'Hello', compressed: false, start: true, end: true }]);
    expect(inner.paused).toBe(true);
    expect(resumes).toBe(0);
    sink.paused = false;
    decoder.resumeSink();
    await inner.finished;
    expect(summarize(inner.events)).toEqual([
      { data: 'Hello', compressed: false, start: true, end: true },
      { data: 'hi', compressed: false, start: true, end: true },
      { close: undefined },
    ]);
    sink.destroy();
  });
});
