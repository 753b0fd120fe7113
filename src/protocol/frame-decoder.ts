import { parseClosePayload } from './close.js';
import { ErrorCode, ProtocolError } from './errors.js';
import type { Role } from './frame-encoder.js';
import { maskInPlace } from './mask.js';
import { isControlOpcode, isKnownOpcode, MAX_CONTROL_PAYLOAD_BYTES, Opcode } from './opcode.js';
import { invalidUtf8Error, Utf8Validator } from './utf8-validator.js';

/** Default `maxMessageBytes`: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface FrameDecoderOptions {
  /** `client` expects unmasked frames from a server; `server` expects masked frames and unmasks them in place. */
  role: Role;
  /** A data message larger than this fails with 1009 as soon as a header announces it. Default 64 MiB. */
  maxMessageBytes?: number;
  /**
   * Whether RSV1 may mark the first frame of a message as compressed (RFC 7692
   * negotiated). Default false; a client that offers the extension learns the
   * answer with the 101: call `setCompression()` then.
   */
  perMessageCompression?: boolean;
  /** Validate UTF-8 of uncompressed text as it arrives. Default true. */
  validateUtf8?: boolean;
  /**
   * Leave UTF-8 validation of a text message that arrives whole in one data
   * event to the sink, which can check while it decodes (see the client).
   * Messages in pieces are still checked here, as each piece arrives.
   */
  sinkValidatesWholeText?: boolean;
  /**
   * Unmask data payloads in place (server role). Default true. With false,
   * data pieces reach the sink still masked, with `frameMaskKey` and
   * `pieceKeyOffset` to unmask (or re-mask) them: a relay re-masks in one
   * pass. UTF-8 of text is then not checked (the bytes are masked). Control
   * payloads are always unmasked.
   */
  unmask?: boolean;
}

/**
 * What the decoder found. Data payloads are views (`subarray`) of the input
 * chunk whenever the bytes arrived in it; they pin that chunk in memory.
 */
export type DecoderEvent =
  | {
      type: 'data';
      /** The message's opcode (1 text, 2 binary), also on continuation frames. */
      opcode: number;
      payload: Buffer;
      /** The first piece of the message. */
      messageStart: boolean;
      /** The last piece of the message: the message is whole. */
      messageEnd: boolean;
      /** The last piece of this frame. */
      frameEnd: boolean;
      /** RSV1 was set on the message's first frame (RFC 7692). */
      compressed: boolean;
    }
  | { type: 'ping'; payload: Buffer }
  | { type: 'pong'; payload: Buffer }
  | { type: 'close'; code: number | undefined; reason: string; payload: Buffer }
  | { type: 'error'; error: ProtocolError };

/**
 * The receiving side of `FrameDecoder.decode`: called synchronously, in
 * order. Data arrives as a range of the input chunk, so a consumer that turns
 * it into a string needs no intermediate view.
 */
export interface DecoderSink {
  data(
    opcode: number,
    chunk: Buffer,
    start: number,
    end: number,
    messageStart: boolean,
    messageEnd: boolean,
    frameEnd: boolean,
    compressed: boolean,
  ): void;
  control(opcode: number, payload: Buffer): void;
  close(code: number | undefined, reason: string, payload: Buffer): void;
  error(error: ProtocolError): void;
  /** Set by the sink to stop `decode()` after the current event; it returns where it stopped. */
  paused?: boolean;
}

/** What the decoder is waiting for. */
const enum State {
  Header,
  Length16,
  Length64,
  MaskKey,
  Payload,
  /** A close frame was received; RFC 6455 5.5.1: nothing after it is processed. */
  Closed,
  /** A protocol error was found; everything after it is discarded. */
  Failed,
}

const EMPTY = Buffer.alloc(0);

/**
 * The receive side of RFC 6455 section 5, without I/O: bytes in, events out.
 *
 * Data frames are streamed as their bytes arrive; control frames are held
 * until whole (they are at most `MAX_CONTROL_PAYLOAD_BYTES`). Limits are checked from the
 * header, before any payload is buffered.
 */
