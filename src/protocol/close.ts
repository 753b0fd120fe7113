import { isValidCloseCode } from './close-codes.js';
import { ErrorCode, ProtocolError, UsageError } from './errors.js';
import { MAX_CONTROL_PAYLOAD_BYTES } from './opcode.js';
import { decodeUtf8 } from './utf8-validator.js';

/** RFC 6455 5.5: control frame payloads are at most 125 bytes; 2 of them are the close code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD_BYTES - 2;

export interface ClosePayload {
  /** The status code; `undefined` for an empty close frame (reported as 1005). */
  code: number | undefined;
  reason: string;
}

/**
 * Parses a received close frame's payload (RFC 6455 5.5.1): empty, or a
 * 2-byte code followed by a UTF-8 reason. A 1-byte payload or a code that
 * may not be sent is a protocol error (1002); a reason that is not UTF-8
 * is 1007 (RFC 6455 8.1).
 */
export function parseClosePayload(payload: Uint8Array): ClosePayload {
  if (payload.length === 0) return { code: undefined, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError(ErrorCode.InvalidClosePayload, 'close frame payload of 1 byte');
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(ErrorCode.InvalidCloseCode, `invalid close code ${code}`);
  }
  return { code, reason: decodeUtf8(payload, 2, payload.length, 'close reason') };
}

/**
 * Builds a close payload to send. Rejects codes that must not be sent and
 * reasons over 123 bytes, as a usage error: the caller asked for it.
 */
export function encodeClosePayload(code?: number, reason = ''): Buffer {
  // From plain JavaScript `close('1000')` would otherwise read as "code 1000 may not be sent".
  if (code !== undefined && typeof code !== 'number') {
    throw new UsageError(ErrorCode.InvalidCloseArgument, `a close code must be a number, such as 1000; got ${typeof code}`);
  }
  if (typeof reason !== 'string') {
    throw new UsageError(ErrorCode.InvalidCloseArgument, `a close reason must be a string; got ${typeof reason}`);
  }
  if (code === undefined) {
    if (reason !== '') throw new UsageError(ErrorCode.InvalidCloseArgument, 'a close reason needs a close code');
    return Buffer.alloc(0);
  }
  if (!isValidCloseCode(code)) {
    throw new UsageError(ErrorCode.InvalidCloseArgument, `close code ${code} may not be sent (RFC 6455 7.4)`);
  }
  const length = Buffer.byteLength(reason);
  if (length > MAX_CLOSE_REASON_BYTES) {
    throw new UsageError(ErrorCode.InvalidCloseArgument, `close reason is ${length} bytes; at most ${MAX_CLOSE_REASON_BYTES}`);
  }
  const payload = Buffer.allocUnsafe(2 + length);
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2, 'utf8');
  return payload;
}
