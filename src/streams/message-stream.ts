import { Transform, type TransformCallback } from 'node:stream';
import type { DecoderEvent } from '../protocol/frame-decoder.js';
import { MessageAssembler } from '../protocol/message-assembler.js';

/** What `MessageStream` emits: whole messages, and every other event as it came. */
export type MessageEvent =
  | { type: 'message'; opcode: number; data: Buffer | Buffer[]; length: number }
  | Exclude<DecoderEvent, { type: 'data' }>;

/**
 * `DecoderEvent`s (single or batched arrays) to whole messages. Control
 * events pass through in order, so a ping between two fragments is seen
 * before the message it interrupted.
 */
export class MessageStream extends Transform {
  private readonly assembler: MessageAssembler;

  constructor(options: { concat?: boolean } = {}) {
    super({ objectMode: true });
    this.assembler = new MessageAssembler(options);
  }

  override _transform(input: DecoderEvent | DecoderEvent[], _encoding: BufferEncoding, callback: TransformCallback): void {
    if (Array.isArray(input)) for (const event of input) this.handle(event);
    else this.handle(input);
    callback();
  }

  private handle(event: DecoderEvent): void {
    if (event.type !== 'data') {
      this.push(event);
      return;
    }
    const message = this.assembler.add(event.opcode, event.payload, event.messageStart, event.messageEnd);
    if (message) this.push({ type: 'message', ...message });
  }
}