export class FrameDecoder {
  readonly role: Role;
  readonly maxMessageBytes: number;
  private compressionAllowed: boolean;
  private readonly validateUtf8: boolean;
  private readonly sinkValidatesWholeText: boolean;
  private readonly unmaskData: boolean;
  private state = State.Header;
  /** Where the current frame's header starts in the chunk being decoded; -1 when it began in an earlier chunk. */
  private headerStart = -1;
  /** The key offset of the first byte of the data piece being delivered. */
  private pieceKey = 0;

  // The frame being read.
  private fin = false;
  private opcode = 0;
  private masked = false;
  private remaining = 0;
  private payloadLength = 0;
  /** Allocated by the first masked frame (server role): an idle connection keeps no more than it needs. */
  private maskKey: Buffer = EMPTY;
  private keyOffset = 0;
  private control: Buffer | undefined;
  private controlFilled = 0;

  // The message being read.
  private messageOpcode = 0;
  private messageBytes = 0;
  private messageCompressed = false;
  private messageStarted = false;
  /** Made by the first text piece checked here: a client whose text comes whole never needs one. */
  private utf8: Utf8Validator | undefined;

  // Header bytes that span chunks.
  /** Allocated when a header first spans chunks. */
  private scratch: Buffer = EMPTY;
  private scratchFilled = 0;

  constructor(options: FrameDecoderOptions) {
    this.role = options.role;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.compressionAllowed = options.perMessageCompression ?? false;
    // Masked bytes cannot be checked: without unmasking, UTF-8 is left to the far end.
    this.validateUtf8 = (options.validateUtf8 ?? true) && (options.unmask ?? true);
    this.sinkValidatesWholeText = options.sinkValidatesWholeText ?? false;
    this.unmaskData = options.unmask ?? true;
  }

  /**
   * While a sink handles the first piece of a frame: the offset in the chunk
   * where the frame's header starts, when the whole header is in that chunk
   * (the header then ends where the piece starts); otherwise -1.
   */
  get frameStart(): number {
    return this.headerStart;
  }

  /** The current frame's masking key (a view of 4 bytes; valid while a sink handles one of its pieces). */
  get frameMaskKey(): Buffer {
    return this.maskKey;
  }

  /** While a sink handles a data piece of a masked frame: the key offset (0-3) of its first byte. */
  get pieceKeyOffset(): number {
    return this.pieceKey;
  }

  /**
   * Says whether permessage-deflate was negotiated, once the opening handshake
   * has settled it: RSV1 is then allowed on the first frame of a data message
   * (RFC 7692 6), or refused everywhere with 1002 (RFC 6455 5.2). This is the
   * only place RSV1 is checked; call it before any frame is decoded.
   */
  setCompression(negotiated: boolean): void {
    this.compressionAllowed = negotiated;
  }

  /** Whether a close frame or an error has ended decoding. */
  get finished(): boolean {
    return this.state === State.Closed || this.state === State.Failed;
  }

  /**
   * While a sink handles a data piece: how many bytes of the message are
   * still to come when that is known from the header (the frame is the
   * message's last), else undefined. Lets a consumer size one buffer up front.
   */
  get messageRemainingBytes(): number | undefined {
    return this.fin ? this.remaining : undefined;
  }

  /**
   * Between `decode()` calls: how many payload bytes of the current data
   * frame are still to come when that frame ends its message (FIN set) and
   * is neither masked nor compressed, so the next bytes of the input are
   * exactly those; else 0. Lets a reader put them straight where they belong.
   */
  get finalPayloadRemainingBytes(): number {
    if (this.state !== State.Payload || !this.fin || this.masked || this.messageCompressed || isControlOpcode(this.opcode)) return 0;
    return this.remaining;
  }

  /** Whether a fragmented message is in progress. */
  get inMessage(): boolean {
    return this.messageOpcode !== 0;
  }

