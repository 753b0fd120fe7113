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
 * What a decoder is configured with: the same for every connection of a
 * client, so one frozen object is shared by all the decoders made with the
 * same values (issue 12, idle memory: one field per decoder, not six).
 */
interface DecoderConfig {
  readonly role: Role;
  readonly maxMessageBytes: number;
  readonly compressionAllowed: boolean;
  readonly validateUtf8: boolean;
  readonly sinkValidatesWholeText: boolean;
  readonly unmaskData: boolean;
}

/** The configurations made so far; a few at most in practice (bounded all the same). */
const configs: DecoderConfig[] = [];
const MAX_SHARED_CONFIGS = 32;

/** The shared configuration with these values (found without building a key: no garbage per decoder). */
function configOf(
  role: Role,
  maxMessageBytes: number,
  compressionAllowed: boolean,
  validateUtf8: boolean,
  sinkValidatesWholeText: boolean,
  unmaskData: boolean,
): DecoderConfig {
  for (const c of configs) {
    if (
      c.role === role &&
      c.maxMessageBytes === maxMessageBytes &&
      c.compressionAllowed === compressionAllowed &&
      c.validateUtf8 === validateUtf8 &&
      c.sinkValidatesWholeText === sinkValidatesWholeText &&
      c.unmaskData === unmaskData
    ) {
      return c;
    }
  }
  const config = Object.freeze({ role, maxMessageBytes, compressionAllowed, validateUtf8, sinkValidatesWholeText, unmaskData });
  if (configs.length < MAX_SHARED_CONFIGS) configs.push(config);
  return config;
}

/** The flags of the frame and message being read, as bits of one field. */
const enum Bit {
  /** The frame's FIN. */
  Fin = 1,
  /** The frame is masked. */
  Masked = 2,
  /** RSV1 was set on the message's first frame (RFC 7692). */
  MessageCompressed = 4,
  /** The message's first piece has been delivered. */
  MessageStarted = 8,
}

/** The state of a header or control frame that spans reads: made the first time one does. */
class Spill {
  /** Header bytes (at most 8) gathered across reads. */
  readonly scratch = Buffer.allocUnsafe(8);
  /** A control payload gathered across reads. */
  control: Buffer | undefined;
  controlFilled = 0;
}

/**
 * The receive side of RFC 6455 section 5, without I/O: bytes in, events out.
 *
 * Data frames are streamed as their bytes arrive; control frames are held
 * until whole (they are at most `MAX_CONTROL_PAYLOAD_BYTES`). Limits are checked from the
 * header, before any payload is buffered.
 */
export class FrameDecoder {
  /** Shared by every decoder with the same options (see `configOf`); replaced by `setCompression()`. */
  private config: DecoderConfig;
  /** `Bit` flags of the frame and message being read. */
  private bits = 0;
  private state = State.Header;
  /** Where the current frame's header starts in the chunk being decoded; -1 when it began in an earlier chunk. */
  private headerStart = -1;
  /** The key offset of the first byte of the data piece being delivered. */
  private pieceKey = 0;

  // The frame being read (its FIN and mask bit are in `bits`).
  private opcode = 0;
  private remaining = 0;
  private payloadLength = 0;
  /** Allocated by the first masked frame (server role): an idle connection keeps no more than it needs. */
  private maskKey: Buffer = EMPTY;
  private keyOffset = 0;

  // The message being read.
  private messageOpcode = 0;
  private messageBytes = 0;
  /** Made by the first text piece checked here: a client whose text comes whole never needs one. */
  private utf8: Utf8Validator | undefined;

  // Header bytes and control payloads that span chunks.
  /** Made when a header or a control frame first spans chunks. */
  private spill: Spill | undefined;
  /** Header bytes gathered in `spill.scratch` (checked per header: kept here). */
  private scratchFilled = 0;

  constructor(options: FrameDecoderOptions) {
    this.config = configOf(
      options.role,
      options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      options.perMessageCompression ?? false,
      // Masked bytes cannot be checked: without unmasking, UTF-8 is left to the far end.
      (options.validateUtf8 ?? true) && (options.unmask ?? true),
      options.sinkValidatesWholeText ?? false,
      options.unmask ?? true,
    );
  }

  /** `client` expects unmasked frames, `server` masked ones. */
  get role(): Role {
    return this.config.role;
  }

  /** The limit on a data message's size. */
  get maxMessageBytes(): number {
    return this.config.maxMessageBytes;
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
    const c = this.config;
    this.config = configOf(c.role, c.maxMessageBytes, negotiated, c.validateUtf8, c.sinkValidatesWholeText, c.unmaskData);
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
    return (this.bits & Bit.Fin) !== 0 ? this.remaining : undefined;
  }

