import { isUtf8 } from 'node:buffer';
import { ErrorCode, ProtocolError } from './errors.js';

/** Below this many bytes a JavaScript loop beats a call into native code. */
const NATIVE_MIN_BYTES = 64;

/**
 * An incremental UTF-8 validator (RFC 3629 as required by RFC 6455 8.1).
 *
 * It fails as soon as a byte makes the text invalid, even in the middle of a
 * sequence: `F4 90` is rejected at the `90` (above U+10FFFF), `ED A0` at the
 * `A0` (a surrogate), `E0 80` at the `80` (overlong). RFC 6455 8.1: "When an
 * endpoint is to interpret a byte stream as UTF-8 but finds that the byte
 * stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the
 * WebSocket Connection_."
 */
export class Utf8Validator {
  /** Continuation bytes the current sequence still needs. */
  private needed = 0;
  /** Bounds of the next continuation byte (narrowed after E0, ED, F0, F4). */
  private lower = 0x80;
  private upper = 0xbf;

  /** Feeds `bytes[start, end)`; false as soon as the text can no longer be valid. */
  write(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
    let i = start;
    while (this.needed > 0 && i < end) {
      if (!this.continuation(bytes[i]!)) return false;
      i++;
    }
    if (i >= end) return true;
    if (end - i >= NATIVE_MIN_BYTES) {
      const cut = completeSequencesEnd(bytes, i, end);
      if (cut > i) {
        const view = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (!isUtf8(view.subarray(i, cut))) return false;
        i = cut;
      }
    }
    for (; i < end; i++) {
      const b = bytes[i]!;
      if (this.needed === 0) {
        if (b < 0x80) continue;
        if (!this.lead(b)) return false;
      } else if (!this.continuation(b)) {
        return false;
      }
    }
    return true;
  }

  /** True when the text ended on a sequence boundary; resets for the next message. */
  end(): boolean {
    const complete = this.needed === 0;
    this.reset();
    return complete;
  }

  reset(): void {
    this.needed = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  private lead(b: number): boolean {
    if (b >= 0xc2 && b <= 0xdf) {
      this.needed = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      this.needed = 2;
      if (b === 0xe0) this.lower = 0xa0; // overlong
      if (b === 0xed) this.upper = 0x9f; // UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      this.needed = 3;
      if (b === 0xf0) this.lower = 0x90; // overlong
      if (b === 0xf4) this.upper = 0x8f; // above U+10FFFF
    } else {
      return false; // 80-C1 (stray continuation or overlong lead) and F5-FF
    }
    return true;
  }

  private continuation(b: number): boolean {
    if (b < this.lower || b > this.upper) return false;
    this.lower = 0x80;
    this.upper = 0xbf;
    this.needed--;
    return true;
  }
}

/**
 * The end of the longest prefix of `bytes[start, end)` that does not stop
 * inside a multi-byte sequence (so native validation of it is exact).
 */
function completeSequencesEnd(bytes: Uint8Array, start: number, end: number): number {
  const floor = Math.max(start, end - 4);
  for (let i = end - 1; i >= floor; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const length = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return end - i >= length ? end : i;
  }
  return end;
}

/** Whether `bytes` is complete, valid UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  if (bytes.length >= NATIVE_MIN_BYTES) {
    return isUtf8(bytes);
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      const v = new Utf8Validator();
      return v.write(bytes, i) && v.end();
    }
  }
  return true;
}

/**
 * The error for text that is not UTF-8 (`what`: "text message", "close
 * reason"). RFC 6455 8.1: the endpoint "MUST _Fail the WebSocket
 * Connection_"; the close code (1007) comes from the error table.
 */
export function invalidUtf8Error(what = 'text message'): ProtocolError {
  return new ProtocolError(ErrorCode.InvalidUtf8, `${what} is not valid UTF-8`);
}

/**
 * The one strict UTF-8 decode of a whole payload (a text message, a close
 * reason): `bytes[start, end)` as a string, or a `ProtocolError`
 * (`WSP_ERR_INVALID_UTF8`, 1007) when the bytes are not UTF-8 (RFC 6455 8.1).
 *
 * Node's decoder replaces every invalid sequence with U+FFFD, so a result
 * without one came from valid UTF-8 and needs no second pass; with one, the
 * sender may have sent U+FFFD itself, and the bytes are checked strictly.
 * Text that arrives in pieces is checked with a `Utf8Validator` instead, as
 * each piece arrives.
 */
export function decodeUtf8(bytes: Uint8Array, start = 0, end = bytes.length, what?: string): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString('utf8', start, end);
  if (text.includes('\uFFFD') && !isValidUtf8(buffer.subarray(start, end))) throw invalidUtf8Error(what);
  return text;
}