  /** Decodes `chunk` and returns what it completed. */
  push(chunk: Buffer): DecoderEvent[] {
    const events: DecoderEvent[] = [];
    this.decode(chunk, {
      data: (opcode, buffer, start, end, messageStart, messageEnd, frameEnd, compressed) =>
        events.push({ type: 'data', opcode, payload: buffer.subarray(start, end), messageStart, messageEnd, frameEnd, compressed }),
      control: (opcode, payload) => events.push({ type: opcode === Opcode.Ping ? 'ping' : 'pong', payload }),
      close: (code, reason, payload) => events.push({ type: 'close', code, reason, payload }),
      error: (error) => events.push({ type: 'error', error }),
    });
    return events;
  }

  /**
   * Decodes `chunk` from `from`, calling `sink` for each event, without
   * allocating event objects. Returns the offset it stopped at: the chunk's
   * length, or earlier when the sink set `paused` (call again from there).
   */
  decode(chunk: Buffer, sink: DecoderSink, from = 0): number {
    let pos = from;
    // A header read in an earlier call is not in this chunk.
    this.headerStart = -1;
    const end = chunk.length;
    while (pos < end) {
      if (sink.paused) return pos;
      switch (this.state) {
        case State.Header: {
          let b0: number;
          let b1: number;
          if (this.scratchFilled === 0 && end - pos >= 2) {
            this.headerStart = pos;
            b0 = chunk[pos]!;
            b1 = chunk[pos + 1]!;
            pos += 2;
          } else {
            this.headerStart = -1;
            pos = this.fill(chunk, pos, 2);
            if (this.scratchFilled < 2) return end;
            b0 = this.scratch[0]!;
            b1 = this.scratch[1]!;
            this.scratchFilled = 0;
          }
          const error = this.readHeader(b0, b1);
          if (error) {
            this.fail(error, sink);
            return end;
          }
          if ((this.state as State) === State.Payload) this.payloadStart(sink);
          break;
        }
        case State.Length16: {
          if (this.scratchFilled === 0 && end - pos >= 2) {
            this.payloadLength = chunk.readUInt16BE(pos);
            pos += 2;
          } else {
            this.headerStart = -1;
            pos = this.fill(chunk, pos, 2);
            if (this.scratchFilled < 2) return end;
            this.payloadLength = this.scratch.readUInt16BE(0);
            this.scratchFilled = 0;
          }
          const error = this.lengthKnown();
          if (error) {
            this.fail(error, sink);
            return end;
          }
          if ((this.state as State) === State.Payload) this.payloadStart(sink);
          break;
        }
        case State.Length64: {
          let high: number;
          let low: number;
          if (this.scratchFilled === 0 && end - pos >= 8) {
            high = chunk.readUInt32BE(pos);
            low = chunk.readUInt32BE(pos + 4);
            pos += 8;
          } else {
            this.headerStart = -1;
            pos = this.fill(chunk, pos, 8);
            if (this.scratchFilled < 8) return end;
            high = this.scratch.readUInt32BE(0);
            low = this.scratch.readUInt32BE(4);
            this.scratchFilled = 0;
          }
          // RFC 6455 5.2: "the most significant bit MUST be 0".
          if (high >= 0x80000000) {
            this.fail(new ProtocolError(ErrorCode.InvalidLength, '64-bit payload length has its top bit set'), sink);
            return end;
          }
          // Beyond 2^53 - 1 no JavaScript number holds the length; no limit allows it either.
          if (high > 0x1fffff) {
            this.fail(new ProtocolError(ErrorCode.MessageTooBig, 'payload length above 2^53 - 1'), sink);
            return end;
          }
          this.payloadLength = high * 0x100000000 + low;
          const error = this.lengthKnown();
          if (error) {
            this.fail(error, sink);
            return end;
          }
          if ((this.state as State) === State.Payload) this.payloadStart(sink);
          break;
        }
        case State.MaskKey: {
          // From Node's shared pool: no ArrayBuffer of its own per connection.
          if (this.maskKey === EMPTY) this.maskKey = Buffer.allocUnsafe(4);
          if (this.scratchFilled === 0 && end - pos >= 4) {
            // Four assignments: Buffer#copy costs more than the bytes for a 4-byte key.
            const key = this.maskKey;
            key[0] = chunk[pos]!;
            key[1] = chunk[pos + 1]!;
            key[2] = chunk[pos + 2]!;
            key[3] = chunk[pos + 3]!;
            pos += 4;
          } else {
            this.headerStart = -1;
            pos = this.fill(chunk, pos, 4);
            if (this.scratchFilled < 4) return end;
            this.scratch.copy(this.maskKey, 0, 0, 4);
            this.scratchFilled = 0;
          }
          this.keyOffset = 0;
          this.payloadStart(sink);
          break;
        }
        case State.Payload: {
          const start = pos;
          pos += Math.min(this.remaining, end - pos);
          this.remaining -= pos - start;
          if (this.masked) {
            this.pieceKey = this.keyOffset;
            if (this.unmaskData || isControlOpcode(this.opcode)) this.keyOffset = maskInPlace(chunk, start, pos, this.maskKey, this.keyOffset);
            else this.keyOffset = (this.keyOffset + pos - start) & 3;
          }
          if (isControlOpcode(this.opcode)) {
            this.controlBytes(chunk, start, pos, sink);
          } else {
            this.dataBytes(chunk, start, pos, sink);
          }
          break;
        }
        case State.Closed:
        case State.Failed:
          return end;
      }
    }
    return end;
  }

