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
  private readonly verify: VerifyOptions;
  private readonly bodyWaitMs: number;
  private parser: HandshakeResponseParser | undefined = new HandshakeResponseParser();
  private refusal: { response: HandshakeResponse; body: Buffer[]; bytes: number } | undefined;
  private bodyTimer: NodeJS.Timeout | undefined;

  constructor(options: HandshakeStreamOptions) {
    super();
    this.verify = { key: options.key, protocols: options.protocols, extensions: options.extensions ?? [] };
    this.bodyWaitMs = options.bodyWaitMs ?? 200;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.parser === undefined) {
      if (this.refusal) return this.collectBody(chunk, callback);
      this.push(chunk);
      return callback();
    }
    let parsed;
    try {
      parsed = this.parser.push(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    if (parsed === undefined) return callback();
    this.parser = undefined;
    const { response, leftover } = parsed;
    if (response.status !== 101) {
      this.refusal = { response, body: [], bytes: 0 };
      this.bodyTimer = setTimeout(() => this.refuse(), this.bodyWaitMs);
      this.bodyTimer.unref();
      return this.collectBody(leftover, callback);
    }
    try {
      verifyHandshakeResponse(response, this.verify);
    } catch (error) {
      return callback(error as Error);
    }
    this.response = response;
    this.emit('response', response);
    if (leftover.length > 0) this.push(leftover);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.refusal) {
      this.refuse();
      return callback();
    }
    if (this.parser !== undefined) {
      return callback(new ConnectionError(ErrorCode.ConnectionLost, 'the server closed the connection during the opening handshake'));
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.bodyTimer);
    callback(error);
  }

  private collectBody(chunk: Buffer, callback: TransformCallback): void {
    const refusal = this.refusal!;
    refusal.body.push(chunk);
    refusal.bytes += chunk.length;
    const length = Number(refusal.response.headers['content-length']);
    if (refusal.bytes >= BODY_START_CHARS || (Number.isFinite(length) && refusal.bytes >= length)) {
      callback();
      this.refuse();
      return;
    }
    callback();
  }

  /** Reports a non-101 answer with the start of its body. */
  private refuse(): void {
    const refusal = this.refusal;
    if (!refusal || this.destroyed) return;
    this.refusal = undefined;
    clearTimeout(this.bodyTimer);
    const bodyStart = Buffer.concat(refusal.body).toString('latin1', 0, BODY_START_CHARS);
    try {
      verifyHandshakeResponse(refusal.response, this.verify, bodyStart);
    } catch (error) {
      this.destroy(error as HandshakeError);
    }
  }
}
