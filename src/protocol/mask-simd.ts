/**
 * A WebAssembly SIMD kernel for RFC 6455 5.3 masking, written out here byte
 * by byte (no toolchain, no dependency): 16 bytes per XOR instead of the 4 of
 * the JavaScript word loop in mask.ts.
 *
 * WebAssembly can only address its own memory, so the kernel works on a
 * 64 KiB scratch page: a payload is copied in (one memcpy), XORed there, and
 * copied out (one memcpy) chunk by chunk while the chunk is still in the CPU
 * cache. Two memcpy and a SIMD XOR still beat one memcpy and a JavaScript
 * loop from about `SIMD_MIN_BYTES` up (bench/mask.js measures both).
 *
 * When WebAssembly or its SIMD proposal is missing (`WebAssembly.validate`
 * refuses the module), `simdMask` is undefined and mask.ts keeps its
 * JavaScript loop.
 */

/** Below this many bytes the JavaScript loop is as fast or faster (`node bench/mask.js --sweep`: wasm 1.3x at 128 B, 1.6x at 256 B, 4-6x from 8 KiB). */
export const SIMD_MIN_BYTES = 256;

/** Bytes per round trip through the scratch page: source, scratch and target stay in L1/L2 (8, 16, 32 KiB measured; 16 best). */
const CHUNK_BYTES = 16 * 1024;

const enum Section {
  Type = 1,
  Function = 3,
  Memory = 5,
  Export = 7,
  Code = 10,
}

/** A section: its id, its size (one LEB128 byte: every section here is under 128 bytes), its bytes. */
function section(id: Section, bytes: number[]): number[] {
  if (bytes.length > 127) throw new Error('section too long for a one-byte size');
  return [id, bytes.length, ...bytes];
}

const ascii = (name: string): number[] => [name.length, ...Array.from(name, (c) => c.charCodeAt(0))];

/**
 * `(func $mask (param $p i32) (param $n i32) (param $k i32))`: XORs the
 * `$n` bytes at `$p` (`$n` a multiple of 64) with the little-endian key word
 * `$k` repeated, 64 bytes (four v128) per iteration.
 */
function maskBody(): number[] {
  // One 16-byte step at `offset` from $p: mem[p+off] = mem[p+off] ^ splat(k).
  const step = (offset: number): number[] => [
    0x20, 0x00, //         local.get $p          (the store's address)
    0x20, 0x00, //         local.get $p
    0xfd, 0x00, 0x04, offset, // v128.load align=16 offset=<offset>
    0x20, 0x03, //         local.get $kv
    0xfd, 0x51, //         v128.xor
    0xfd, 0x0b, 0x04, offset, // v128.store align=16 offset=<offset>
  ];
  const code = [
    0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: 1 x v128 ($kv = local 3), 1 x i32 ($end = local 4)
    0x20, 0x02, //   local.get $k
    0xfd, 0x11, //   i32x4.splat
    0x21, 0x03, //   local.set $kv
    0x20, 0x00, //   local.get $p
    0x20, 0x01, //   local.get $n
    0x6a, //         i32.add
    0x21, 0x04, //   local.set $end
    0x02, 0x40, //   block
    0x03, 0x40, //     loop
    0x20, 0x00, //       local.get $p
    0x20, 0x04, //       local.get $end
    0x4f, //             i32.ge_u
    0x0d, 0x01, //       br_if 1             (done: leave the block)
    ...step(0x00),
    ...step(0x10),
    ...step(0x20),
    ...step(0x30),
    0x20, 0x00, //       local.get $p
    0x41, 0xc0, 0x00, // i32.const 64        (signed LEB128)
    0x6a, //             i32.add
    0x21, 0x00, //       local.set $p
    0x0c, 0x00, //       br 0                (next iteration)
    0x0b, //           end loop
    0x0b, //         end block
    0x0b, //       end func
  ];
  return [code.length, ...code];
}

