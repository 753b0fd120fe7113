import { Transform, type TransformCallback } from 'node:stream';
import type { ProtocolError } from '../protocol/errors.js';
import type { DecoderEvent } from '../protocol/frame-decoder.js';
import { MessageInflater, type MessageInflaterOptions } from './message-inflater.js';

export type PerMessageInflateStreamOptions = MessageInflaterOptions;

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
  readonly inflater: MessageInflater;
  /** The compressed pieces of the message being received. */
  private pieces: Buffer[] = [];
  private ended = false;

  constructor(options: PerMessageInflateStreamOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    this.inflater = new MessageInflater(options);
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
      const opcode = event.opcode;
      // An empty message is answered synchronously: carry on in this loop
      // rather than recursing, or a flood of them would exhaust the stack.
      let sync: { error: ProtocolError | undefined; payload: Buffer } | undefined;
      let waiting = false;
      this.inflater.inflate(opcode, pieces, (error, payload) => {
        if (!waiting) {
          sync = { error, payload };
          return;
        }
        if (this.destroyed) return callback();
        if (this.settle(out, opcode, error, payload, batch)) this.handle(events, i + 1, out, batch, callback);
        else callback();
      });
      if (sync === undefined) {
        waiting = true;
        return;
      }
      if (!this.settle(out, opcode, sync.error, sync.payload, batch)) return callback();
    }
    this.emitEvents(out, batch);
    callback();
  }

  /** Adds an inflate's outcome to `out`; false (and the stream ended) on an error. */
  private settle(out: DecoderEvent[], opcode: number, error: ProtocolError | undefined, payload: Buffer, batch: boolean): boolean {
    if (error) {
      out.push({ type: 'error', error });
      this.emitEvents(out, batch);
      this.stop();
      return false;
    }
    out.push({ type: 'data', opcode, payload, messageStart: true, messageEnd: true, frameEnd: true, compressed: false });
    return true;
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
    this.inflater.close();
    this.push(null);
  }

  override _flush(callback: TransformCallback): void {
    this.inflater.close();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.pieces = [];
    this.inflater.close();
    callback(error);
  }
}
