import { describe, expect, it } from 'vitest';
import { maskInPlace, maskInPlaceJs, maskInto, maskIntoJs } from '../../src/protocol/mask.js';
import { createSimdMask, maskModuleBytes, simdMask, SIMD_MIN_BYTES, type WasmApi } from '../../src/protocol/mask-simd.js';

/** The obvious implementation (RFC 6455 5.3: j = i MOD 4), to check every fast one against. */
function byteLoop(bytes: Uint8Array, key: Uint8Array, keyOffset: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[(keyOffset + i) & 3]!;
  return out;
}

/** A deterministic byte pattern with no period of 4 (so a key phase error shows). */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The global WebAssembly API (its typings are not in lib ES2022). */
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const KEYS = [
  Buffer.from([0x37, 0xfa, 0x21, 0x3d]),
  Buffer.from([0x01, 0x02, 0x03, 0x04]),
  Buffer.from([0xff, 0x00, 0x80, 0x7f]),
];

type InPlace = (bytes: Uint8Array, start: number, end: number, key: Uint8Array, keyOffset: number) => number;
type Into = (source: Uint8Array, target: Uint8Array, targetOffset: number, key: Uint8Array, keyOffset: number) => number;

const kernel = simdMask;
const inPlaceKernels: [string, InPlace][] = [
  ['maskInPlace', maskInPlace],
  ['maskInPlaceJs', maskInPlaceJs],
  ...(kernel ? [['simdMask', (b: Uint8Array, s: number, e: number, k: Uint8Array, o: number) => kernel(b, s, e, b, s, k, o)] as [string, InPlace]] : []),
];
const intoKernels: [string, Into][] = [
  ['maskInto', maskInto],
  ['maskIntoJs', maskIntoJs],
  ...(kernel ? [['simdMask', (s: Uint8Array, t: Uint8Array, o: number, k: Uint8Array, ko: number) => kernel(s, 0, s.length, t, o, k, ko)] as [string, Into]] : []),
];

/** Checks every kernel on one case: `length` bytes at `align` into a buffer, key `key` from `keyOffset`. */
function check(length: number, align: number, key: Buffer, keyOffset: number): void {
  const backing = pattern(length + align + 16, length * 31 + align);
  const source = backing.subarray(align, align + length);
  const expected = byteLoop(source, key, keyOffset);
  const before = Buffer.from(source);
  for (const [name, fn] of inPlaceKernels) {
    const copy = Buffer.from(backing);
    const next = fn(copy, align, align + length, key, keyOffset);
    if (!copy.subarray(align, align + length).equals(expected)) throw new Error(`${name}: wrong bytes at length ${length}, align ${align}, key offset ${keyOffset}`);
    // Nothing outside the range is touched.
    if (!copy.subarray(0, align).equals(backing.subarray(0, align)) || !copy.subarray(align + length).equals(backing.subarray(align + length))) {
      throw new Error(`${name}: wrote outside [start, end) at length ${length}, align ${align}`);
    }
    if (next !== ((keyOffset + length) & 3)) throw new Error(`${name}: returned key offset ${next} at length ${length}, key offset ${keyOffset}`);
  }
  for (const [name, fn] of intoKernels) {
    const target = Buffer.alloc(length + align + 3, 0xee);
    const next = fn(source, target, align, key, keyOffset);
    if (!target.subarray(align, align + length).equals(expected)) throw new Error(`${name}: wrong bytes at length ${length}, target offset ${align}, key offset ${keyOffset}`);
    if (target.subarray(0, align).some((b) => b !== 0xee) || target.subarray(align + length).some((b) => b !== 0xee)) {
      throw new Error(`${name}: wrote outside the target range at length ${length}, offset ${align}`);
    }
    // DESIGN zero-copy rule 2: the caller's buffer is never modified.
    if (!source.equals(before)) throw new Error(`${name}: modified its source`);
    if (next !== ((keyOffset + length) & 3)) throw new Error(`${name}: returned key offset ${next} at length ${length}, key offset ${keyOffset}`);
  }
}

describe('WebAssembly SIMD masking', () => {
  it('assembles a module this engine accepts (Node 20 has WebAssembly SIMD)', () => {
    const bytes = maskModuleBytes();
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(wasmApi.validate(bytes)).toBe(true);
    expect(simdMask).toBeTypeOf('function');
  });

  it('matches the byte loop at every length 0..300, 8 alignments, every key offset, three keys', () => {
    for (let length = 0; length <= 300; length++) {
      for (let align = 0; align < 8; align++) {
        for (let keyOffset = 0; keyOffset < 4; keyOffset++) check(length, align, KEYS[(length + align + keyOffset) % KEYS.length]!, keyOffset);
      }
    }
  });

  it('matches the byte loop around the SIMD threshold, the 64-byte step and the 16 KiB chunk, and at big sizes', () => {
    const lengths = new Set<number>();
    for (const base of [SIMD_MIN_BYTES, 16 * 1024, 32 * 1024, 64 * 1024, 64 * 1024 + 14, 1 << 20]) {
      for (let d = -67; d <= 67; d += base >= 1 << 20 ? 33 : 3) lengths.add(base + d);
    }
    lengths.add(3 * (1 << 20) + 5);
    for (const length of lengths) {
      for (const align of length > 1 << 16 ? [0, 3] : [0, 1, 2, 3, 5, 14]) check(length, align, KEYS[length % KEYS.length]!, length % 4);
    }
  });

  it('is resumable: masking a payload piece by piece (any cuts, through either kernel) equals masking it at once', () => {
    const key = KEYS[0]!;
    const data = pattern(200_000, 7);
    const whole = byteLoop(data, key, 3);
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let trial = 0; trial < 20; trial++) {
      const chunked = Buffer.from(data);
      let k = 3;
      for (let at = 0; at < data.length; ) {
        // Mix tiny pieces (JS path) with large ones (SIMD path).
        const piece = random(4) === 0 ? 1 + random(40) : random(3 * SIMD_MIN_BYTES + 20_000);
        const end = Math.min(data.length, at + piece);
        k = maskInPlace(chunked, at, end, key, k);
        at = end;
      }
      expect(chunked.equals(whole)).toBe(true);
      expect(k).toBe((3 + data.length) & 3);
    }
  });

  it('masks the memory of a view that starts inside a larger buffer, not the buffer start', () => {
    const backing = pattern(5000, 3);
    const view = backing.subarray(37, 37 + 4096);
    const expected = byteLoop(view, KEYS[1]!, 2);
    maskInPlace(view, 0, view.length, KEYS[1]!, 2);
    expect(view.equals(expected)).toBe(true);
  });

  it('is absent, so the JavaScript word loop stays, where WebAssembly or its SIMD is missing', () => {
    expect(createSimdMask(undefined)).toBeUndefined();
    const noSimd: WasmApi = {
      validate: () => false,
      Module: wasmApi.Module,
      Instance: wasmApi.Instance,
    };
    expect(createSimdMask(noSimd)).toBeUndefined();
    const throwing: WasmApi = {
      validate: () => true,
      Module: class {
        constructor() {
          throw new Error('WebAssembly code generation is disallowed');
        }
      } as unknown as WasmApi['Module'],
      Instance: wasmApi.Instance,
    };
    expect(createSimdMask(throwing)).toBeUndefined();
    // The global API gives a working kernel.
    const fresh = createSimdMask(wasmApi)!;
    const data = pattern(1000, 9);
    const out = Buffer.alloc(1000);
    fresh(data, 0, 1000, out, 0, KEYS[2]!, 1);
    expect(out.equals(byteLoop(data, KEYS[2]!, 1))).toBe(true);
  });
});
