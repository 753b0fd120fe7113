import { Transform, type TransformCallback } from 'node:stream';
import { ConnectionError, ErrorCode, HandshakeError } from '../protocol/errors.js';
import {
  BODY_START_CHARS,
  HandshakeResponseParser,
  verifyHandshakeResponse,
  type HandshakeResponse,
  type VerifyOptions,
} from '../protocol/handshake.js';

export interface HandshakeStreamOptions extends VerifyOptions {
  /** How long to wait for the start of a refusal's body before reporting it. Default 200 ms. */
  bodyWaitMs?: number;
}

/**
 * The server's answer to the opening handshake, read from bytes as they
 * come, without a stream: the core of `HandshakeStream`, for a caller that
 * feeds the socket's reads itself (the client does, so an attempt builds no
 * Transform for a stage that only matters until the 101).
 */
export class HandshakeReader {
  /** The verified response, once it has arrived. */
  response: HandshakeResponse | undefined;
  private readonly verify: VerifyOptions;
  private readonly bodyWaitMs: number;
  private parser: HandshakeResponseParser | undefined = new HandshakeResponseParser();
  private refusal: { response: HandshakeResponse; body: Buffer[]; bytes: number } | undefined;
  private bodyTimer: NodeJS.Timeout | undefined;

  /**
   * `refused` is called once with the `HandshakeError` of a non-101 answer,
   * when the start of its body is in, `bodyWaitMs` after its head, or at
   * `end()`, whichever comes first.
   */
  constructor(
    options: HandshakeStreamOptions,
    private readonly refused: (error: HandshakeError) => void,
  ) {
    this.verify = { key: options.key, protocols: options.protocols, extensions: options.extensions ?? [] };
    this.bodyWaitMs = options.bodyWaitMs ?? 200;
  }

  /**
   * Feeds one read. Returns the bytes after a verified 101 (the first
   * frames; maybe none) in the read that completes it, every later read as
   * it is, and undefined while the head is incomplete, for a refusal, and
   * after `destroy()`. Throws a `HandshakeError` on a malformed or invalid answer.
   */
  push(chunk: Buffer): Buffer | undefined {
    if (this.parser === undefined) {
      if (this.response !== undefined) return chunk;
      // A refusal being read (or already reported), or destroyed: nothing is passed on.
      if (this.refusal !== undefined) this.collectBody(chunk);
      return undefined;
    }
    const parsed = this.parser.push(chunk);
    if (parsed === undefined) return undefined;
    this.parser = undefined;
    const { response, leftover } = parsed;
    if (response.status !== 101) {
      this.refusal = { response, body: [], bytes: 0 };
      this.bodyTimer = setTimeout(() => this.refuse(), this.bodyWaitMs);
      this.bodyTimer.unref();
      this.collectBody(leftover);
      return undefined;
    }
    verifyHandshakeResponse(response, this.verify);
    this.response = response;
    return leftover;
  }

  /** The input ended: a refusal is reported now; throws a `ConnectionError` when no answer came. */
  end(): void {
    if (this.refusal) return this.refuse();
    if (this.parser !== undefined) {
      throw new ConnectionError(ErrorCode.ConnectionLost, 'the server closed the connection during the opening handshake');
    }
  }

  /** Stops waiting for a refusal's body; nothing more is reported. */
  destroy(): void {
    clearTimeout(this.bodyTimer);
    this.refusal = undefined;
    this.parser = undefined;
  }

  private collectBody(chunk: Buffer): void {
    const refusal = this.refusal!;
    refusal.body.push(chunk);
    refusal.bytes += chunk.length;
    const length = Number(refusal.response.headers['content-length']);
    if (refusal.bytes >= BODY_START_CHARS || (Number.isFinite(length) && refusal.bytes >= length)) this.refuse();
  }

  /** Reports a non-101 answer with the start of its body. */
  private refuse(): void {
    const refusal = this.refusal;
    if (!refusal) return;
    this.refusal = undefined;
    clearTimeout(this.bodyTimer);
    const bodyStart = Buffer.concat(refusal.body).toString('latin1', 0, BODY_START_CHARS);
    try {
      verifyHandshakeResponse(refusal.response, this.verify, bodyStart);
    } catch (error) {
      this.refused(error as HandshakeError);
    }
  }
}

/**
 * Bytes to bytes: reads the server's answer to the opening handshake, checks
 * it, emits `'response'` with it, then passes through every byte after it,
 * starting with any frames that came in the same read as the 101.
 *
 * It sends nothing: the request is written to the socket by whoever owns it.
 * A refused or invalid answer destroys the stream with a `HandshakeError`
 * that carries the status, headers and the start of the body.
 */
export class HandshakeStream extends Transform {
  /** The verified response, once it has arrived. */
  response: HandshakeResponse | undefined;
  private readonly reader: HandshakeReader;

  constructor(options: HandshakeStreamOptions) {
    super();
    this.reader = new HandshakeReader(options, (error) => {
      if (!this.destroyed) this.destroy(error);
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let out: Buffer | undefined;
    try {
      out = this.reader.push(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    if (out === undefined) return callback();
    if (this.response === undefined) {
      this.response = this.reader.response;
      this.emit('response', this.response);
    }
    if (out.length > 0) this.push(out);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.reader.end();
    } catch (error) {
      return callback(error as Error);
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.reader.destroy();
    callback(error);
  }
}
