import { Transform, type TransformCallback } from 'node:stream';
import { FrameDecoder, type DecoderEvent, type FrameDecoderOptions } from '../protocol/frame-decoder.js';

export interface FrameDecoderStreamOptions extends FrameDecoderOptions {
  /**
   * Push one array of events per input chunk instead of one object per event.
   * Small messages then cost one stream operation per socket read, not per message.
   */
  batch?: boolean;
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
  private ended = false;

  constructor(options: FrameDecoderStreamOptions) {
    super({ readableObjectMode: true, readableHighWaterMark: options.batch ? 4 : 64 });
    this.decoder = new FrameDecoder(options);
    this.batch = options.batch ?? false;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.ended) return callback();
    const events = this.decoder.push(chunk);
    if (events.length > 0) {
      if (this.batch) this.push(events);
      else for (const event of events) this.push(event);
    }
    if (this.decoder.finished) this.finish(events);
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
