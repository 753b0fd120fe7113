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

/**
 * Data pieces in, whole messages out. The only place that concatenates, and
 * only when a message spans several pieces.
 */
export class MessageAssembler {
  private readonly concat: boolean;
  private pieces: Buffer[] = [];
  private bytes = 0;
  /** The message's buffer when its size was known at its first piece: pieces are copied in as they come. */
  private target: Buffer | undefined;
  /** `unfilled()` handed out the rest of `target`: the reads go on into it to the end, whatever is left. */
  private targetHandedOut = false;

  constructor(options: { concat?: boolean } = {}) {
    this.concat = options.concat ?? true;
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
   * into `unfilled()`) is not copied at all.
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
      this.targetHandedOut = false;
    }
    const target = this.target;
    if (target !== undefined) {
      if (payload.buffer !== target.buffer || payload.byteOffset !== target.byteOffset + this.bytes) target.set(payload, this.bytes);
      this.bytes += payload.length;
      if (!messageEnd) return undefined;
      this.target = undefined;
      return { opcode, data: target, length: this.bytes };
    }
    if (payload.length > 0 || this.pieces.length === 0) this.pieces.push(transient ? Buffer.from(payload) : payload);
    this.bytes += payload.length;
    if (!messageEnd) return undefined;
    const pieces = this.pieces;
    this.pieces = [];
    const data = !this.concat ? pieces : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.bytes);
    return { opcode, data, length: this.bytes };
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
    if (target === undefined || this.bytes === target.length) return undefined;
    // Once begun, to the end: a short read would otherwise leave a tail for a shared read to copy.
    if (!this.targetHandedOut && target.length - this.bytes < minBytes) return undefined;
    this.targetHandedOut = true;
    return target.subarray(this.bytes);
  }

  /** Whether pieces of a message of unknown size are being collected (kept as they came, joined at its end). */
  get collecting(): boolean {
    return this.pieces.length > 0;
  }

  /** Drops a partial message (on error or close). */
  reset(): void {
    this.pieces = [];
    this.bytes = 0;
    this.target = undefined;
  }
}