  /**
   * Between `decode()` calls: how many payload bytes of the current data
   * frame are still to come when that frame ends its message (FIN set) and
   * is neither masked nor compressed, so the next bytes of the input are
   * exactly those; else 0. Lets a reader put them straight where they belong.
   */
  get finalPayloadRemainingBytes(): number {
    // FIN set, neither masked nor compressed.
    if (this.state !== State.Payload || (this.bits & (Bit.Fin | Bit.Masked | Bit.MessageCompressed)) !== Bit.Fin || isControlOpcode(this.opcode)) return 0;
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
            const scratch = this.spill!.scratch;
            b0 = scratch[0]!;
            b1 = scratch[1]!;
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
            this.payloadLength = this.spill!.scratch.readUInt16BE(0);
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
            const scratch = this.spill!.scratch;
            high = scratch.readUInt32BE(0);
            low = scratch.readUInt32BE(4);
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
            this.spill!.scratch.copy(this.maskKey, 0, 0, 4);
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
          if ((this.bits & Bit.Masked) !== 0) {
            this.pieceKey = this.keyOffset;
            if (this.config.unmaskData || isControlOpcode(this.opcode)) this.keyOffset = maskInPlace(chunk, start, pos, this.maskKey, this.keyOffset);
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
    const scratch = (this.spill ??= new Spill()).scratch;
    const take = Math.min(want - this.scratchFilled, chunk.length - pos);
    chunk.copy(scratch, this.scratchFilled, pos, pos + take);
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
      if (!this.config.compressionAllowed) return new ProtocolError(ErrorCode.ReservedBits, 'RSV1 is set without a negotiated extension');
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
    const role = this.config.role;
    if (role === 'client' && masked) return new ProtocolError(ErrorCode.MaskedFrame, 'the server sent a masked frame');
    if (role === 'server' && !masked) return new ProtocolError(ErrorCode.UnmaskedFrame, 'the client sent an unmasked frame');

    this.opcode = opcode;
    // The message's bits carry over to its continuations and the control frames between them.
    let bits = this.bits & (Bit.MessageCompressed | Bit.MessageStarted);
    if (!control && opcode !== Opcode.Continuation) {
      this.messageOpcode = opcode;
      this.messageBytes = 0;
      bits = rsv1 ? Bit.MessageCompressed : 0;
    }
    if (fin) bits |= Bit.Fin;
    if (masked) bits |= Bit.Masked;
    this.bits = bits;
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
      const maxMessageBytes = this.config.maxMessageBytes;
      if (this.messageBytes + this.payloadLength > maxMessageBytes) {
        return new ProtocolError(
          ErrorCode.MessageTooBig,
          `message exceeds maxMessageBytes (${maxMessageBytes})`,
        );
      }
      this.messageBytes += this.payloadLength;
    }
    this.remaining = this.payloadLength;
    if ((this.bits & Bit.Masked) !== 0) {
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
      if (this.spill !== undefined) {
        this.spill.control = undefined;
        this.spill.controlFilled = 0;
      }
      if (this.payloadLength === 0) this.controlDone(EMPTY, sink);
    } else if (this.payloadLength === 0) {
      this.dataBytes(EMPTY, 0, 0, sink);
    }
  }

  private dataBytes(chunk: Buffer, start: number, end: number, sink: DecoderSink): void {
    const bits = this.bits;
    const frameEnd = this.remaining === 0;
    const messageEnd = frameEnd && (bits & Bit.Fin) !== 0;
    const messageStart = (bits & Bit.MessageStarted) === 0;
    this.bits = bits | Bit.MessageStarted;
    const opcode = this.messageOpcode;
    const compressed = (bits & Bit.MessageCompressed) !== 0;
    const config = this.config;
    const checkHere = config.validateUtf8 && !(config.sinkValidatesWholeText && messageStart && messageEnd);
    if (opcode === Opcode.Text && checkHere && !compressed) {
      const utf8 = (this.utf8 ??= new Utf8Validator());
      if (!utf8.write(chunk, start, end) || (messageEnd && !utf8.end())) {
        utf8.reset();
        return this.fail(invalidUtf8Error(), sink);
      }
    }
    if (frameEnd) this.state = State.Header;
    if (messageEnd) this.messageOpcode = 0;
    sink.data(opcode, chunk, start, end, messageStart, messageEnd, frameEnd, compressed);
  }

  private controlBytes(chunk: Buffer, start: number, end: number, sink: DecoderSink): void {
    if (this.remaining === 0 && (this.spill === undefined || this.spill.controlFilled === 0)) {
      // The whole control payload is in this chunk: a view, no copy.
      this.controlDone(chunk.subarray(start, end), sink);
      return;
    }
    const spill = (this.spill ??= new Spill());
    const control = (spill.control ??= Buffer.allocUnsafe(this.payloadLength));
    chunk.copy(control, spill.controlFilled, start, end);
    spill.controlFilled += end - start;
    if (this.remaining === 0) this.controlDone(control, sink);
  }

  private controlDone(payload: Buffer, sink: DecoderSink): void {
    if (this.spill !== undefined) {
      this.spill.control = undefined;
      this.spill.controlFilled = 0;
    }
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
