import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode, ProtocolError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type DecoderEvent } from '../protocol/frame-decoder.js';
import { Opcode } from '../protocol/opcode.js';
import { DEFLATE_TRAILER, INFLATE_WINDOW_BITS, type NegotiatedDeflate } from '../protocol/permessage-deflate.js';
import { Utf8Validator } from '../protocol/utf8-validator.js';
import { ZlibContext } from './zlib-context.js';
import { sharedZlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

export interface PerMessageInflateStreamOptions {
  /** What the handshake agreed (`PerMessageDeflateNegotiator.negotiated`). */
  negotiated: NegotiatedDeflate;
  /** An inflated message larger than this fails with 1009. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Validate the UTF-8 of inflated text messages. Default true. */
  validateUtf8?: boolean;
  /** Where zlib slots come from; the process-wide limiter by default. */
  limiter?: ZlibLimiter;
}

type DataEvent = Extract<DecoderEvent, { type: 'data' }>;

/**
 * Inflates compressed messages (RFC 7692) between a `FrameDecoderStream` and
 * whatever reads messages.
 *
 * Input and output are `DecoderEvent`s, one at a time or in arrays (the
 * decoder's `batch` mode); an array in gives an array out, in the same order.
 * Uncompressed events pass through untouched. The pieces of a compressed
 * message are held until its last frame, then inflated in one zlib operation
 * and emitted as a single data event (`messageStart`, `messageEnd` and
 * `frameEnd` all true, `compressed` false) at the place of that last piece;
 * events behind it wait.
 *
 * Like the decoder, this stage reports a peer's fault in band: an event of
 * type `'error'` (1009 when the inflated message exceeds `maxMessageBytes`,
 * 1007 for data zlib cannot inflate or text that is not UTF-8), after which
 * the stream ends and ignores its input.
 */
export class PerMessageInflateStream extends Transform {
  readonly maxMessageBytes: number;
  private readonly resetAfterMessage: boolean;
  private readonly validateUtf8: boolean;
  private readonly context: ZlibContext;
  private readonly utf8 = new Utf8Validator();
  /** The compressed pieces of the message being received. */
  private pieces: Buffer[] = [];
  private ended = false;

  constructor(options: PerMessageInflateStreamOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    // RFC 7692 7.1.1.1: with server_no_context_takeover, each message starts from an empty window.
    this.resetAfterMessage = options.negotiated.serverNoContextTakeover;
    this.validateUtf8 = options.validateUtf8 ?? true;
    const limiter = options.limiter ?? sharedZlibLimiter;
    this.context = new ZlibContext(() => zlib.createInflateRaw({ windowBits: INFLATE_WINDOW_BITS }), limiter);
  }

  override _transform(input: DecoderEvent | DecoderEvent[], _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.ended) return callback();
    const batch = Array.isArray(input);
    this.handle(batch ? input : [input], 0, [], batch, callback);
  }

  /** Works through `events` from `index`, collecting output in `out`; resumes after each inflate. */
  private handle(events: DecoderEvent[], index: number, out: DecoderEvent[], batch: boolean, callback: TransformCallback): void {
    for (let i = index; i < events.length; i++) {
      const event = events[i]!;
      if (event.type !== 'data' || !event.compressed) {
        out.push(event);
        continue;
      }
      if (event.messageStart) this.pieces = [];
      if (event.payload.length > 0) this.pieces.push(event.payload);
      if (!event.messageEnd) continue;
      const pieces = this.pieces;
      this.pieces = [];
      this.inflate(event, pieces, (result) => {
        if (this.destroyed) return callback();
        out.push(result);
        if (result.type === 'error') {
          this.emitEvents(out, batch);
          this.stop();
          return callback();
        }
        this.handle(events, i + 1, out, batch, callback);
      });
      return;
    }
    this.emitEvents(out, batch);
    callback();
  }

  private inflate(last: DataEvent, pieces: Buffer[], done: (event: DecoderEvent) => void): void {
    const opcode = last.opcode;
    if (pieces.length === 0) {
      // An empty compressed payload carries no deflate block at all; it can
      // only mean an empty message, and zlib would wait for more input.
      return done(this.message(opcode, Buffer.alloc(0)));
    }
    pieces.push(DEFLATE_TRAILER);
    const checkUtf8 = this.validateUtf8 && opcode === Opcode.Text;
    let inflatedBytes = 0;
    this.context.run(
      pieces,
      (chunk) => {
        // Checked on each chunk as zlib produces it: a bomb stops at the limit.
        inflatedBytes += chunk.length;
        if (inflatedBytes > this.maxMessageBytes) {
          return new ProtocolError(
            ErrorCode.MessageTooBig,
            `inflated message exceeds maxMessageBytes (${this.maxMessageBytes})`,
            CloseCode.MessageTooBig,
          );
        }
        if (checkUtf8 && !this.utf8.write(chunk)) return invalidUtf8();
        return undefined;
      },
      (error, chunks, bytes) => {
        if (error) {
          this.utf8.reset();
          if (error instanceof ProtocolError) return done({ type: 'error', error });
          return done({
            type: 'error',
            error: new ProtocolError(
              ErrorCode.InvalidCompressedData,
              `compressed message cannot be inflated: ${error.message}`,
              CloseCode.InvalidPayloadData,
            ),
          });
        }
        if (checkUtf8 && !this.utf8.end()) return done({ type: 'error', error: invalidUtf8() });
        if (this.resetAfterMessage) this.context.reset();
        const payload = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
        done(this.message(opcode, payload));
      },
    );
  }

  private message(opcode: number, payload: Buffer): DecoderEvent {
    return { type: 'data', opcode, payload, messageStart: true, messageEnd: true, frameEnd: true, compressed: false };
  }

  private emitEvents(out: DecoderEvent[], batch: boolean): void {
    if (out.length === 0) return;
    if (batch) this.push(out);
    else for (const event of out) this.push(event);
  }

  /** Ends the readable side after an error of ours; later input is ignored. */
  private stop(): void {
    this.ended = true;
    this.pieces = [];
    this.context.close();
    this.push(null);
  }

  override _flush(callback: TransformCallback): void {
    this.context.close();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.pieces = [];
    this.context.close();
    callback(error);
  }
}

function invalidUtf8(): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidUtf8, 'text message is not valid UTF-8', CloseCode.InvalidPayloadData);
}
