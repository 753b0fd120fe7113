import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { FrameEncoder, type FrameEncoderOptions, type FrameSpec } from '../protocol/frame-encoder.js';
import { FLUSH_AT_ONCE_BYTES, writeBuffers } from './frame-writer.js';

/** Default high-water mark of the encoded bytes waiting to be read: 1 MiB. */
const DEFAULT_HIGH_WATER_MARK_BYTES = 1024 * 1024;

export interface FrameEncoderStreamOptions extends FrameEncoderOptions {
  /** Encoded bytes buffered before `enqueue()` reports backpressure. Default 1 MiB. */
  highWaterMarkBytes?: number;
}

/**
 * `FrameSpec` objects to bytes, masking for the client role.
 *
 * Frames written within one event-loop turn leave as one buffer when they
 * are small (one `write` to the socket, one system call). Besides the
 * Writable side, `enqueue()` adds a frame without a stream write per frame:
 * the fast path the client uses for `send()`. Both paths feed one encoder, in
 * call order, so control frames never land inside another frame.
 */
export class FrameEncoderStream extends Transform {
  readonly encoder: FrameEncoder;
  private readonly highWaterMarkBytes: number;
  private flushScheduled = false;
  /** Set by writeTo(). */
  private destination: Writable | undefined;

  constructor(options: FrameEncoderStreamOptions) {
    super({ writableObjectMode: true, readableHighWaterMark: options.highWaterMarkBytes ?? DEFAULT_HIGH_WATER_MARK_BYTES });
    this.encoder = new FrameEncoder(options);
    this.highWaterMarkBytes = options.highWaterMarkBytes ?? DEFAULT_HIGH_WATER_MARK_BYTES;
  }

  /** Encoded bytes not yet taken by the reader. */
  get bufferedBytes(): number {
    return this.readableLength + this.encoder.pendingBytes;
  }

  /**
   * Adds a frame to the current batch; the batch is pushed at the end of this
   * turn of the event loop. Returns false when the buffered bytes are above
   * the high-water mark: wait for `'drain'` on the destination.
   */
  enqueue(frame: FrameSpec): boolean {
    const before = this.encoder.pendingBytes;
    this.encoder.add(frame);
    return this.scheduleFlush(before);
  }

  /**
   * `enqueue()` of a whole, uncompressed message, without a `FrameSpec`
   * object per call (the client's `send()` on its fast path).
   */
  enqueueMessage(opcode: number, payload: Uint8Array | string): boolean {
    const before = this.encoder.pendingBytes;
    this.encoder.addFrame(opcode, payload, true, false);
    return this.scheduleFlush(before);
  }

  /**
   * Batches to the end of the turn, except after a large frame: batching
   * saves it nothing (it is a buffer of its own), and handed over at once it
   * can be on its way, and off the buffered count, before `enqueue()`
   * returns, so a sender of large messages is not told to wait for a
   * `'drain'` that the socket did not need.
   */
  private scheduleFlush(pendingBefore: number): boolean {
    if (this.encoder.pendingBytes - pendingBefore >= FLUSH_AT_ONCE_BYTES) {
      this.flushBatch();
      return this.bufferedBytes < this.highWaterMarkBytes;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flushBatch());
    }
    return this.bufferedBytes < this.highWaterMarkBytes;
  }

  /**
   * Writes the encoded bytes straight to `destination` (the socket) instead
   * of pushing them to the readable side: what `this.pipe(destination)`
   * does, without a pipe's dozen listeners per connection, and a batch of
   * several buffers goes out as one `writev`. Ends `destination` when this
   * stream ends. Backpressure is then the destination's own
   * (`writableLength`, `'drain'`), which the caller watches.
   */
  writeTo(destination: Writable): void {
    this.destination = destination;
    this.once('end', () => {
      if (!destination.destroyed && !destination.writableEnded) destination.end();
    });
    // Nothing is pushed but the end: flow so that 'end' comes.
    this.resume();
  }

  /** Pushes what is batched now, without waiting for the end of the turn. */
  flushBatch(): void {
    this.flushScheduled = false;
    if (this.destroyed || this.writableFinished) return;
    const buffers = this.encoder.take();
    const destination = this.destination;
    if (destination === undefined) {
      for (const buffer of buffers) this.push(buffer);
      return;
    }
    if (destination.destroyed || destination.writableEnded) return;
    writeBuffers(destination, buffers);
  }

  override _transform(frame: FrameSpec, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.encoder.add(frame);
    } catch (error) {
      return callback(error as Error);
    }
    this.flushBatch();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.flushBatch();
    callback();
  }
}
