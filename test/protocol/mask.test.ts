import { describe, expect, it } from 'vitest';
import { maskInPlace, maskInto, MaskKeySource } from '../../src/protocol/mask.js';

/** The obvious implementation, to check the fast one against. */
function naiveMask(bytes: Uint8Array, key: Uint8Array, keyOffset: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[(keyOffset + i) & 3]!;
  return out;
}

describe('masking', () => {
  it('matches the byte-by-byte loop at every length, alignment and key offset', () => {
    const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
    const backing = Buffer.alloc(300);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 7 + 3) & 0xff;
    for (let offset = 0; offset < 8; offset++) {
      for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 64, 100, 255]) {
        for (let keyOffset = 0; keyOffset < 4; keyOffset++) {
          const source = backing.subarray(offset, offset + length);
          const expected = naiveMask(source, key, keyOffset);
          const inPlace = Buffer.from(backing).subarray(offset, offset + length);
          const next = maskInPlace(inPlace, 0, length, key, keyOffset);
          expect(inPlace.equals(expected)).toBe(true);
          expect(next).toBe((keyOffset + length) & 3);
          const target = Buffer.alloc(length + 5);
          maskInto(source, target, 5, key, keyOffset);
          expect(target.subarray(5).equals(expected)).toBe(true);
        }
      }
    }
  });

  it('is resumable: masking in chunks equals masking at once', () => {
    const key = Buffer.from([1, 2, 3, 4]);
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const whole = naiveMask(data, key, 0);
    const chunked = Buffer.from(data);
    let k = 0;
    for (const [a, b] of [[0, 7], [7, 50], [50, 51], [51, 999], [999, 1000]] as const) k = maskInPlace(chunked, a, b, key, k);
    expect(chunked.equals(whole)).toBe(true);
  });

  it('draws keys from crypto: never all-zero, never the same twice in a row, not a pattern', () => {
    const source = new MaskKeySource(16);
    const seen = new Set<string>();
    let previous = '';
    const key = Buffer.alloc(4);
    for (let i = 0; i < 5000; i++) {
      source.writeKey(key, 0);
      const k = key.toString('hex');
      expect(k).not.toBe('00000000');
      expect(k).not.toBe(previous);
      previous = k;
      seen.add(k);
    }
    // 5,000 draws of 32 random bits: a collision or two at most, never a short cycle.
    expect(seen.size).toBeGreaterThan(4990);
  });
});
