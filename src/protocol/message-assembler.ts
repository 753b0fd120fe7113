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

  constructor(options: { concat?: boolean } = {}) {
    this.concat = options.concat ?? true;
  }

  /** Adds one piece; returns the message when `messageEnd` completes it. */
  add(opcode: number, payload: Buffer, messageStart: boolean, messageEnd: boolean): AssembledMessage | undefined {
    if (messageStart) {
      this.pieces = [];
      this.bytes = 0;
    }
    if (messageStart && messageEnd) {
      return { opcode, data: this.concat ? payload : [payload], length: payload.length };
    }
    if (payload.length > 0 || this.pieces.length === 0) this.pieces.push(payload);
    this.bytes += payload.length;
    if (!messageEnd) return undefined;
    const pieces = this.pieces;
    this.pieces = [];
    const data = !this.concat ? pieces : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.bytes);
    return { opcode, data, length: this.bytes };
  }

  /** Drops a partial message (on error or close). */
  reset(): void {
    this.pieces = [];
    this.bytes = 0;
  }
}
