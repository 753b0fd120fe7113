import * as net from 'node:net';
import type { Writable } from 'node:stream';
import { FrameEncoder, type FrameEncoderOptions, type FrameSpec } from '../protocol/frame-encoder.js';

/** A frame at least this large is written at once, with what was batched before it. */
export const FLUSH_AT_ONCE_BYTES = 256 * 1024;

/**
 * Large frames the socket has written, kept for the next large frame of any
 * writer in the process, by size class (a multiple of 4 KiB).
 *
 * Why: a fresh 1 MiB buffer per frame costs more than masking it. Its pages
 * are new to the process, so the kernel faults in and zeroes 256 pages while
 * the mask writes them, and V8 counts the external memory until a GC frees
 * it (a micro-bench of 1 MiB frames: 240 µs to allocate and mask a fresh one,
 * 90 µs to mask into reused memory).
 * Bounded: at most `maxFreeBytes` wait here, and a new size class evicts the
 * others when the bound is reached; nothing is pooled below `minBytes` (the
 * encoder's slab holds those) or above `maxBytes`.
 */
export class FramePool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  constructor(
    readonly minBytes: number,
    readonly maxBytes: number,
    readonly maxFreeBytes: number,
  ) {}

  /** Bytes held for reuse. */
  get heldBytes(): number {
    return this.freeBytes;
  }

  /** Whether a frame of `bytes` is taken from here (else the caller allocates it). */
  pools(bytes: number): boolean {
    return bytes >= this.minBytes && bytes <= this.maxBytes;
  }

  /** A buffer of at least `bytes` (its size class); its old contents are left in it. */
  take(bytes: number): Buffer {
    const size = sizeClass(bytes);
    const kept = this.free.get(size)?.pop();
    if (kept === undefined) return Buffer.allocUnsafeSlow(size);
    this.freeBytes -= size;
    return kept;
  }

  /** Returns buffers from `take()` that nothing refers to any more. */
  give(buffers: readonly Buffer[]): void {
    for (const buffer of buffers) {
      const size = buffer.length;
      if (this.freeBytes + size > this.maxFreeBytes) this.evictOtherThan(size);
      if (this.freeBytes + size > this.maxFreeBytes) continue;
      let list = this.free.get(size);
      if (list === undefined) this.free.set(size, (list = []));
      list.push(buffer);
      this.freeBytes += size;
    }
  }

  /** Drops every kept buffer (tests; and a process that wants the memory back). */
  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }

  private evictOtherThan(size: number): void {
    for (const [other, list] of this.free) {
      if (other === size) continue;
      this.freeBytes -= other * list.length;
      this.free.delete(other);
    }
  }
}

const POOL_CLASS_BYTES = 4 * 1024;

function sizeClass(bytes: number): number {
  return Math.ceil(bytes / POOL_CLASS_BYTES) * POOL_CLASS_BYTES;
}

/**
 * The process's pool: frames from 16 KiB (the encoder's slab takes smaller
 * ones) to 4 MiB, at most 4 MiB kept (1 MiB frames: 3; 64 KiB frames: 60).
 */
export const framePool = new FramePool(16 * 1024, 4 * 1024 * 1024, 4 * 1024 * 1024);

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
  /**
   * `WriterBit` flags, one field kept for the connection's life (issue 12): a
   * flush is scheduled; `end()` was called (frames added after it are dropped).
   */
  private bits = 0;
  /** Pooled frames in the current batch: back to the pool once the batch is written. */
  private lent: Buffer[] | undefined;

  constructor(
    private readonly destination: Writable,
    options: FrameEncoderOptions,
  ) {
    super(options);
  }

  /**
   * A large frame's memory comes from `framePool` when the destination is a
   * `net.Socket` (TLS included): its write callback means the bytes are no
   * longer needed, so they may be overwritten then. Any other Duplex may hand
   * the buffer on (a PassThrough, a socket pair in memory): a fresh buffer.
   * Decided per large frame, not kept in a field: an idle connection stays small.
   */
  protected override allocateFrame(bytes: number): Buffer {
    if (!framePool.pools(bytes) || !(this.destination instanceof net.Socket)) return super.allocateFrame(bytes);
    const block = framePool.take(bytes);
    (this.lent ??= []).push(block);
    return block.length === bytes ? block : block.subarray(0, bytes);
  }

  /** Adds a frame to the current batch (see the class); dropped after `end()` or `destroy()`. */
  enqueue(frame: FrameSpec): void {
    if ((this.bits & WriterBit.Ended) !== 0) return;
    const before = this.pendingBytes;
    this.add(frame);
    this.schedule(before);
  }

  /** `enqueue()` of a whole, uncompressed message, without a `FrameSpec` object. */
  enqueueMessage(opcode: number, payload: Uint8Array | string): void {
    if ((this.bits & WriterBit.Ended) !== 0) return;
    const before = this.pendingBytes;
    this.addFrame(opcode, payload, true, false);
    this.schedule(before);
  }

  private schedule(pendingBefore: number): void {
    if (this.pendingBytes - pendingBefore >= FLUSH_AT_ONCE_BYTES) return this.flush();
    if ((this.bits & WriterBit.FlushScheduled) === 0) {
      this.bits |= WriterBit.FlushScheduled;
      process.nextTick(flushWriter, this);
    }
  }

  /** Writes what is batched now, without waiting for the end of the turn. */
  flush(): void {
    this.bits &= ~WriterBit.FlushScheduled;
    if ((this.bits & WriterBit.Ended) !== 0) return;
    const destination = this.destination;
    if (destination.destroyed || destination.writableEnded) return;
    const lent = this.lent;
    this.lent = undefined;
    // The write callback comes once the socket no longer needs the bytes (written, or the
    // write failed or was cancelled): only then may the next frame overwrite them.
    writeBuffers(destination, this.take(), lent === undefined ? undefined : () => framePool.give(lent));
  }

  /** Writes what is batched, then ends the destination; later frames are dropped. */
  end(): void {
    this.flush();
    this.bits |= WriterBit.Ended;
    const destination = this.destination;
    if (!destination.destroyed && !destination.writableEnded) destination.end();
  }

  /** Drops what is batched and every later frame, without ending the destination. */
  destroy(): void {
    this.bits |= WriterBit.Ended;
    this.lent = undefined; // the socket may still hold them: left to the GC
    this.take();
  }
}

/**
 * Writes `buffers` to `destination`: several as one `writev` (corked), one as
 * a plain write. `written` is the last write's callback: a Writable calls
 * back in order, so then every buffer of the batch is done with.
 */
export function writeBuffers(destination: Writable, buffers: readonly Buffer[], written?: () => void): void {
  const last = buffers.length - 1;
  if (last < 0) return;
  if (last === 0) {
    destination.write(buffers[0], written);
    return;
  }
  destination.cork();
  for (let i = 0; i < last; i++) destination.write(buffers[i]);
  destination.write(buffers[last], written);
  destination.uncork();
}

const enum WriterBit {
  FlushScheduled = 1,
  Ended = 2,
}

function flushWriter(writer: FrameWriter): void {
  writer.flush();
}
