import { Duplex } from 'node:stream';
import type { WebSocketClient } from '../client/websocket-client.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode, WebSocketError } from '../protocol/errors.js';
import { bufferSourceView, tapConnections } from './connection-tap.js';

/** Options of `createWebSocketStream()`. */
export interface WebSocketDuplexOptions {
  /**
   * `true` (default): one chunk per message, text as a string, binary as a
   * Buffer; write strings (text) or buffers (binary). `false`: a byte stream;
   * every message's bytes are pushed as a Buffer, every write is one binary
   * message.
   */
  objectMode?: boolean;
  /** Messages (object mode) or bytes buffered on the readable side before the client is paused. */
  readableHighWaterMark?: number;
  /** Messages (object mode) or bytes accepted by `write()` before it returns false. */
  writableHighWaterMark?: number;
  /** Close code when the stream is destroyed with an error. Default 1011 (internal error). */
  errorCloseCode?: number;
}

interface PendingWrite {
  chunk: unknown;
  callback: (error?: Error | null) => void;
}

/**
 * A Node `Duplex` over a client, for `stream.pipeline()` (the name `ws`
 * users know). Backpressure both ways: when the readable side is full the
 * client is paused (and so the socket, and the server through TCP); a write
 * waits for the connection to open and for the client's buffer to drain, so
 * `write()` returns false past `writableHighWaterMark`.
 *
 * `end()` closes the connection with 1000 once everything written is sent;
 * `destroy(err)` closes it with 1011 (`destroy()` with 1000). The connection's
 * end ends the readable side; a failed connection destroys the stream with
 * the client's `WebSocketError`. With a reconnecting client, the stream lasts
 * across reconnects and ends with the client's last connection.
 * An idle client is connected.
 */
export function createWebSocketStream(client: WebSocketClient, options: WebSocketDuplexOptions = {}): Duplex {
  return new WebSocketDuplex(client, options);
}

class WebSocketDuplex extends Duplex {
  readonly #client: WebSocketClient;
  readonly #objectMode: boolean;
  readonly #errorCloseCode: number;
  readonly #untap: () => void;
  /** A write waiting for the connection to open or the client's buffer to drain. */
  #pending: PendingWrite | undefined;
  #waitingForDrain = false;
  /** The client's last connection ended. */
  #over = false;
  #finalCallback: ((error?: Error | null) => void) | undefined;

  constructor(client: WebSocketClient, options: WebSocketDuplexOptions) {
    const objectMode = options.objectMode ?? true;
    super({
      readableObjectMode: objectMode,
      writableObjectMode: objectMode,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      decodeStrings: !objectMode,
    });
    this.#client = client;
    this.#objectMode = objectMode;
    this.#errorCloseCode = options.errorCloseCode ?? CloseCode.InternalError;
    this.#untap = tapConnections(client, {
      open: () => this.#flushPending(),
      message: (data, isBinary) => {
        const chunk = this.#objectMode || isBinary ? data : Buffer.from(data as string);
        // The readable side is full: stop reading the socket until _read() asks again.
        if (!this.push(chunk)) client.pause();
      },
      end: (end) => {
        if (this.#waitingForDrain) {
          // That message was handed to the client: its connection is gone, so no 'drain' comes for it.
          this.#waitingForDrain = false;
          const accepted = this.#pending;
          this.#pending = undefined;
          accepted?.callback();
        }
        if (end.reconnecting) return;
        this.#over = true;
        if (end.failure) {
          this.destroy(end.failure);
          return;
        }
        this.push(null);
        const pending = this.#pending;
        this.#pending = undefined;
        pending?.callback(new WebSocketError(ErrorCode.SendFailed, `the connection closed (${end.code}) before this message was sent`));
        this.#finalCallback?.();
      },
    });
    client.on('drain', this.#onDrain);
    if (client.readyState === 'idle') client.connect();
    else if (client.readyState === 'closed') {
      // Made after an end: `opened` waits for a planned reconnect, and rejects when none follows.
      client.opened.catch(() => {
        if (this.#over || this.destroyed) return;
        this.#over = true;
        this.push(null);
      });
    }
  }

  readonly #onDrain = (): void => {
    if (!this.#waitingForDrain) return;
    this.#waitingForDrain = false;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback();
  };

  override _read(): void {
    this.#client.resume();
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#over) {
      callback(new WebSocketError(ErrorCode.SendFailed, 'cannot write: the connection is closed'));
      return;
    }
    this.#pending = { chunk, callback };
    // Before the connection opens (or between reconnects) the write waits, rather than filling the client's queue.
    if (this.#client.readyState === 'open') this.#flushPending();
  }

  /** Sends the waiting write; its callback waits for 'drain' when the client is over its high-water mark. */
  #flushPending(): void {
    const pending = this.#pending;
    if (pending === undefined || this.#waitingForDrain) return;
    let sent: boolean;
    try {
      const { chunk } = pending;
      if (typeof chunk === 'string') sent = this.#client.send(chunk, { binary: false });
      else if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) sent = this.#client.send(bufferSourceView(chunk), { binary: true });
      else throw new TypeError('a WebSocket stream in object mode writes strings and buffers');
    } catch (error) {
      this.#pending = undefined;
      pending.callback(error as Error);
      return;
    }
    if (sent) {
      this.#pending = undefined;
      pending.callback();
    } else {
      this.#waitingForDrain = true;
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#over) return callback();
    const state = this.#client.readyState;
    this.#client.close(CloseCode.NormalClosure);
    if (state === 'closed' || state === 'idle') {
      // Between two attempts of a reconnecting client: close() stopped it, and no connection is left to end.
      this.#over = true;
      this.push(null);
      return callback();
    }
    // 'finish' once the closing handshake is over.
    this.#finalCallback = callback;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#untap();
    this.#client.off('drain', this.#onDrain);
    if (!this.#over) {
      this.#over = true;
      this.#client.resume(); // to read the server's close frame
      this.#client.close(error ? this.#errorCloseCode : CloseCode.NormalClosure);
    }
    callback(error);
  }
}
