import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { FrameDecoder, type DecoderEvent, type DecoderSink, type FrameDecoderOptions } from '../protocol/frame-decoder.js';

export interface FrameDecoderStreamOptions extends FrameDecoderOptions {
  /**
   * Push one array of events per input chunk instead of one object per event.
   * Small messages then cost one stream operation per socket read, not per message.
   */
  batch?: boolean;
  /**
   * Hand events straight to this sink instead of pushing them: no event
   * objects and no views for the sink to throw away. The stage then produces
   * no output; backpressure still works: while `sink.paused` is true the
   * stage stops mid-chunk and holds its write callback, so the socket above
   * it is paused too. Call `resumeSink()` after clearing `paused`.
   */
  sink?: DecoderSink;
}

/**
 * Bytes to `DecoderEvent` objects (see `FrameDecoder`).
 *
 * A protocol error is not a stream error: it arrives in order, as an event of
 * type `'error'` that carries the close code to send, after every event that
 * preceded it; the stream then ends and ignores further input. The same
 * happens after a close frame (RFC 6455 5.5.1). Data payloads are views of the
 * input chunks.
 */
export class FrameDecoderStream extends Transform {
  readonly decoder: FrameDecoder;
  private readonly batch: boolean;
  private readonly sink: DecoderSink | undefined;
  private ended = false;
  /** A chunk the sink paused in the middle of, with its callback. */
  private held: { chunk: Buffer; offset: number; callback: TransformCallback } | undefined;

  constructor(options: FrameDecoderStreamOptions) {
    super({ readableObjectMode: true, readableHighWaterMark: options.batch ? 4 : 64 });
    this.decoder = new FrameDecoder(options);
    this.batch = options.batch ?? false;
    this.sink = options.sink;
    // With a sink nothing is pushed but the end: flow so that 'end' is seen.
    if (this.sink) this.resume();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.ended) return callback();
    if (this.sink) return this.feedSink(chunk, 0, callback);
    const events = this.decoder.push(chunk);
    if (events.length > 0) {
      if (this.batch) this.push(events);
      else for (const event of events) this.push(event);
    }
    if (this.decoder.finished) this.finish(events);
    callback();
  }

  /** Tells the decoder whether permessage-deflate was negotiated (see `FrameDecoder#setCompression`). */
  setCompression(negotiated: boolean): void {
    this.decoder.setCompression(negotiated);
  }

  /**
   * Reads `source` (the socket) straight into the decoder and the sink, as
   * `source.pipe(this)` would, without a stream write per chunk and with two
   * listeners instead of a pipe's dozen: `source` is paused while the sink
   * is, and this stream ends when `source` does. Only with a `sink`, and
   * only when nothing written before is still waiting here (check
   * `writableLength`), so that bytes stay in order.
   */
  readFrom(source: Readable): void {
    if (!this.sink) throw new Error('readFrom() needs a sink');
    const resumeSource = (): void => {
      source.resume();
    };
    source.on('data', (chunk: Buffer) => {
      if (this.ended || this.destroyed) return;
      this.feedSink(chunk, 0, resumeSource, source);
    });
    source.once('end', () => {
      if (!this.destroyed) this.end();
    });
    source.resume();
  }

  /** Continues decoding after the sink cleared `paused`. */
  resumeSink(): void {
    const held = this.held;
    if (held === undefined || this.destroyed) return;
    this.held = undefined;
    this.feedSink(held.chunk, held.offset, held.callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.held = undefined;
    callback(error);
  }

  /** `source`: the stream readFrom() reads, to pause while a chunk is held (the callback resumes it). */
  private feedSink(chunk: Buffer, offset: number, callback: TransformCallback, source?: Readable): void {
    const stopped = this.decoder.decode(chunk, this.sink!, offset);
    if (stopped < chunk.length && !this.decoder.finished) {
      source?.pause();
      this.held = { chunk, offset: stopped, callback };
      return;
    }
    if (this.decoder.finished && !this.ended) {
      this.ended = true;
      this.push(null);
    }
    callback();
  }

  private finish(events: DecoderEvent[]): void {
    const last = events[events.length - 1];
    if (last && (last.type === 'close' || last.type === 'error')) {
      this.ended = true;
      this.push(null);
    }
  }
}
