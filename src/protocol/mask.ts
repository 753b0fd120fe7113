import { randomFillSync } from 'node:crypto';
import { SIMD_MIN_BYTES, simdMask } from './mask-simd.js';

/**
 * Below this many bytes, building a 32-bit view costs more than it saves:
 * the unrolled byte loop is faster (`node bench/mask.js --sweep`-style
 * measurement, Node 20: 43 against 67 ns at 64 B, even at 128 B).
 */
const WORD_LOOP_MIN_BYTES = 128;
const keyWord = new Uint32Array(1);
const keyWordBytes = new Uint8Array(keyWord.buffer);

/**
 * XORs `bytes[start, end)` in place with the 4-byte `key` (RFC 6455 5.3),
 * starting at key byte `keyOffset`. Returns the key offset for the byte after
 * `end`, so a payload can be masked chunk by chunk.
 *
 * From `SIMD_MIN_BYTES` up, the WebAssembly SIMD kernel (mask-simd.ts) when
 * the engine has it; else, and below that, `maskInPlaceJs`.
 */
export function maskInPlace(bytes: Uint8Array, start: number, end: number, key: Uint8Array, keyOffset = 0): number {
  if (simdMask !== undefined && end - start >= SIMD_MIN_BYTES) return simdMask(bytes, start, end, bytes, start, key, keyOffset);
  return maskInPlaceJs(bytes, start, end, key, keyOffset);
}

/**
 * `maskInPlace` in JavaScript only: four bytes at a time where the memory is
 * 4-byte aligned; the key word is built by byte order of this machine, so it
 * is right on either endianness. The fallback where WebAssembly SIMD is not
 * available, and the faster path for short payloads.
 */
export function maskInPlaceJs(bytes: Uint8Array, start: number, end: number, key: Uint8Array, keyOffset = 0): number {
  let i = start;
  let k = keyOffset & 3;
  if (end - start >= WORD_LOOP_MIN_BYTES) {
    while (((bytes.byteOffset + i) & 3) !== 0) {
      bytes[i++]! ^= key[k]!;
      k = (k + 1) & 3;
    }
    const words = (end - i) >>> 2;
    keyWordBytes[0] = key[k]!;
    keyWordBytes[1] = key[(k + 1) & 3]!;
    keyWordBytes[2] = key[(k + 2) & 3]!;
    keyWordBytes[3] = key[(k + 3) & 3]!;
    const w = keyWord[0]!;
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let j = 0; j < words; j++) view[j]! ^= w;
    i += words << 2; // whole words: the key phase k is unchanged
  }
  // The rest (all of a short payload): four bytes a step, with the key turned to phase k.
  const k0 = key[k]!;
  const k1 = key[(k + 1) & 3]!;
  const k2 = key[(k + 2) & 3]!;
  const k3 = key[(k + 3) & 3]!;
  for (; i + 3 < end; i += 4) {
    bytes[i]! ^= k0;
    bytes[i + 1]! ^= k1;
    bytes[i + 2]! ^= k2;
    bytes[i + 3]! ^= k3;
  }
  if (i < end) bytes[i++]! ^= k0;
  if (i < end) bytes[i++]! ^= k1;
  if (i < end) bytes[i]! ^= k2;
  return (keyOffset + end - start) & 3;
}

/**
 * Masks `source` into `target` at `targetOffset` without touching `source`
 * (DESIGN zero-copy rule 2: never mutate a buffer the caller owns), in one
 * pass over `target`: chunk by chunk through the WebAssembly kernel's scratch
 * page when it is there, else one `memcpy` then the in-place word loop over
 * memory we own (faster than a byte loop from one buffer into the other).
 */
export function maskInto(source: Uint8Array, target: Uint8Array, targetOffset: number, key: Uint8Array, keyOffset = 0): number {
  if (simdMask !== undefined && source.length >= SIMD_MIN_BYTES) {
    return simdMask(source, 0, source.length, target, targetOffset, key, keyOffset);
  }
  return maskIntoJs(source, target, targetOffset, key, keyOffset);
}

/** `maskInto` in JavaScript only (see `maskInPlaceJs`). */
export function maskIntoJs(source: Uint8Array, target: Uint8Array, targetOffset: number, key: Uint8Array, keyOffset = 0): number {
  target.set(source, targetOffset);
  return maskInPlaceJs(target, targetOffset, targetOffset + source.length, key, keyOffset);
}

/** Masking keys from `crypto.randomFillSync`, drawn in bulk. */
export class MaskKeySource {
  private pool: Buffer;
  private offset: number;
  private last = -1;

  constructor(poolKeys = 1024) {
    this.pool = Buffer.allocUnsafe(poolKeys * 4);
    this.offset = this.pool.length;
  }

  /**
   * Writes a fresh key into `target` at `offset`. RFC 6455 5.3: the key
   * "MUST be derived from a strong source of entropy"; we also never use an
   * all-zero key (it would send the payload in clear) or the previous key.
   */
  writeKey(target: Uint8Array, offset: number): void {
    for (;;) {
      if (this.offset === this.pool.length) {
        randomFillSync(this.pool);
        this.offset = 0;
      }
      const key = this.pool.readUInt32LE(this.offset);
      const at = this.offset;
      this.offset += 4;
      if (key === 0 || key === this.last) continue;
      this.last = key;
      target[offset] = this.pool[at]!;
      target[offset + 1] = this.pool[at + 1]!;
      target[offset + 2] = this.pool[at + 2]!;
      target[offset + 3] = this.pool[at + 3]!;
      return;
    }
  }
}

/** A shared key source for the process. */
export const defaultMaskKeys = new MaskKeySource();
