import { frameHeaderSize, writeFrameHeader } from './frame-header.js';
import { defaultMaskKeys, maskInPlace, maskInto, type MaskKeySource } from './mask.js';
import { isControlOpcode, MAX_CONTROL_PAYLOAD_BYTES } from './opcode.js';

export type Role = 'client' | 'server';

/** Writes a 4-byte masking key into `target` at `offset`. Tests inject fixed keys. */
export type MaskKeyWriter = (target: Uint8Array, offset: number) => void;

export interface FrameEncoderOptions {
  /** `client` masks every frame (RFC 6455 5.1); `server` must not. */
  role: Role;
  /** Where masking keys come from; defaults to `crypto.randomFillSync` in bulk. */
  maskKey?: MaskKeyWriter | MaskKeySource;
}

/** One frame to encode. */
export interface FrameSpec {
  opcode: number;
  /** Bytes are borrowed and never modified; strings are encoded as UTF-8. */
  payload: Uint8Array | string;
  /** Defaults to true. */
  fin?: boolean;
  /** RFC 7692: set on the first frame of a compressed message. */
  rsv1?: boolean;
}

/** Frames whose header and payload together stay under this are copied into the slab. */
const SMALL_FRAME_BYTES = 16 * 1024;
/** Slab sizes adapt to the traffic between these bounds. */
const MIN_SLAB_BYTES = 1024;
const MAX_SLAB_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** The key of the small frame being masked (see `addFrame`). */
const frameKey = new Uint8Array(4);

/** One writer function per key source, shared by every encoder that draws from it (not a closure per connection). */
const keyWriters = new WeakMap<MaskKeySource, MaskKeyWriter>();

function keyWriterOf(source: MaskKeySource): MaskKeyWriter {
  let writer = keyWriters.get(source);
  if (writer === undefined) {
    writer = (target, offset) => source.writeKey(target, offset);
    keyWriters.set(source, writer);
  }
  return writer;
}

/**
 * Encodes frames into buffers ready for one `writev`, batching small frames.
 *
 * Small frames are written back to back into a slab, so a burst of small
 * messages becomes one buffer and one system call. A large borrowed payload
 * is masked straight into one new `[header | payload]` buffer (client), or
 * sent as `[header, payload]` with no copy (server). A string is encoded into
 * memory we own and masked there in place.
 */
export class FrameEncoder {
  readonly role: Role;
  private readonly masked: boolean;
  private readonly writeKey: MaskKeyWriter;
  private slab: Buffer = EMPTY;
  private slabStart = 0;
  private slabEnd = 0;
  /** Where the current batch began in this slab: what lies before it was taken already. */
  private batchStart = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  /**
   * The next slab's size: twice the last batch, within bounds. A connection
   * that sends a message now and then keeps 1 KiB, not 64 KiB, alive.
   */
  private slabHint = MIN_SLAB_BYTES;

  constructor(options: FrameEncoderOptions) {
    this.role = options.role;
    this.masked = options.role === 'client';
    const source = options.maskKey ?? defaultMaskKeys;
    this.writeKey = typeof source === 'function' ? source : keyWriterOf(source);
  }

  /** Bytes encoded and not yet taken. */
  get pendingBytes(): number {
    return this.outBytes + (this.slabEnd - this.slabStart);
  }

  /** Adds one frame. Control frames must carry at most `MAX_CONTROL_PAYLOAD_BYTES` (RFC 6455 5.5). */
  add(frame: FrameSpec): void {
    this.addFrame(frame.opcode, frame.payload, frame.fin ?? true, frame.rsv1 ?? false);
  }

