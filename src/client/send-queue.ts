import { ErrorCode, UsageError } from '../protocol/errors.js';

/** A message `send()` accepted while the connection was not open. */
export interface QueuedMessage {
  payload: Buffer | string;
  opcode: number;
  bytes: number;
  compress: boolean | undefined;
}

/**
 * Messages sent before the handshake completed (or between reconnects), in
 * order, bounded in bytes. They are delivered once, on the next open
 * connection, or reported as not sent; never resent.
 */
export class SendQueue {
  private messages: QueuedMessage[] = [];
  /** Bytes held, as `send()` counted them. */
  bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get length(): number {
    return this.messages.length;
  }

  /** Queues a message; a Buffer is copied, as the caller may reuse it before the connection opens. Throws `WSP_ERR_QUEUE_FULL` over the bound. */
  push(payload: Buffer | string, opcode: number, compress: boolean | undefined): void {
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (this.bytes + bytes > this.maxBytes) {
      throw new UsageError(
        ErrorCode.QueueFull,
        `the send queue would exceed maxQueuedBytes (${this.maxBytes}) while the connection is not open`,
      );
    }
    this.messages.push({ payload: typeof payload === 'string' ? payload : Buffer.from(payload), opcode, bytes, compress });
    this.bytes += bytes;
  }

  /** Empties the queue and returns what it held, oldest first. */
  take(): QueuedMessage[] {
    const messages = this.messages;
    this.messages = [];
    this.bytes = 0;
    return messages;
  }
}

/** Data `send()` accepts. */
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** `send()`'s data as a string or a Buffer (a view of the caller's memory, not a copy). */
export function toPayload(data: SendData): Buffer | string {
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new UsageError(ErrorCode.InvalidOption, 'send() takes a string, a Buffer, an ArrayBuffer or a typed array');
}
