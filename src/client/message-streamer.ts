import { Readable } from 'node:stream';

/** What a streamed message's Readable buffers before reading the socket waits for its reader. */
const HIGH_WATER_MARK_BYTES = 1024 * 1024;

/**
 * Delivers binary messages as Readables of their pieces (`fragments:
 * 'stream'`), so a message of any size goes through in bounded memory: each
 * piece the decoder hands over is pushed as it arrives (a view of the socket
 * read, no copy). When the reader falls behind, `fullChanged(true)` lets
 * the attempt pause the decoder (and so the socket); the reader's next read
 * calls `fullChanged(false)`.
 */
export class MessageStreamer {
  #current: MessageReadable | undefined;
  /** The stream whose reader has about 1 MiB waiting (possibly one already complete): the decoder waits for it. */
  #waitingFor: MessageReadable | undefined;

  constructor(
    private readonly deliver: (stream: Readable) => void,
    /** `full` changed: pause the decoder (true), or let it go on (false). */
    private readonly fullChanged: (full: boolean) => void,
  ) {}

  /** One piece of a binary message, in order. */
  piece(bytes: Buffer, messageStart: boolean, messageEnd: boolean): void {
    if (messageStart) {
      this.#current = new MessageReadable(this);
      this.deliver(this.#current);
    }
    const stream = this.#current;
    if (stream === undefined) return;
    // A reader that gave up (destroyed its stream) gets nothing more; the rest of the message is dropped.
    if (!stream.destroyed && bytes.length > 0 && !stream.push(bytes) && this.#waitingFor === undefined) {
      this.#waitingFor = stream;
      this.fullChanged(true);
    }
    if (messageEnd) {
      this.#current = undefined;
      if (!stream.destroyed) stream.push(null);
    }
  }

  /** The connection ended in the middle of a message: its reader gets `error` (if it listens for one). */
  abort(error: Error): void {
    const stream = this.#current;
    this.#current = undefined;
    this.#waitingFor = undefined; // the attempt is over: nothing to resume
    if (stream === undefined || stream.destroyed) return;
    // Never an unhandled 'error': a stream nobody listens to for errors just closes (without 'end').
    if (stream.listenerCount('error') > 0) stream.destroy(error);
    else stream.destroy();
  }

  /** Whether the decoder must wait for a reader. */
  get full(): boolean {
    return this.#waitingFor !== undefined;
  }

  /** `stream`'s reader wants more, or gave up: let the decoder go on if it waited for that one. */
  released(stream: MessageReadable): void {
    if (this.#waitingFor !== stream) return;
    this.#waitingFor = undefined;
    this.fullChanged(false);
  }
}

/** One message as a byte stream: ends after its last piece; errors if the connection ends first. */
class MessageReadable extends Readable {
  constructor(private readonly streamer: MessageStreamer) {
    super({ highWaterMark: HIGH_WATER_MARK_BYTES });
  }

  override _read(): void {
    this.streamer.released(this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.streamer.released(this);
    callback(error);
  }
}
