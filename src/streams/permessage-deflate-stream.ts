import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import type { FrameSpec } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/opcode.js';
import {
  DEFAULT_DEFLATE_THRESHOLD_BYTES,
  DEFLATE_TRAILER,
  deflateWindowBits,
  type NegotiatedDeflate,
} from '../protocol/permessage-deflate.js';
import { ZlibContext } from './zlib-context.js';
import { sharedZlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

export interface MessageDeflaterOptions {
  /** What the handshake agreed (`PerMessageDeflateNegotiator.negotiated`). */
  negotiated: NegotiatedDeflate;
  /** Messages under this many bytes are sent uncompressed. Default 1024. */
  thresholdBytes?: number;
  /** zlib compression level. Default: zlib's default. */
  level?: number;
  /** zlib memLevel. Default 8. */
  memLevel?: number;
  /** Where zlib slots come from; the process-wide limiter by default. */
  limiter?: ZlibLimiter;
  /**
   * Copy a Buffer payload that cannot be handled at once (it is compressed,
   * or waits behind one that is), so the caller may reuse it as soon as
   * `frame()` returns. Default false: payloads are borrowed until the callback.
   */
  copyPayloads?: boolean;
}

/** A frame to send, with a per-message say on compression. */
export interface OutgoingFrame extends FrameSpec {
  /**
   * Compress this message (`true`), never (`false`), or when it reaches
   * `thresholdBytes` (unset). Only whole data messages (`fin` not false)
   * are ever compressed.
   */
  compress?: boolean | undefined;
}

export type DeflateCallback = (error: Error | undefined, compressed: Buffer) => void;
export type FrameCallback = (error: Error | undefined, frame: FrameSpec) => void;

interface Task {
  frame: OutgoingFrame;
  compress: boolean;
  bytes: number;
  callback: FrameCallback;
}

const EMPTY = Buffer.alloc(0);
/** The queue entry of `flush()`: it carries no frame, only a place in the order. */
const BARRIER: OutgoingFrame = { opcode: -1, payload: EMPTY };

/**
 * The sending half of permessage-deflate (RFC 7692 7.2.1): whole messages in,
 * frames out, in the order they were given.
 *
 * `frame()` decides whether a message is worth compressing, compresses it on
 * the connection's zlib context, and hands back the frame to encode, with
 * RSV1 set when compressed. Frames that are not compressed (small messages,
 * control frames, fragments) wait behind compressed ones still in zlib, so
 * a close frame never overtakes the message sent before it. A callback runs
 * synchronously when nothing is waiting and no compression is needed.
 *
 * Payloads are borrowed: do not change them until the callback has run
 * (or set `copyPayloads`).
 */
export class MessageDeflater {
  readonly thresholdBytes: number;
  private readonly resetAfterMessage: boolean;
  private readonly copyPayloads: boolean;
  private readonly context: ZlibContext;
  private readonly queue: Task[] = [];
  private queuedBytes = 0;
  private running = false;
  private closed = false;

  constructor(options: MessageDeflaterOptions) {
    const n = options.negotiated;
    this.thresholdBytes = options.thresholdBytes ?? DEFAULT_DEFLATE_THRESHOLD_BYTES;
    // RFC 7692 7.1.1.2: with client_no_context_takeover, each message starts from an empty window.
    this.resetAfterMessage = n.clientNoContextTakeover;
    this.copyPayloads = options.copyPayloads ?? false;
    const zlibOptions: zlib.ZlibOptions = { windowBits: deflateWindowBits(n.clientMaxWindowBits) };
    if (options.level !== undefined) zlibOptions.level = options.level;
    if (options.memLevel !== undefined) zlibOptions.memLevel = options.memLevel;
    this.context = new ZlibContext(() => zlib.createDeflateRaw(zlibOptions), options.limiter ?? sharedZlibLimiter);
  }

  /** Messages waiting or in zlib. */
  get pendingCount(): number {
    return this.queue.length;
  }

  /** Payload bytes waiting or in zlib (for a `bufferedAmount`). */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Turns one frame into the frame to encode, compressing a whole data
   * message when `compress` says so or, by default, when it has at least
   * `thresholdBytes` bytes. Callbacks run in call order.
   */
  frame(frame: OutgoingFrame, callback: FrameCallback): void {
    const isMessage = (frame.opcode === Opcode.Text || frame.opcode === Opcode.Binary) && frame.fin !== false;
    const bytes = typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload) : frame.payload.length;
    const compress = isMessage && (frame.compress ?? bytes >= this.thresholdBytes);
    if (!compress && this.queue.length === 0 && !this.closed) {
      callback(undefined, plain(frame));
      return;
    }
    if (this.copyPayloads && typeof frame.payload !== 'string') frame = { ...frame, payload: Buffer.from(frame.payload) };
    this.queue.push({ frame, compress, bytes, callback });
    this.queuedBytes += bytes;
    this.pump();
  }

  /** Compresses one message payload, trailer removed; in order with `frame()`. */
  deflate(payload: Uint8Array | string, callback: DeflateCallback): void {
    this.frame({ opcode: Opcode.Binary, payload, compress: true }, (error, frame) =>
      callback(error, error ? EMPTY : (frame.payload as Buffer)),
    );
  }

  /**
   * Calls back once every frame given before has been handed out: before
   * ending the encoder, say. Synchronously when nothing is waiting.
   */
  flush(callback: (error: Error | undefined) => void): void {
    if (this.queue.length === 0 && !this.closed) return callback(undefined);
    this.queue.push({ frame: BARRIER, compress: false, bytes: 0, callback: (error) => callback(error) });
    this.pump();
  }

  /** Frees the zlib context; waiting callbacks get an error. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.context.close();
    this.failAll(new Error('message deflater closed'));
  }

  private pump(): void {
    if (this.running) return;
    while (this.queue.length > 0) {
      if (this.closed) return this.failAll(new Error('message deflater closed'));
      const task = this.queue[0]!;
      if (!task.compress) {
        this.settle(undefined, plain(task.frame));
        continue;
      }
      this.running = true;
      const payload = task.frame.payload;
      const input = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
      this.context.run([input], undefined, (error, chunks, bytes) => {
        this.running = false;
        if (error) return this.failAll(error);
        if (this.resetAfterMessage) this.context.reset();
        this.settle(undefined, { opcode: task.frame.opcode, payload: withoutTrailer(chunks, bytes), fin: true, rsv1: true });
        this.pump();
      });
      return;
    }
  }

  private settle(error: Error | undefined, frame: FrameSpec): void {
    const task = this.queue.shift()!;
    this.queuedBytes -= task.bytes;
    task.callback(error, frame);
  }

  private failAll(error: Error): void {
    while (this.queue.length > 0) this.settle(error, plain(this.queue[0]!.frame));
  }
}

/** The frame as it is, without our `compress` flag. */
function plain(frame: OutgoingFrame): FrameSpec {
  const spec: FrameSpec = { opcode: frame.opcode, payload: frame.payload };
  if (frame.fin !== undefined) spec.fin = frame.fin;
  if (frame.rsv1 !== undefined) spec.rsv1 = frame.rsv1;
  return spec;
}

/**
 * RFC 7692 7.2.1: compress, flush so the output ends on a byte boundary with
 * an empty stored block, and remove its last four bytes (`00 00 ff ff`).
 * Joined into one buffer at the same time, so at most one copy is made.
 */
function withoutTrailer(chunks: Buffer[], bytes: number): Buffer {
  const keep = bytes - DEFLATE_TRAILER.length;
  if (chunks.length === 1) {
    const only = chunks[0]!;
    return endsWithTrailer(only) ? only.subarray(0, keep) : only;
  }
  const joined = Buffer.concat(chunks, bytes);
  return endsWithTrailer(joined) ? joined.subarray(0, keep) : joined;
}

function endsWithTrailer(buffer: Buffer): boolean {
  return buffer.length >= 4 && DEFLATE_TRAILER.equals(buffer.subarray(buffer.length - 4));
}

/**
 * `OutgoingFrame` objects to `FrameSpec` objects for a `FrameEncoderStream`,
 * compressing whole data messages (see `MessageDeflater`). Control frames
 * keep their place in the order.
 */
export class PerMessageDeflateStream extends Transform {
  readonly deflater: MessageDeflater;

  constructor(options: MessageDeflaterOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    this.deflater = new MessageDeflater(options);
  }

  override _transform(frame: OutgoingFrame, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.deflater.frame(frame, (error, spec) => {
      // After destroy the deflater fails what was waiting; that is not a new error.
      if (this.destroyed) return callback();
      if (error) return callback(error);
      this.push(spec);
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.deflater.close();
    callback(error);
  }
}