  /** Copies header bytes into the scratch buffer until it holds `want`. */
  private fill(chunk: Buffer, pos: number, want: number): number {
    if (this.scratch === EMPTY) this.scratch = Buffer.allocUnsafe(8);
    const take = Math.min(want - this.scratchFilled, chunk.length - pos);
    chunk.copy(this.scratch, this.scratchFilled, pos, pos + take);
    this.scratchFilled += take;
    return pos + take;
  }

  private readHeader(b0: number, b1: number): ProtocolError | undefined {
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const length7 = b1 & 0x7f;

    // RFC 6455 5.2: "MUST be 0 unless an extension is negotiated that defines meanings for non-zero values".
    if ((b0 & 0x30) !== 0) return new ProtocolError(ErrorCode.ReservedBits, 'RSV2 or RSV3 is set');
    if (!isKnownOpcode(opcode)) return new ProtocolError(ErrorCode.ReservedOpcode, `reserved opcode ${opcode}`);
    const control = isControlOpcode(opcode);
    if (rsv1) {
      // RFC 7692 6: the Per-Message Compressed bit is only on the first frame of a data message.
      if (!this.compressionAllowed) return new ProtocolError(ErrorCode.ReservedBits, 'RSV1 is set without a negotiated extension');
      if (control || opcode === Opcode.Continuation) {
        return new ProtocolError(ErrorCode.ReservedBits, 'RSV1 is set on a control or continuation frame');
      }
    }
    if (control) {
      // RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
      if (!fin) return new ProtocolError(ErrorCode.FragmentedControlFrame, 'fragmented control frame');
      if (length7 > MAX_CONTROL_PAYLOAD_BYTES) {
        return new ProtocolError(ErrorCode.ControlFrameTooLong, `control frame payload over ${MAX_CONTROL_PAYLOAD_BYTES} bytes`);
      }
    } else if (opcode === Opcode.Continuation) {
      // RFC 6455 5.4: continuation frames only follow a non-final data frame.
      if (this.messageOpcode === 0) return new ProtocolError(ErrorCode.UnexpectedContinuation, 'continuation frame with no message in progress');
    } else if (this.messageOpcode !== 0) {
      return new ProtocolError(ErrorCode.ExpectedContinuation, 'new data frame while a fragmented message is in progress');
    }
    // RFC 6455 5.1: a client closes the connection on a masked frame; a server on an unmasked one.
    if (this.role === 'client' && masked) return new ProtocolError(ErrorCode.MaskedFrame, 'the server sent a masked frame');
    if (this.role === 'server' && !masked) return new ProtocolError(ErrorCode.UnmaskedFrame, 'the client sent an unmasked frame');

    this.fin = fin;
    this.opcode = opcode;
    this.masked = masked;
    if (!control && opcode !== Opcode.Continuation) {
      this.messageOpcode = opcode;
      this.messageBytes = 0;
      this.messageCompressed = rsv1;
      this.messageStarted = false;
    }
    if (length7 === 126) {
      this.state = State.Length16;
      return undefined;
    }
    if (length7 === 127) {
      this.state = State.Length64;
      return undefined;
    }
    this.payloadLength = length7;
    return this.lengthKnown();
  }

