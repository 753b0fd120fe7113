/** A whole data message. */
export interface AssembledMessage {
  /** 1 text, 2 binary. */
  opcode: number;
  /**
   * The payload. A message that arrived in one piece is a view of the chunk
   * it arrived in; one that spanned pieces is copied once into a new buffer,
   * or, with `concat: false`, handed over as the list of views.
   */
  data: Buffer | Buffer[];
  /** Payload bytes. */
  length: number;
}

/** Options of a `MessageAssembler`. */
export interface MessageAssemblerOptions {
  /** Join a message that spans pieces into one buffer (default), or hand over the list of pieces. */
  concat?: boolean;
  /**
   * With `concat`: gather a message of unknown size (fragmented, no FIN
   * yet) into one growing buffer, first sized like the last such message,
   * instead of a list joined at its end; a reader may read straight into its
   * free part (`gatherInto()`). Default false.
   */
  gather?: boolean;
  /** With `gather`: the buffer never grows beyond this (the decoder's `maxMessageBytes`). */
  maxBytes?: number;
}

/** A gathering buffer starts at least this large. */
const GATHER_MIN_BYTES = 4096;

/**
 * Data pieces in, whole messages out. The only place that concatenates, and
 * only when a message spans several pieces.
 */
export class MessageAssembler {
  private readonly concat: boolean;
  private readonly gather: boolean;
  private readonly maxBytes: number;
  private pieces: Buffer[] = [];
  private bytes = 0;
  /**
   * The message's buffer: of its final size when that was known at its first
   * piece (`sizeKnown`), else (with `gather`) a growing one. Pieces are copied
   * in as they come, or moved within it when they were read into it.
   */
  private target: Buffer | undefined;
  private sizeKnown = false;
  /** `unfilled()` handed out the rest of `target`: the reads go on into it to the end, whatever is left. */
  private targetHandedOut = false;
  /** The size of the last message gathered: the first guess for the next one. */
  private lastGatheredBytes = 0;

  constructor(options: MessageAssemblerOptions = {}) {
    this.concat = options.concat ?? true;
    this.gather = this.concat && (options.gather ?? false);
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * Adds one piece; returns the message when `messageEnd` completes it.
   * `remainingBytes`, given with the first piece, is how much of the message
   * is still to come when the header says so: the one copy then happens
   * piece by piece, while each piece is still in the CPU cache, into a buffer
   * of the final size.
   *
   * `transient`: the payload's memory is reused once this call returns (a
   * shared read buffer); a piece that is kept is then copied. A piece that
   * already lies where it belongs in the message's buffer (a read straight
   * into `unfilled()`) is not copied at all; one read into `gatherInto()` is
   * moved down over the frame headers that came before it.
   */
  add(
    opcode: number,
    payload: Buffer,
    messageStart: boolean,
    messageEnd: boolean,
    remainingBytes?: number,
    transient = false,
  ): AssembledMessage | undefined {
    if (messageStart) {
      this.pieces = [];
      this.bytes = 0;
      this.target = undefined;
    }
    if (messageStart && messageEnd) {
      if (transient) payload = Buffer.from(payload);
      return { opcode, data: this.concat ? payload : [payload], length: payload.length };
    }
    if (messageStart && this.concat && remainingBytes !== undefined) {
      this.target = Buffer.allocUnsafe(payload.length + remainingBytes);
      this.sizeKnown = true;
      this.targetHandedOut = false;
    } else if (messageStart && this.gather) {
      const guess = Math.max(this.lastGatheredBytes, 4 * payload.length, GATHER_MIN_BYTES);
      this.target = Buffer.allocUnsafe(Math.max(payload.length, Math.min(guess, this.maxBytes)));
      this.sizeKnown = false;
    }
    if (this.target !== undefined) {
      this.place(payload);
      if (!messageEnd) return undefined;
      return { opcode, data: this.targetDone(), length: this.bytes };
    }
    if (payload.length > 0 || this.pieces.length === 0) this.pieces.push(transient ? Buffer.from(payload) : payload);
    this.bytes += payload.length;
    if (!messageEnd) return undefined;
    const pieces = this.pieces;
    this.pieces = [];
    const data = !this.concat ? pieces : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.bytes);
    return { opcode, data, length: this.bytes };
  }

  /** Puts `payload` at the end of what `target` holds: in place already, moved within it, or copied in. */
  private place(payload: Buffer): void {
    let target = this.target!;
    const at = this.bytes;
    const length = payload.length;
    if (payload.buffer === target.buffer) {
      const from = payload.byteOffset - target.byteOffset;
      // In place (read into `unfilled()`), or read into the free part with only frame headers between it and what is held.
      if (from === at || (from > at && from + length <= target.length)) {
        if (from !== at) target.copyWithin(at, from, from + length);
        this.bytes = at + length;
        return;
      }
    }
    if (at + length > target.length) target = this.grow(at + length);
    target.set(payload, at);
    this.bytes = at + length;
  }

  /** A larger gathering buffer holding what the old one held. */
  private grow(needBytes: number): Buffer {
    const old = this.target!;
    const grown = Buffer.allocUnsafe(Math.max(needBytes, Math.min(2 * old.length, this.maxBytes)));
    old.copy(grown, 0, 0, this.bytes);
    this.target = grown;
    return grown;
  }

  /** The whole message out of `target`, which is let go. */
  private targetDone(): Buffer {
    const target = this.target!;
    this.target = undefined;
    const size = this.bytes;
    if (this.sizeKnown) return target;
    this.lastGatheredBytes = size;
    if (size === target.length) return target;
    // A view when little is wasted; else a copy of the right size, so the message does not pin a much larger buffer.
    return size >= target.length - (target.length >>> 3) ? target.subarray(0, size) : Buffer.from(target.subarray(0, size));
  }

  /**
   * The part of the message's buffer still to be filled, when the message's
   * size was known at its first piece and at least `minBytes` are missing
   * (any number, once it has been handed out for this message):
   * a reader may read the rest of the payload straight into it (then `add()`
   * it as usual, without a copy). Undefined otherwise.
   */
  unfilled(minBytes: number): Buffer | undefined {
    const target = this.target;
    if (target === undefined || !this.sizeKnown || this.bytes === target.length) return undefined;
    // Once begun, to the end: a short read would otherwise leave a tail for a shared read to copy.
    if (!this.targetHandedOut && target.length - this.bytes < minBytes) return undefined;
    this.targetHandedOut = true;
    return target.subarray(this.bytes);
  }

  /**
   * With `gather`, while a message of unknown size is gathered: the free
   * part of its buffer, when at least `minBytes` are free, for a reader to
   * read the next bytes into, whatever they are (payload, frame headers,
   * control frames); it then `add()`s the data pieces as usual, which moves
   * them down over the headers. Nothing past what is held is kept between
   * two reads, so the free part may be read into again. Undefined otherwise
   * (the buffer grows when a piece does not fit, not before).
   */
  gatherInto(minBytes: number): Buffer | undefined {
    const target = this.target;
    if (target === undefined || this.sizeKnown || target.length - this.bytes < minBytes) return undefined;
    return target.subarray(this.bytes);
  }

  /** Whether `bytes` lie in the buffer a message is being gathered into. */
  gathersInto(bytes: Buffer): boolean {
    return this.target !== undefined && !this.sizeKnown && bytes.buffer === this.target.buffer;
  }

  /** Drops a partial message (on error or close). */
  reset(): void {
    this.pieces = [];
    this.bytes = 0;
    this.target = undefined;
  }
}