/** The whole module: one memory page (exported as "memory") and the function "mask". */
export function maskModuleBytes(): Uint8Array {
  const body = maskBody();
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, // "\0asm"
    0x01, 0x00, 0x00, 0x00, // version 1
    // type 0: (func (param i32 i32 i32))
    ...section(Section.Type, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]),
    // function 0 has type 0
    ...section(Section.Function, [0x01, 0x00]),
    // memory 0: min 1 page, max 1 page (64 KiB; it never grows, so its buffer is never detached)
    ...section(Section.Memory, [0x01, 0x01, 0x01, 0x01]),
    // exports: "memory" (memory 0), "mask" (function 0)
    ...section(Section.Export, [0x02, ...ascii('memory'), 0x02, 0x00, ...ascii('mask'), 0x00, 0x00]),
    ...section(Section.Code, [0x01, ...body]),
  ]);
}

/** The slice of the WebAssembly JS API used here (not in lib ES2022's typings). */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

interface Kernel {
  scratch: Uint8Array;
  mask: (p: number, n: number, k: number) => void;
}

function instantiate(wasm: WasmApi | undefined): Kernel | undefined {
  if (wasm === undefined) return undefined;
  try {
    const bytes = maskModuleBytes();
    // validate() is false where the engine lacks SIMD: keep the JavaScript loop.
    if (!wasm.validate(bytes)) return undefined;
    const { exports } = new wasm.Instance(new wasm.Module(bytes));
    const memory = exports['memory'] as { buffer: ArrayBuffer };
    return { scratch: new Uint8Array(memory.buffer), mask: exports['mask'] as Kernel['mask'] };
  } catch {
    return undefined; // e.g. WebAssembly code generation disallowed: the JavaScript loop stays
  }
}


/** `Buffer.prototype.copy`, which also takes a plain Uint8Array as `this` and as the target. */
const copyRange = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/** The key bytes from `keyOffset` on, as the little-endian word WebAssembly loads. */
function keyWordLE(key: Uint8Array, k: number): number {
  return (key[k]! | (key[(k + 1) & 3]! << 8) | (key[(k + 2) & 3]! << 16) | (key[(k + 3) & 3]! << 24)) | 0;
}

/**
 * Masks `source[sourceStart, sourceEnd)` into `target` at `targetOffset`
 * (which may be the same memory: masking in place), starting at key byte
 * `keyOffset & 3`; returns the key offset for the next byte.
 */
export type SimdMask = (
  source: Uint8Array,
  sourceStart: number,
  sourceEnd: number,
  target: Uint8Array,
  targetOffset: number,
  key: Uint8Array,
  keyOffset: number,
) => number;

/** The kernel over `wasm` (the global `WebAssembly` by default); undefined when it cannot run there. */
export function createSimdMask(wasm: WasmApi | undefined): SimdMask | undefined {
  const kernel = instantiate(wasm);
  return kernel === undefined
    ? undefined
    : (source, sourceStart, sourceEnd, target, targetOffset, key, keyOffset) => {
        const { scratch, mask } = kernel;
        let k = keyOffset & 3;
        const word = keyWordLE(key, k);
        let from = sourceStart;
        let to = targetOffset;
        while (from < sourceEnd) {
          const n = Math.min(CHUNK_BYTES, sourceEnd - from);
          // Buffer's copy takes ranges: no view object per chunk (5-10 % at 16 KiB to 1 MiB).
          copyRange.call(source, scratch, 0, from, from + n);
          const vectorBytes = n & ~63;
          mask(0, vectorBytes, word);
          // The tail (under 64 bytes, only in the last chunk): bytes, in the scratch page.
          for (let i = vectorBytes; i < n; i++) scratch[i] ^= key[(k + i) & 3]!;
          copyRange.call(scratch, target, to, 0, n);
          // Every chunk but the last is a multiple of 64 bytes: the key phase moves on only at the end.
          k = (k + n) & 3;
          from += n;
          to += n;
        }
        return k;
      };
}

/** The kernel of this process, or undefined where WebAssembly SIMD is not available. */
export const simdMask = createSimdMask((globalThis as { WebAssembly?: WasmApi }).WebAssembly);