  addFrame(opcode: number, payload: Uint8Array | string, fin: boolean, rsv1: boolean): void {
    const isString = typeof payload === 'string';
    // Short ASCII text is written by a loop here, masked in the same pass: cheaper than two calls
    // into C++ (byteLength, write) per frame.
    const ascii = isString && payload.length <= SHORT_TEXT_CHARS && isAscii(payload);
    const length = ascii || !isString ? payload.length : Buffer.byteLength(payload);
    if (isControlOpcode(opcode) && (length > MAX_CONTROL_PAYLOAD_BYTES || !fin)) {
      throw new RangeError(`control frames carry at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes and are never fragmented (RFC 6455 5.5)`);
    }
    const headerSize = frameHeaderSize(length, this.masked);
    if (headerSize + length <= SMALL_FRAME_BYTES) {
      this.reserve(headerSize + length);
      const slab = this.slab;
      let at = writeFrameHeader(slab, this.slabEnd, fin, rsv1, opcode, length, this.masked);
      let key = 0;
      if (this.masked) {
        key = at;
        this.writeKey(slab, at);
        at += 4;
      }
      if (ascii) {
        writeAscii(slab, at, payload as string, this.masked ? key : -1);
      } else {
        if (isString) slab.write(payload, at, length, 'utf8');
        else slab.set(payload, at);
        if (this.masked) {
          // The key's 4 bytes into a shared array: cheaper than a view of the slab per frame.
          frameKey[0] = slab[key]!;
          frameKey[1] = slab[key + 1]!;
          frameKey[2] = slab[key + 2]!;
          frameKey[3] = slab[key + 3]!;
          maskInPlace(slab, at, at + length, frameKey);
        }
      }
      this.slabEnd = at + length;
      return;
    }
    this.closeSlabSegment();
    if (this.masked || isString) {
      // Large, and we must write its bytes anyway (masking, or encoding a string): one new
      // [header | payload] buffer, masked in a single pass (DESIGN zero-copy rule 2), so the
      // socket gets one buffer per frame.
      const frame = this.allocateFrame(headerSize + length);
      let at = writeFrameHeader(frame, 0, fin, rsv1, opcode, length, this.masked);
      const key = at;
      if (this.masked) {
        this.writeKey(frame, at);
        at += 4;
      }
      if (isString) {
        frame.write(payload, at, length, 'utf8');
        if (this.masked) maskInPlace(frame, at, at + length, frame.subarray(key, key + 4));
      } else {
        maskInto(payload, frame, at, frame.subarray(key, key + 4));
      }
      this.out.push(frame);
      this.outBytes += frame.length;
      return;
    }
    // Large and unmasked (server): the header in the slab, the caller's payload as it is, no copy.
    this.reserve(headerSize);
    this.slabEnd = writeFrameHeader(this.slab, this.slabEnd, fin, rsv1, opcode, length, false);
    this.closeSlabSegment();
    this.out.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length));
    this.outBytes += length;
  }

  /** Takes every buffer encoded so far, in order, for one `writev`. */
  take(): Buffer[] {
    this.closeSlabSegment();
    const batchBytes = this.outBytes;
    this.slabHint = Math.min(MAX_SLAB_BYTES, Math.max(MIN_SLAB_BYTES, batchBytes * 2));
    if (this.slab.length > this.slabHint && this.slabStart === this.slabEnd) {
      // Traffic dropped: let the big slab go once what was taken from it is written.
      this.slab = EMPTY;
      this.slabStart = 0;
      this.slabEnd = 0;
    }
    this.batchStart = this.slabEnd;
    const out = this.out;
    this.out = [];
    this.outBytes = 0;
    return out;
  }

  /** Encodes one frame on its own. */
  encode(frame: FrameSpec): Buffer[] {
    this.add(frame);
    return this.take();
  }

  /**
   * Memory for one large frame that the encoder writes whole (header, key,
   * payload: every byte of it is overwritten). Not from Node's pool: it is
   * never small. `FrameWriter` overrides it to recycle frames the socket has
   * written.
   */
  protected allocateFrame(bytes: number): Buffer {
    return Buffer.allocUnsafeSlow(bytes);
  }

  private reserve(bytes: number): void {
    if (this.slab.length - this.slabEnd >= bytes) return;
    // A slab filled within one batch means a burst: go straight to the largest size. (Not a slab
    // filled by earlier batches: one message a turn would then get a 64 KiB slab, dropped again at
    // the next take(), every few frames.)
    if (this.slabEnd > this.batchStart) this.slabHint = MAX_SLAB_BYTES;
    this.closeSlabSegment();
    // Buffer.allocUnsafe takes small slabs from Node's shared pool.
    this.slab = Buffer.allocUnsafe(Math.max(this.slabHint, bytes));
    this.slabStart = 0;
    this.slabEnd = 0;
    this.batchStart = 0;
  }

  private closeSlabSegment(): void {
    if (this.slabEnd === this.slabStart) return;
    this.out.push(this.slab.subarray(this.slabStart, this.slabEnd));
    this.outBytes += this.slabEnd - this.slabStart;
    this.slabStart = this.slabEnd;
  }
}

/** Strings up to this many UTF-16 units take the ASCII loop when they are ASCII (bench: `send 16-byte text`). */
const SHORT_TEXT_CHARS = 64;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Writes ASCII `text` at `at` (one byte per character: its UTF-8), XORed
 * with the key at offset `key` of the same buffer, or unmasked when `key` is -1.
 */
function writeAscii(buffer: Buffer, at: number, text: string, key: number): void {
  const n = text.length;
  if (key < 0) {
    for (let i = 0; i < n; i++) buffer[at + i] = text.charCodeAt(i);
    return;
  }
  const k0 = buffer[key]!;
  const k1 = buffer[key + 1]!;
  const k2 = buffer[key + 2]!;
  const k3 = buffer[key + 3]!;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    buffer[at + i] = text.charCodeAt(i) ^ k0;
    buffer[at + i + 1] = text.charCodeAt(i + 1) ^ k1;
    buffer[at + i + 2] = text.charCodeAt(i + 2) ^ k2;
    buffer[at + i + 3] = text.charCodeAt(i + 3) ^ k3;
  }
  if (i < n) buffer[at + i] = text.charCodeAt(i++) ^ k0;
  if (i < n) buffer[at + i] = text.charCodeAt(i++) ^ k1;
  if (i < n) buffer[at + i] = text.charCodeAt(i) ^ k2;
}
