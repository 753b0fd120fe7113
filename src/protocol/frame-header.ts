/** The largest payload length a JavaScript number holds exactly (2^53 - 1). */
export const MAX_SAFE_PAYLOAD_LENGTH = Number.MAX_SAFE_INTEGER;

/** Header bytes for a payload of `length` bytes, with the 4-byte key when `masked`. */
export function frameHeaderSize(length: number, masked: boolean): number {
  const base = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

/**
 * Writes a frame header into `target` at `offset` and returns the offset just
 * after the length field, where a masking key goes when `masked`.
 *
 * RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the
 * length"; 64-bit lengths must have the most significant bit clear, which a
 * length below 2^53 always has.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  fin: boolean,
  rsv1: boolean,
  opcode: number,
  length: number,
  masked: boolean,
): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`invalid payload length ${length}`);
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
    return offset + 2;
  }
  if (length < 0x10000) {
    target[offset + 1] = maskBit | 126;
    target[offset + 2] = length >>> 8;
    target[offset + 3] = length & 0xff;
    return offset + 4;
  }
  target[offset + 1] = maskBit | 127;
  const high = Math.floor(length / 0x100000000);
  const low = length >>> 0;
  target[offset + 2] = high >>> 24;
  target[offset + 3] = (high >>> 16) & 0xff;
  target[offset + 4] = (high >>> 8) & 0xff;
  target[offset + 5] = high & 0xff;
  target[offset + 6] = low >>> 24;
  target[offset + 7] = (low >>> 16) & 0xff;
  target[offset + 8] = (low >>> 8) & 0xff;
  target[offset + 9] = low & 0xff;
  return offset + 10;
}
