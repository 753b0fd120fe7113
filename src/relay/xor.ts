// XOR of a payload with a 4-byte key, for the relay's one re-masking pass
// (RFC 6455 5.3), in WebAssembly SIMD: 16 bytes an instruction. The bytes
// are copied into the module's memory and back (two memcpy), which still
// makes it about four times the word loop of `maskInPlace` on 16 KiB
// (`bench/relay-throughput.js`, the relay-bin16k row, shows what it buys).
// Where WebAssembly SIMD is missing, `maskInPlace` does the work.
import { maskInPlace } from '../protocol/mask.js';

/**
 * The module, by hand: `(func (export "x") (param $p i32) (param $n i32) (param $k i32))`
 * XORs memory[p, p + n rounded up to 16) with i32x4.splat(k); memory is 2
 * pages (128 KiB), exported as "m".
 */
const BODY = [
  0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: $v v128, $end i32
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, // $v = i32x4.splat($k)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x04, // $end = $p + $n
  0x02, 0x40, 0x03, 0x40, // block loop
  0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, // br_if 1 ($p >= $end)
  0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, // $p, v128.load($p)
  0x20, 0x03, 0xfd, 0x51, // v128.xor $v
  0xfd, 0x0b, 0x04, 0x00, // v128.store
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // $p += 16
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br 0, end, end, end
];
const MODULE = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32 i32 i32) -> ()
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x05, 0x03, 0x01, 0x00, 0x02, // memory: 2 pages
  0x07, 0x09, 0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x78, 0x00, 0x00, // export "m" memory, "x" function
  0x0a, BODY.length + 2, 0x01, BODY.length, ...BODY,
]);
/** The most one call handles: what fits the memory. */
const SLICE_BYTES = 64 * 1024;
/** Below this the copies cost more than the word loop. */
const MIN_BYTES = 256;

/** The part of the WebAssembly global used here (the DOM lib, which declares it, is not in this build). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

let memory: Uint8Array | undefined;
let xor: ((at: number, bytes: number, key: number) => void) | undefined;
try {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
  memory = new Uint8Array((instance.exports.m as { buffer: ArrayBuffer }).buffer);
  xor = instance.exports.x as (at: number, bytes: number, key: number) => void;
} catch {
  // No WebAssembly SIMD here: maskInPlace it is.
}

/** XORs `bytes[start, end)` in place with `key`, from key byte `keyOffset` (as `maskInPlace`, which it falls back to). */
export function xorInPlace(bytes: Buffer, start: number, end: number, key: Uint8Array, keyOffset: number): void {
  if (xor === undefined || memory === undefined || end - start < MIN_BYTES) {
    maskInPlace(bytes, start, end, key, keyOffset);
    return;
  }
  // Lanes are little-endian 32-bit words: the key byte for memory[0] is the lowest.
  const k = keyOffset & 3;
  const word = key[k]! | (key[(k + 1) & 3]! << 8) | (key[(k + 2) & 3]! << 16) | (key[(k + 3) & 3]! << 24);
  for (let at = start; at < end; at += SLICE_BYTES) {
    // Slices are multiples of 4 bytes, so the key lines up again at each one.
    const stop = Math.min(end, at + SLICE_BYTES);
    memory.set(bytes.subarray(at, stop), 0);
    xor(0, stop - at, word);
    bytes.set(memory.subarray(0, stop - at), at);
  }
}

/** Whether the WebAssembly SIMD path is in use (else `maskInPlace`). */
export const simdXor: boolean = xor !== undefined;
