import type { Writable } from 'node:stream';
import { FrameEncoder, type FrameEncoderOptions, type FrameSpec } from '../protocol/frame-encoder.js';

/** A frame at least this large is written at once, with what was batched before it. */
export const FLUSH_AT_ONCE_BYTES = 256 * 1024;

/**
 * A `FrameEncoder` that writes straight to a destination (the socket), with
 * the batching of `FrameEncoderStream`: small frames added within one turn of
 * the event loop leave as one `writev` at the end of it, a large frame at
 * once. No stream of its own: an open connection that only needs an encoder
 * and a socket keeps one small object, not a Transform's two states.
 * Backpressure is the destination's own (`writableLength`, `'drain'`).
 * It is the encoder itself (one object per connection, not two):
 * `pendingBytes` counts what is encoded and not yet written.
 */
export class FrameWriter extends FrameEncoder {
  private flushScheduled = false;
  /** Set by `end()`: frames added after it are dropped. */
  private ended = false;

  constructor(
    private readonly destination: Writable,
    options: FrameEncoderOptions,
  ) {
    super(options);
  }

  /** Adds a frame to the current batch (see the class); dropped after `end()` or `destroy()`. */
  enqueue(frame: FrameSpec): void {
    if (this.ended) return;
    const before = this.pendingBytes;
    this.add(frame);
    this.schedule(before);
  }

  /** `enqueue()` of a whole, uncompressed message, without a `FrameSpec` object. */
  enqueueMessage(opcode: number, payload: Uint8Array | string): void {
    if (this.ended) return;
    const before = this.pendingBytes;
    this.addFrame(opcode, payload, true, false);
    this.schedule(before);
  }

  private schedule(pendingBefore: number): void {
    if (this.pendingBytes - pendingBefore >= FLUSH_AT_ONCE_BYTES) return this.flush();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushWriter, this);
    }
  }

  /** Writes what is batched now, without waiting for the end of the turn. */
  flush(): void {
    this.flushScheduled = false;
    if (this.ended) return;
    const destination = this.destination;
    if (destination.destroyed || destination.writableEnded) return;
    writeBuffers(destination, this.take());
  }

  /** Writes what is batched, then ends the destination; later frames are dropped. */
  end(): void {
    this.flush();
    this.ended = true;
    const destination = this.destination;
    if (!destination.destroyed && !destination.writableEnded) destination.end();
  }

  /** Drops what is batched and every later frame, without ending the destination. */
  destroy(): void {
    this.ended = true;
    this.take();
  }
}

/** Writes `buffers` to `destination`: several as one `writev` (corked), one as a plain write. */
export function writeBuffers(destination: Writable, buffers: readonly Buffer[]): void {
  if (buffers.length === 0) return;
  if (buffers.length === 1) {
    destination.write(buffers[0]);
    return;
  }
  destination.cork();
  for (const buffer of buffers) destination.write(buffer);
  destination.uncork();
}

function flushWriter(writer: FrameWriter): void {
  writer.flush();
}
