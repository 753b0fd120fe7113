import * as zlib from 'node:zlib';
import { ErrorCode, ProtocolError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-decoder.js';
import { Opcode } from '../protocol/opcode.js';
import { DEFLATE_TRAILER, INFLATE_WINDOW_BITS, type NegotiatedDeflate } from '../protocol/permessage-deflate.js';
import { invalidUtf8Error, Utf8Validator } from '../protocol/utf8-validator.js';
import { ZlibContext } from './zlib-context.js';
import { sharedZlibLimiter, type ZlibLimiter } from './zlib-limiter.js';

export interface MessageInflaterOptions {
  /** What the handshake agreed (`PerMessageDeflateNegotiator.negotiated`). */
  negotiated: NegotiatedDeflate;
  /** An inflated message larger than this fails with 1009. Default 64 MiB. */
  maxMessageBytes?: number;
  /** Validate the UTF-8 of inflated text messages. Default true. */
  validateUtf8?: boolean;
  /** Where zlib slots come from; the process-wide limiter by default. */
  limiter?: ZlibLimiter;
}

export type InflateCallback = (error: ProtocolError | undefined, payload: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/**
 * The receiving half of permessage-deflate (RFC 7692 7.2.2) on one
 * connection's zlib context: the compressed pieces of a message in, the
 * message out. One message at a time: wait for the callback before the next.
 *
 * The inflated size is checked chunk by chunk as zlib produces it, so a
 * message that would exceed `maxMessageBytes` stops there (1009) without the
 * rest being produced. Data zlib rejects is a 1007; so is inflated text that
 * is not UTF-8. After an error the inflater is closed.
 */
export class MessageInflater {
  readonly maxMessageBytes: number;
  private readonly resetAfterMessage: boolean;
  private readonly validateUtf8: boolean;
  private readonly context: ZlibContext;
  private readonly utf8 = new Utf8Validator();

  constructor(options: MessageInflaterOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    // RFC 7692 7.1.1.1: with server_no_context_takeover, each message starts from an empty window.
    this.resetAfterMessage = options.negotiated.serverNoContextTakeover;
    this.validateUtf8 = options.validateUtf8 ?? true;
    this.context = new ZlibContext(
      () => zlib.createInflateRaw({ windowBits: INFLATE_WINDOW_BITS }),
      options.limiter ?? sharedZlibLimiter,
    );
  }

  /**
   * Inflates the payload pieces of one compressed message (`opcode` 1 or 2).
   * The callback runs synchronously only for an empty payload.
   */
  inflate(opcode: number, pieces: Buffer[], callback: InflateCallback): void {
    if (pieces.every((piece) => piece.length === 0)) {
      // An empty compressed payload carries no deflate block at all; it can
      // only mean an empty message, and zlib would wait for more input.
      return callback(undefined, EMPTY);
    }
    const checkUtf8 = this.validateUtf8 && opcode === Opcode.Text;
    let inflatedBytes = 0;
    this.context.run(
      [...pieces, DEFLATE_TRAILER],
      (chunk) => {
        inflatedBytes += chunk.length;
        if (inflatedBytes > this.maxMessageBytes) {
          return new ProtocolError(
            ErrorCode.MessageTooBig,
            `inflated message exceeds maxMessageBytes (${this.maxMessageBytes})`,
          );
        }
        if (checkUtf8 && !this.utf8.write(chunk)) return invalidUtf8Error();
        return undefined;
      },
      (error, chunks, bytes) => {
        if (error) {
          this.utf8.reset();
          if (error instanceof ProtocolError) return callback(error, EMPTY);
          return callback(
            new ProtocolError(
              ErrorCode.InvalidCompressedData,
              `compressed message cannot be inflated: ${error.message}`,
            ),
            EMPTY,
          );
        }
        if (checkUtf8 && !this.utf8.end()) {
          this.context.close();
          return callback(invalidUtf8Error(), EMPTY);
        }
        if (this.resetAfterMessage) this.context.reset();
        callback(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
      },
    );
  }

  /** Frees the zlib context; a running inflate ends with an error. */
  close(): void {
    this.context.close();
  }
}
