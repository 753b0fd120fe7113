import * as zlib from 'node:zlib';
import { sharedZlibLimiter, type ReleaseSlot, type ZlibLimiter } from './zlib-limiter.js';

/** Looks at each output chunk as it comes out; returning an Error stops the operation with it. */
export type ChunkCheck = (chunk: Buffer) => Error | undefined;

/** Called once per operation with the output, or with the error that stopped it. */
export type ZlibDone = (error: Error | undefined, chunks: Buffer[], bytes: number) => void;

type RawStream = zlib.InflateRaw | zlib.DeflateRaw;

interface Operation {
  chunks: Buffer[];
  bytes: number;
  check: ChunkCheck | undefined;
  done: ZlibDone;
  release: ReleaseSlot;
}

/**
 * One zlib context (an LZ77 window and its state) kept across messages, run
 * one operation at a time: write the input, sync-flush, collect what came
 * out. Internal to the permessage-deflate stages.
 *
 * An operation holds a slot of the limiter from its first write to its flush.
 * Output is inspected chunk by chunk as zlib produces it, so a limit is
 * enforced before the whole output exists. After an operation fails the
 * context is closed: zlib may still be working on input we no longer want.
 */
export class ZlibContext {
  private stream: RawStream | undefined;
  private op: Operation | undefined;
  /** The peer ended the deflate stream (a block with BFINAL set). */
  private streamEnded = false;
  private closed = false;

  constructor(
    private readonly create: () => RawStream,
    private readonly limiter: ZlibLimiter = sharedZlibLimiter,
  ) {}

  /** Whether an operation is running or waiting for a slot. */
  get busy(): boolean {
    return this.op !== undefined;
  }

  /**
   * Writes `inputs`, then flushes with Z_SYNC_FLUSH, and calls `done` once
   * with every byte that came out. One operation at a time: the caller waits
   * for `done` before the next.
   */
  run(inputs: ReadonlyArray<Buffer | string>, check: ChunkCheck | undefined, done: ZlibDone): void {
    if (this.op) throw new Error('ZlibContext runs one operation at a time');
    const op: Operation = { chunks: [], bytes: 0, check, done, release: noop };
    this.op = op;
    this.limiter.run((release) => {
      op.release = release;
      if (this.op !== op) return release(); // closed while waiting
      if (this.closed) return this.finish(new Error('zlib context is closed'));
      const stream = this.ready();
      for (const input of inputs) stream.write(input);
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.op === op) this.finish(undefined);
      });
    });
  }

  /** Drops the window and state (no context takeover); only between operations. */
  reset(): void {
    if (this.op) throw new Error('cannot reset a zlib context in the middle of an operation');
    this.stream?.reset();
  }

  /** Frees the native context. A running operation ends with an error. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.discardStream();
    if (this.op) this.finish(new Error('zlib context closed during an operation'));
  }

  private ready(): RawStream {
    if (this.stream && !this.streamEnded) return this.stream;
    this.discardStream();
    const stream = this.create();
    this.streamEnded = false;
    stream.on('data', (chunk: Buffer) => this.onData(stream, chunk));
    stream.on('error', (error: Error) => {
      if (this.stream === stream && this.op) this.finish(error);
    });
    // RFC 7692 7.2.3.3: a peer may end a message with a final block. Node's
    // raw inflate then ends and would swallow what follows, so the next
    // message gets a fresh context.
    stream.on('end', () => {
      if (this.stream === stream) this.streamEnded = true;
    });
    this.stream = stream;
    return stream;
  }

  private onData(stream: RawStream, chunk: Buffer): void {
    const op = this.op;
    if (this.stream !== stream || !op) return;
    const error = op.check?.(chunk);
    if (error) {
      // Stop zlib now: the rest of its output is unwanted (a decompression bomb, say).
      this.discardStream();
      this.finish(error);
      return;
    }
    op.chunks.push(chunk);
    op.bytes += chunk.length;
  }

  private finish(error: Error | undefined): void {
    const op = this.op!;
    this.op = undefined;
    if (error) {
      this.closed = true;
      this.discardStream();
    }
    op.release();
    op.done(error, op.chunks, op.bytes);
  }

  private discardStream(): void {
    const stream = this.stream;
    if (!stream) return;
    this.stream = undefined;
    // An error may still be on its way from the thread pool: keep a listener.
    stream.on('error', noop);
    stream.destroy();
  }
}

function noop(): void {}
