import { describe, expect, it } from 'vitest';
import { maskInPlace } from '../../src/protocol/mask.js';
import { simdXor, xorInPlace } from '../../src/relay/xor.js';
import { Prng } from '../fuzz/prng.js';

// The relay's SIMD re-masking against the obvious implementation, maskInPlace.

describe('xorInPlace', () => {
  it('uses WebAssembly SIMD on this Node', () => {
    expect(simdXor).toBe(true);
  });

  it('equals maskInPlace for every length around the thresholds and slices, every start and key offset', () => {
    const prng = new Prng(11);
    const lengths = [0, 1, 3, 4, 31, 32, 255, 256, 257, 1023, 16 * 1024, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200_003];
    for (const length of lengths) {
      for (let start = 0; start < 8; start++) {
        for (let offset = 0; offset < 4; offset++) {
          const bytes = Buffer.alloc(start + length + 5);
          for (let i = 0; i < bytes.length; i++) bytes[i] = prng.int(256);
          const key = Buffer.from([prng.int(256), prng.int(256), prng.int(256), prng.int(256)]);
          const ours = Buffer.from(bytes);
          const obvious = Buffer.from(bytes);
          xorInPlace(ours, start, start + length, key, offset);
          maskInPlace(obvious, start, start + length, key, offset);
          expect(ours.equals(obvious), `length ${length}, start ${start}, key offset ${offset}`).toBe(true);
        }
      }
    }
  });
});
