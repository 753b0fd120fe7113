import { ErrorCode, ProtocolError } from '../protocol/errors.js';
import type { DecoderSink } from '../protocol/frame-decoder.js';
import type { NegotiatedDeflate } from '../protocol/permessage-deflate.js';
import { MessageInflater, type MessageInflaterOptions } from './message-inflater.js';

export interface PerMessageInflateSinkOptions extends Omit<MessageInflaterOptions, 'negotiated'> {
  /** What the handshake agreed, when known at construction; otherwise call `negotiate()`. */
  negotiated?: NegotiatedDeflate | undefined;
  /**
   * Called when an inflate has finished and decoding may go on; for a
   * `FrameDecoderStream` in sink mode, `() => decoderStream.resumeSink()`.
   */
  resume: () => void;
}

/**
 * Permessage-deflate for the decoder's sink mode: a `DecoderSink` that sits
 * in front of another one, inflates compressed messages and hands every
 * event on in order.
 *
 * While a message is in zlib its `paused` is true, so the decoder stops
 * after the current event and holds the rest of its chunk; when the message
 * is delivered, `resume` is called (unless the inner sink is paused).
 * Setting `paused` sets the inner sink's flag: pause and resume it as before.
 *
 * Give the handshake's outcome to both: `negotiate()` here, and
 * `setCompression(negotiated !== undefined)` to the decoder, which alone
 * checks RSV1 (a compressed message when the server declined is its 1002).
 * After any error nothing more is delivered. `destroy()` frees the zlib
 * context.
 */
export class PerMessageInflateSink implements DecoderSink {
  private readonly inner: DecoderSink;
  private readonly options: PerMessageInflateSinkOptions;
  private inflater: MessageInflater | undefined;
  /** The compressed pieces of the message being received (views of the decoder's chunks). */
  private pieces: Buffer[] = [];
  private inflating = false;
  private failed = false;

  constructor(inner: DecoderSink, options: PerMessageInflateSinkOptions) {
    this.inner = inner;
    this.options = options;
    if (options.negotiated) this.negotiate(options.negotiated);
  }

  /**
   * True while zlib works on a message. Not after a failure: the decoder must
   * go on reading (and discarding), or the socket would stall mid-close.
   */
  get paused(): boolean {
    return this.inflating || this.inner.paused === true;
  }

  set paused(value: boolean) {
    this.inner.paused = value;
  }

  /** Records the handshake's outcome; `undefined` when the server did not accept the extension. */
  negotiate(negotiated: NegotiatedDeflate | undefined): void {
    this.inflater?.close();
    this.inflater = negotiated === undefined ? undefined : new MessageInflater({ ...this.options, negotiated });
  }

  data(
    opcode: number,
    chunk: Buffer,
    start: number,
    end: number,
    messageStart: boolean,
    messageEnd: boolean,
    frameEnd: boolean,
    compressed: boolean,
  ): void {
    if (this.failed) return;
    if (!compressed) return this.inner.data(opcode, chunk, start, end, messageStart, messageEnd, frameEnd, compressed);
    const inflater = this.inflater;
    if (inflater === undefined) {
      // Not a peer's fault to judge here (the decoder checks RSV1): the decoder allowed
      // compression that negotiate() did not report. Fail rather than pass compressed bytes on.
      return this.error(
        new ProtocolError(ErrorCode.InvalidCompressedData, 'a compressed message arrived before negotiate() gave the extension parameters'),
      );
    }
    if (messageStart) this.pieces = [];
    if (end > start) this.pieces.push(chunk.subarray(start, end));
    if (!messageEnd) return;
    const pieces = this.pieces;
    this.pieces = [];
    this.inflating = true;
    let sync = true;
    inflater.inflate(opcode, pieces, (error, payload) => {
      this.inflating = false;
      if (!this.failed) {
        if (error) this.error(error);
        else this.inner.data(opcode, payload, 0, payload.length, true, true, true, false);
      }
      // A synchronous answer (an empty message) is inside the decoder's own call: it goes on by itself.
      if (!sync && !this.paused) this.options.resume();
    });
    sync = false;
  }

  control(opcode: number, payload: Buffer): void {
    if (!this.failed) this.inner.control(opcode, payload);
  }

  close(code: number | undefined, reason: string, payload: Buffer): void {
    if (!this.failed) this.inner.close(code, reason, payload);
  }

  error(error: ProtocolError): void {
    if (this.failed) return;
    this.failed = true;
    this.pieces = [];
    this.inflater?.close();
    this.inner.error(error);
  }

  /** Frees the zlib context; nothing is delivered afterwards. */
  destroy(): void {
    this.failed = true;
    this.pieces = [];
    this.inflater?.close();
  }
}