  private lengthKnown(): ProtocolError | undefined {
    if (!isControlOpcode(this.opcode)) {
      // Checked from the header, before a byte of the payload is held.
      if (this.messageBytes + this.payloadLength > this.maxMessageBytes) {
        return new ProtocolError(
          ErrorCode.MessageTooBig,
          `message exceeds maxMessageBytes (${this.maxMessageBytes})`,
        );
      }
      this.messageBytes += this.payloadLength;
    }
    this.remaining = this.payloadLength;
    if (this.masked) {
      this.state = State.MaskKey;
      return undefined;
    }
    this.state = State.Payload;
    return undefined;
  }

  /** Called once the header is complete; handles empty payloads at once. */
  private payloadStart(sink: DecoderSink): void {
    this.state = State.Payload;
    if (isControlOpcode(this.opcode)) {
      this.control = this.payloadLength === 0 ? EMPTY : undefined;
      this.controlFilled = 0;
      if (this.payloadLength === 0) this.controlDone(EMPTY, sink);
    } else if (this.payloadLength === 0) {
      this.dataBytes(EMPTY, 0, 0, sink);
    }
  }

  private dataBytes(chunk: Buffer, start: number, end: number, sink: DecoderSink): void {
    const frameEnd = this.remaining === 0;
    const messageEnd = frameEnd && this.fin;
    const messageStart = !this.messageStarted;
    this.messageStarted = true;
    const opcode = this.messageOpcode;
    const checkHere = this.validateUtf8 && !(this.sinkValidatesWholeText && messageStart && messageEnd);
    if (opcode === Opcode.Text && checkHere && !this.messageCompressed) {
      const utf8 = (this.utf8 ??= new Utf8Validator());
      if (!utf8.write(chunk, start, end) || (messageEnd && !utf8.end())) {
        utf8.reset();
        return this.fail(invalidUtf8Error(), sink);
      }
    }
    const compressed = this.messageCompressed;
    if (frameEnd) this.state = State.Header;
    if (messageEnd) this.messageOpcode = 0;
    sink.data(opcode, chunk, start, end, messageStart, messageEnd, frameEnd, compressed);
  }

  private controlBytes(chunk: Buffer, start: number, end: number, sink: DecoderSink): void {
    if (this.remaining === 0 && this.controlFilled === 0) {
      // The whole control payload is in this chunk: a view, no copy.
      this.controlDone(chunk.subarray(start, end), sink);
      return;
    }
    if (this.control === undefined) this.control = Buffer.allocUnsafe(this.payloadLength);
    chunk.copy(this.control, this.controlFilled, start, end);
    this.controlFilled += end - start;
    if (this.remaining === 0) this.controlDone(this.control, sink);
  }

  private controlDone(payload: Buffer, sink: DecoderSink): void {
    this.control = undefined;
    this.controlFilled = 0;
    if (this.opcode === Opcode.Close) {
      let parsed;
      try {
        parsed = parseClosePayload(payload);
      } catch (error) {
        return this.fail(error as ProtocolError, sink);
      }
      this.state = State.Closed;
      sink.close(parsed.code, parsed.reason, payload);
      return;
    }
    this.state = State.Header;
    sink.control(this.opcode, payload);
  }

  private fail(error: ProtocolError, sink: DecoderSink): void {
    this.state = State.Failed;
    sink.error(error);
  }
}
