// One relayed connection: two sides, and a frame pump each way.
//
//   client   -> FrameDecoder (server role) -> FrameEncoder / in place (client role, fresh keys) -> upstream
//   upstream -> FrameDecoder (client role) -> FrameEncoder / in place (server role)             -> client
//
// Without a message hook the pump forwards frames as they are, in the socket
// chunk they arrived in: a frame whose header is in the chunk keeps its
// header bytes (RSV1 included: compressed frames pass untouched); towards the
// upstream its key is replaced with a fresh one and the payload re-masked in
// one pass with (old key XOR new key), never unmasked on its own (RFC 6455
// 5.3: every frame from a client is masked with a new, unpredictable key).
// Consecutive frames of one chunk then leave in one write of that chunk (or
// a view of it), with no copy. The common frame, a whole message in one frame
// whose header is in the read, is parsed by the pump itself (`passOn`); any
// other frame goes to the FrameDecoder, given exactly that frame's bytes, so
// that every protocol rule is decided there. A frame whose header spanned two
// reads goes through the FrameEncoder, one frame per piece (RFC 6455 5.4 lets
// an intermediary that knows the extensions in use refragment). Control
// frames always go through the encoder.
//
// With `onMessage`, messages are assembled (and inflated when compressed),
// shown to the hook, and sent as one frame each (compressed again with the
// other side's own context when that side negotiated compression).
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/close-codes.js';
import { encodeClosePayload } from '../protocol/close.js';
import { ProtocolError, UsageError, WebSocketError, ErrorCode } from '../protocol/errors.js';
import { FrameDecoder, type DecoderSink } from '../protocol/frame-decoder.js';
import { FrameEncoder } from '../protocol/frame-encoder.js';
import { randomFillSync } from 'node:crypto';
import { maskInPlace } from '../protocol/mask.js';
import { MessageAssembler } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import type { NegotiatedDeflate } from '../protocol/permessage-deflate.js';
import { MessageInflater } from '../streams/message-inflater.js';
import { MessageDeflater } from '../streams/permessage-deflate-stream.js';
import type { RelayRequest } from './request.js';

/** Which way a message or frame travels. */
export type Direction = 'client-to-upstream' | 'upstream-to-client';

/** Counters of one direction. Payload bytes; frames and messages as received. */
export interface DirectionMetrics {
  messages: number;
  frames: number;
  bytes: number;
  /** Messages a hook dropped. */
  dropped: number;
  /** Messages a hook replaced. */
  replaced: number;
  /** Compressed messages the relay inflated (only ever for a hook). */
  inflated: number;
  /** Messages the relay compressed itself. */
  deflated: number;
}

/** A whole data message, as `onMessage` sees it. */
export interface RelayMessage {
  type: 'text' | 'binary';
  /** The payload (inflated when it came compressed). A view: copy it to keep it past the hook. */
  data: Buffer;
  /** The payload as a string (UTF-8, already validated for text). */
  text(): string;
}

/**
 * What `onMessage` decides: nothing or `true` sends the message on;
 * `false` drops it; a string replaces it with a text message, a
 * Buffer / Uint8Array with a binary one, `{ data, binary }` with either.
 */
export type MessageVerdict = void | undefined | boolean | string | Uint8Array | { data: string | Uint8Array; binary?: boolean };

/** One frame as observed by `onFrame`. The object is reused for the next frame: copy what you keep. */
export interface RelayFrame {
  /** The frame's own opcode: 0 for a continuation. */
  opcode: number;
  fin: boolean;
  /** RSV1: the first frame of a compressed message. */
  rsv1: boolean;
  /** Payload bytes. */
  bytes: number;
}

/** How one side ended: the close frame it sent us and the one we sent it (absent when none). */
export interface SideClose {
  /** From this side to the relay: its code (1005 when its close frame had none) and reason. */
  received: { code: number; reason: string } | undefined;
  /** From the relay to this side. */
  sent: { code: number; reason: string } | undefined;
  /** The error that ended this side, if one did (a protocol error it made, or its transport's). */
  error: Error | undefined;
}

/** What `'close'` reports for a relayed connection. */
export interface RelayCloseReport {
  client: SideClose;
  upstream: SideClose;
}

/** The settings a connection needs from its relay. */
export interface PumpConfig {
  onMessage: ((message: RelayMessage, direction: Direction, connection: RelayConnection) => MessageVerdict | Promise<MessageVerdict>) | undefined;
  onFrame: ((frame: RelayFrame, direction: Direction, connection: RelayConnection) => void) | undefined;
  maxMessageBytes: number;
  closeTimeoutMs: number;
  /** Called once, when both sockets are closed. */
  ended(connection: RelayConnection, report: RelayCloseReport): void;
  /** Called for each error on the connection (a protocol error by a side, a transport error, a hook that threw). */
  error(connection: RelayConnection, error: Error, side: 'client' | 'upstream' | 'hook'): void;
}

/** Compression on one side: shared pass-through, or the relay's own context. */
export interface SideCompression {
  /** RSV1 may be set by this side (RFC 7692 negotiated). */
  negotiated: boolean;
  /** With a hook: the parameters seen from the relay's end of this side. */
  relaySide?: NegotiatedDeflate;
}

/** Random bytes for new masking keys, drawn in bulk (one `randomFillSync` per 16,384 frames). */
const RANDOM_POOL_BYTES = 64 * 1024;
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES);
let randomAt = RANDOM_POOL_BYTES;

/**
 * Gives the frame whose key is at `chunk[k, k + 4)` a new key: old XOR R for
 * fresh random bytes R, which it returns (byte i in bits 8i to 8i + 7).
 * RFC 6455 5.3: the key must be "derived from a strong source of entropy"
 * and unpredictable; old XOR R is as random as R and unknown to the client.
 * R is never zero (the key would be the client's) and the new key never all
 * zeros (clear text).
 */
function rekeyInPlace(chunk: Buffer, k: number): number {
  let r0: number;
  let r1: number;
  let r2: number;
  let r3: number;
  do {
    if (randomAt === RANDOM_POOL_BYTES) {
      randomFillSync(randomPool);
      randomAt = 0;
    }
    r0 = randomPool[randomAt]!;
    r1 = randomPool[randomAt + 1]!;
    r2 = randomPool[randomAt + 2]!;
    r3 = randomPool[randomAt + 3]!;
    randomAt += 4;
  } while ((r0 | r1 | r2 | r3) === 0 || ((chunk[k]! ^ r0) | (chunk[k + 1]! ^ r1) | (chunk[k + 2]! ^ r2) | (chunk[k + 3]! ^ r3)) === 0);
  chunk[k] ^= r0;
  chunk[k + 1] ^= r1;
  chunk[k + 2] ^= r2;
  chunk[k + 3] ^= r3;
  return r0 | (r1 << 8) | (r2 << 16) | (r3 << 24);
}

/** R as the 4-byte key `maskInPlace` takes; one for the process (filled before each call). */
const rKey = Buffer.alloc(4);

/**
 * XORs `chunk[start, end)` with R (see `rekeyInPlace`) from key byte
 * `offset`: `maskInPlace` (WebAssembly SIMD from 256 bytes up, see
 * mask-simd.ts), with the short payloads of chatty traffic unrolled here (a
 * call and a rotating index per byte cost more than the bytes).
 */
function remaskPiece(chunk: Buffer, start: number, end: number, r: number, offset: number): void {
  if (end - start >= 32) {
    rKey[0] = r & 0xff;
    rKey[1] = (r >>> 8) & 0xff;
    rKey[2] = (r >>> 16) & 0xff;
    rKey[3] = r >>> 24;
    maskInPlace(chunk, start, end, rKey, offset);
    return;
  }
  // R rotated so that its byte `offset` comes first.
  const shift = (offset & 3) << 3;
  const rotated = shift === 0 ? r : (r >>> shift) | (r << (32 - shift));
  const k0 = rotated & 0xff;
  const k1 = (rotated >>> 8) & 0xff;
  const k2 = (rotated >>> 16) & 0xff;
  const k3 = rotated >>> 24;
  let i = start;
  for (; i + 3 < end; i += 4) {
    chunk[i] ^= k0;
    chunk[i + 1] ^= k1;
    chunk[i + 2] ^= k2;
    chunk[i + 3] ^= k3;
  }
  if (i < end) chunk[i++] ^= k0;
  if (i < end) chunk[i++] ^= k1;
  if (i < end) chunk[i] ^= k2;
}

/** Header bytes announced by a frame's second byte: 2, 4 or 10, and 4 more for a key. */
function headerBytesOf(b1: number): number {
  const length7 = b1 & 0x7f;
  return (length7 < 126 ? 2 : length7 === 126 ? 4 : 10) + ((b1 & 0x80) >>> 5);
}

/**
 * The payload length in a whole header at `bytes[at, ...)`, as the decoder
 * reads it (RFC 6455 5.2); a 64-bit length at or above 2^53, which the
 * decoder refuses, as Infinity.
 */
function payloadLengthOf(bytes: Uint8Array, at: number): number {
  const length7 = bytes[at + 1]! & 0x7f;
  if (length7 < 126) return length7;
  if (length7 === 126) return (bytes[at + 2]! << 8) | bytes[at + 3]!;
  const high = ((bytes[at + 2]! << 24) | (bytes[at + 3]! << 16) | (bytes[at + 4]! << 8) | bytes[at + 5]!) >>> 0;
  if (high > 0x1fffff) return Infinity;
  const low = ((bytes[at + 6]! << 24) | (bytes[at + 7]! << 16) | (bytes[at + 8]! << 8) | bytes[at + 9]!) >>> 0;
  return high * 0x100000000 + low;
}

/** One side of a relayed connection: its socket, what decodes it, what encodes for it. */
class Side {
  readonly encoder: FrameEncoder;
  decoder!: FrameDecoder;
  /** What the decoder calls; without a hook made at the first frame it is given (an idle connection has none). */
  sink: (DecoderSink & { paused: boolean }) | undefined;
  peer!: Side;
  inflater: MessageInflater | undefined;
  deflater: MessageDeflater | undefined;
  held: { chunk: Buffer; offset: number } | undefined;
  waitingDrain = false;
  /** Inflates, hooks and deflates not finished: decoding waits for them. */
  pending = 0;
  closeSent = false;
  closeReceived = false;
  gone = false;
  /** A frame passed on in place is not finished towards this side: no close frame can follow it. */
  cutFrame = false;
  // Where the pass-through pump (RelayConnection.passOn) is in what this side sends.
  /** Payload bytes still to come of a frame the pump passes on by itself (it began in an earlier read). */
  passLeft = 0;
  /** The key offset of that frame's next byte. */
  passKeyOffset = 0;
  /** R of the frame being re-masked (its new key is old XOR R), whoever passes it on. */
  passR = 0;
  /** Bytes the decoder still has to be given to finish the frame it is in (a frame the pump left to it). */
  decoderOwes = 0;
  /** A header a read cut, which the decoder holds: its bytes so far, to learn the frame's length. */
  cutHead: Buffer | undefined;
  cutHeadBytes = 0;
  /** No message hook: frames are passed on as they are (`passOn`). */
  passing = false;
  /** RSV1 may be set on what this side sends (RFC 7692 negotiated with it). */
  rsv1Allowed = false;
  tally: FrameTally | undefined;
  closeTimer: NodeJS.Timeout | undefined;
  received: SideClose['received'];
  sent: SideClose['sent'];
  error: Error | undefined;
  /** Buffers to write, in order: views of input chunks and encoder output. */
  private out: Buffer[] = [];
  /** Frames were given to the encoder since its output was last taken. */
  private encoded = false;
  private rawChunk: Buffer | undefined;
  private rawStart = 0;
  private rawEnd = 0;

  constructor(
    readonly name: 'client' | 'upstream',
    readonly socket: Duplex,
  ) {
    // We are the client's server (never mask) and the upstream's client (always mask).
    this.encoder = new FrameEncoder({ role: name === 'client' ? 'server' : 'client' });
  }

  /** Adds a frame to send (through the encoder), after what is queued. */
  encode(opcode: number, payload: Uint8Array | string, fin: boolean, rsv1: boolean): void {
    this.encoder.addFrame(opcode, payload, fin, rsv1);
    this.encoded = true;
  }

  /** Appends bytes of an input chunk, as they are, after what is queued. */
  raw(chunk: Buffer, start: number, end: number): void {
    if (this.encoded) this.takeEncoded();
    else if (this.rawChunk === chunk && this.rawEnd === start) {
      this.rawEnd = end;
      return;
    } else this.closeRaw();
    this.rawChunk = chunk;
    this.rawStart = start;
    this.rawEnd = end;
  }

  /** Writes what is queued: one write, or one corked batch. */
  flush(): void {
    const socket = this.socket;
    if (!this.encoded && this.out.length === 0) {
      // The common case: one range of one read, the whole read when it can be (no view to make).
      const chunk = this.rawChunk;
      if (chunk === undefined) return;
      this.rawChunk = undefined;
      if (this.gone || socket.destroyed || socket.writableEnded) return;
      socket.write(this.rawStart === 0 && this.rawEnd === chunk.length ? chunk : chunk.subarray(this.rawStart, this.rawEnd));
      return;
    }
    this.takeEncoded();
    const out = this.out;
    this.out = [];
    if (this.gone || socket.destroyed || socket.writableEnded) return;
    if (out.length === 1) {
      socket.write(out[0]!);
      return;
    }
    socket.cork();
    for (const buffer of out) socket.write(buffer);
    socket.uncork();
  }

  /** Bytes held for this side: unwritten output, undecoded input, zlib queues. */
  get bufferedBytes(): number {
    let bytes = this.socket.writableLength + this.socket.readableLength + this.encoder.pendingBytes;
    if (this.held) bytes += this.held.chunk.length - this.held.offset;
    if (this.deflater) bytes += this.deflater.pendingBytes;
    return bytes;
  }

  private takeEncoded(): void {
    this.closeRaw();
    if (!this.encoded) return;
    this.encoded = false;
    for (const buffer of this.encoder.take()) this.out.push(buffer);
  }

  private closeRaw(): void {
    const chunk = this.rawChunk;
    if (chunk === undefined) return;
    this.out.push(this.rawStart === 0 && this.rawEnd === chunk.length ? chunk : chunk.subarray(this.rawStart, this.rawEnd));
    this.rawChunk = undefined;
  }
}

function isThenable(value: unknown): value is PromiseLike<MessageVerdict> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function newMetrics(): DirectionMetrics {
  return { messages: 0, frames: 0, bytes: 0, dropped: 0, replaced: 0, inflated: 0, deflated: 0 };
}

/**
 * Counts one direction's frames and messages as they are decoded, and shows
 * each frame to `onFrame` (one reused object: no allocation per frame).
 */
class FrameTally {
  private started = false;
  private readonly frame: RelayFrame = { opcode: 0, fin: false, rsv1: false, bytes: 0 };

  constructor(
    readonly metrics: DirectionMetrics,
    private onFrame: PumpConfig['onFrame'],
    private readonly direction: Direction,
    private readonly connection: RelayConnection,
    /** The hook threw: the connection fails as for a throwing `onMessage`. */
    private readonly failed: (error: unknown) => void,
  ) {}

  /** Shows the frame to the hook; a hook that throws is not called again, and fails the connection. */
  private show(frame: RelayFrame): void {
    try {
      this.onFrame!(frame, this.direction, this.connection);
    } catch (error) {
      this.onFrame = undefined;
      this.failed(error);
    }
  }

  /** A data piece; returns true when it is the first of its frame. */
  piece(opcode: number, bytes: number, messageStart: boolean, compressed: boolean): boolean {
    this.metrics.bytes += bytes;
    const first = !this.started;
    if (first) {
      this.started = true;
      const frame = this.frame;
      frame.opcode = messageStart ? opcode : Opcode.Continuation;
      frame.rsv1 = messageStart && compressed;
      frame.bytes = 0;
    }
    this.frame.bytes += bytes;
    return first;
  }

  /** The current data frame is complete (and with it the message, when `messageEnd`). */
  frameEnd(messageEnd: boolean): void {
    this.started = false;
    this.metrics.frames += 1;
    if (messageEnd) this.metrics.messages += 1;
    if (this.onFrame === undefined) return;
    this.frame.fin = messageEnd;
    this.show(this.frame);
  }

  /** A control frame. */
  control(opcode: number, bytes: number): void {
    this.metrics.frames += 1;
    if (this.onFrame === undefined) return;
    const frame = this.frame;
    frame.opcode = opcode;
    frame.fin = true;
    frame.rsv1 = false;
    frame.bytes = bytes;
    this.show(frame);
  }
}

/** Per-connection counters, and the bytes it holds now. */
export interface ConnectionMetrics {
  readonly clientToUpstream: DirectionMetrics;
  readonly upstreamToClient: DirectionMetrics;
  /** Bytes held now towards the upstream (unwritten, undecoded from the client, in zlib). */
  readonly bufferedToUpstream: number;
  /** Bytes held now towards the client. */
  readonly bufferedToClient: number;
  /** The most this connection held at once, both ways, as seen after each socket read. */
  readonly peakBufferedBytes: number;
}

/**
 * A relayed connection, from the 101 to the client until both TCP
 * connections are closed. Given to hooks and events.
 */
export class RelayConnection {
  /** The client's upgrade request. */
  readonly request: RelayRequest;
  /** The upstream URL (without credentials). */
  readonly upstreamUrl: string;
  /** The subprotocol both sides agreed on, if any. */
  readonly protocol: string | undefined;
  /** Whether compressed frames are passed through untouched (both sides share the parameters). */
  readonly compressionPassThrough: boolean;
  readonly metrics: ConnectionMetrics;
  private readonly config: PumpConfig;
  private readonly client: Side;
  private readonly upstream: Side;
  private peak = 0;
  private reported = false;

  /** @internal Created by the relay. */
  constructor(
    init: {
      request: RelayRequest;
      upstreamUrl: string;
      protocol: string | undefined;
      clientSocket: Duplex;
      upstreamSocket: Duplex;
      clientCompression: SideCompression;
      upstreamCompression: SideCompression;
    },
    config: PumpConfig,
  ) {
    this.request = init.request;
    this.upstreamUrl = init.upstreamUrl;
    this.protocol = init.protocol;
    this.config = config;
    this.client = new Side('client', init.clientSocket);
    this.upstream = new Side('upstream', init.upstreamSocket);
    this.client.peer = this.upstream;
    this.upstream.peer = this.client;
    this.compressionPassThrough = config.onMessage === undefined && init.clientCompression.negotiated;
    const c2u = newMetrics();
    const u2c = newMetrics();
    const self = this;
    this.metrics = {
      clientToUpstream: c2u,
      upstreamToClient: u2c,
      get bufferedToUpstream() {
        return self.upstream.bufferedBytes;
      },
      get bufferedToClient() {
        return self.client.bufferedBytes;
      },
      get peakBufferedBytes() {
        return self.peak;
      },
    };
    this.setUp(this.client, init.clientCompression, c2u, 'client-to-upstream');
    this.setUp(this.upstream, init.upstreamCompression, u2c, 'upstream-to-client');
  }

  /** Bytes this connection holds now, both ways. */
  get bufferedBytes(): number {
    return this.client.bufferedBytes + this.upstream.bufferedBytes;
  }

  /** @internal Starts pumping, first the bytes that came with each side's handshake. */
  start(clientLeftover: Buffer, upstreamLeftover: Buffer): void {
    for (const [side, leftover] of [
      [this.client, clientLeftover],
      [this.upstream, upstreamLeftover],
    ] as const) {
      const socket = side.socket;
      socket.on('error', (error: Error) => {
        side.error ??= error;
        this.config.error(this, error, side.name);
        socket.destroy();
      });
      socket.once('close', () => this.gone(side));
      socket.on('drain', () => this.drained(side));
      // A peer that half-closes is gone: end our half too.
      socket.once('end', () => {
        if (!socket.writableEnded) socket.end();
      });
      socket.on('data', (chunk: Buffer) => this.feed(side, chunk, 0));
      if (leftover.length > 0) this.feed(side, leftover, 0);
      if (side.held === undefined && !side.waitingDrain) socket.resume();
    }
  }

  /** Closes both sides with `code` (RFC 6455 7.4.1: 1001 when the relay is going away). */
  close(code: number = CloseCode.GoingAway, reason = 'relay shutting down'): void {
    for (const side of [this.client, this.upstream]) {
      if (!side.closeSent && !side.gone) this.sendClose(side, code, reason);
      this.settle(side);
    }
  }

  /** Destroys both sockets at once. */
  terminate(): void {
    this.client.socket.destroy();
    this.upstream.socket.destroy();
  }

  private setUp(src: Side, compression: SideCompression, metrics: DirectionMetrics, direction: Direction): void {
    const hooked = this.config.onMessage !== undefined;
    src.decoder = new FrameDecoder({
      role: src.name === 'client' ? 'server' : 'client',
      perMessageCompression: compression.negotiated,
      maxMessageBytes: this.config.maxMessageBytes,
      // Passing frames on, the relay never looks at payloads: the far end checks UTF-8.
      unmask: hooked,
      validateUtf8: hooked,
    });
    if (hooked && compression.relaySide) {
      src.inflater = new MessageInflater({ negotiated: compression.relaySide, maxMessageBytes: this.config.maxMessageBytes });
      src.deflater = new MessageDeflater({ negotiated: compression.relaySide });
    }
    const tally = new FrameTally(metrics, this.config.onFrame, direction, this, (error) => this.hookFailed(error));
    src.tally = tally;
    src.passing = !hooked;
    src.rsv1Allowed = compression.negotiated;
    if (hooked) src.sink = this.messageSink(src, tally);
  }

  /** Decodes `chunk` from `from`; what it yields is written to the other side at the end. */
  private feed(src: Side, chunk: Buffer, from: number): void {
    const dst = src.peer;
    // After a failure (of the decoder, the inflater or a hook) nothing more is read from src.
    if (src.closeReceived) return;
    const stopped = src.passing ? this.passOn(src, chunk, from) : src.decoder.decode(chunk, src.sink!, from);
    dst.flush();
    if (stopped < chunk.length && !src.decoder.finished) {
      src.held = { chunk, offset: stopped };
      src.socket.pause();
    } else {
      src.held = undefined;
    }
    if (!src.waitingDrain && dst.socket.writableNeedDrain && !dst.gone) {
      // Backpressure: read no more from src until dst has written what it holds ('drain', or its 'close').
      src.waitingDrain = true;
      src.socket.pause();
    }
    const buffered = this.client.bufferedBytes + this.upstream.bufferedBytes;
    if (buffered > this.peak) this.peak = buffered;
  }

  /** `dst` wrote what it held, or closed: its peer may be read again. */
  private drained(dst: Side): void {
    const src = dst.peer;
    if (!src.waitingDrain) return;
    src.waitingDrain = false;
    this.resume(src);
  }

  /**
   * Passes on what `src` sent, without a message hook (see the top of this
   * file), and returns where it stopped (the end: nothing here waits).
   *
   * The common frame, a whole message in one frame whose header is in this
   * read, is passed on here: header bytes as they are (new key towards the
   * upstream), payload re-masked in place, in this read and the next ones.
   * It is only taken when the decoder would accept it and have nothing to
   * remember after it: FIN, text or binary, no message in progress, RSV2 and
   * RSV3 clear, RSV1 only with compression negotiated, masked exactly when
   * `src` is the client (RFC 6455 5.1, 5.2), length within maxMessageBytes.
   * Every other frame (control frames, fragments, a header a read cut, a
   * protocol error) goes to the decoder, given exactly that frame's bytes.
   */
  private passOn(src: Side, chunk: Buffer, from: number): number {
    const dst = src.peer;
    const tally = src.tally!;
    const decoder = src.decoder;
    const remask = src.name === 'client';
    const end = chunk.length;
    let pos = from;
    while (pos < end) {
      if (src.decoderOwes !== 0 || src.cutHeadBytes !== 0) {
        // The decoder is inside a frame: it gets that frame's bytes and no more.
        if (src.cutHeadBytes !== 0) this.completeCutHead(src, chunk, pos);
        const stop = src.decoderOwes !== 0 && src.decoderOwes < end - pos ? pos + src.decoderOwes : end;
        decoder.decode(stop === end ? chunk : chunk.subarray(0, stop), (src.sink ??= this.passSink(src, tally)), pos);
        if (src.decoderOwes !== 0) src.decoderOwes -= stop - pos;
        pos = stop;
        if (decoder.finished) return end;
        continue;
      }
      if (src.passLeft !== 0) {
        // More of the frame passed on from an earlier read.
        const take = src.passLeft < end - pos ? src.passLeft : end - pos;
        const stop = pos + take;
        src.passLeft -= take;
        if (!dst.closeSent) {
          if (remask) remaskPiece(chunk, pos, stop, src.passR, src.passKeyOffset);
          dst.raw(chunk, pos, stop);
          dst.cutFrame = src.passLeft !== 0;
        }
        src.passKeyOffset = (src.passKeyOffset + take) & 3;
        tally.piece(0, take, false, false);
        if (src.passLeft === 0) tally.frameEnd(true);
        pos = stop;
        continue;
      }
      // A frame boundary.
      const head = end - pos >= 2 ? headerBytesOf(chunk[pos + 1]!) : 14;
      if (end - pos < head) {
        // The read cut this header: the decoder holds its start; we keep a copy to learn its length.
        src.cutHead ??= Buffer.allocUnsafe(14);
        src.cutHeadBytes = chunk.copy(src.cutHead, 0, pos, end);
        decoder.decode(chunk, (src.sink ??= this.passSink(src, tally)), pos);
        return end;
      }
      const b0 = chunk[pos]!;
      const opcode = b0 & 0x0f;
      const length = payloadLengthOf(chunk, pos);
      if (
        (b0 & 0xb0) !== 0x80 || // FIN set, RSV2 and RSV3 clear
        (opcode !== Opcode.Text && opcode !== Opcode.Binary) ||
        ((b0 & 0x40) !== 0 && !src.rsv1Allowed) ||
        (chunk[pos + 1]! & 0x80) !== (remask ? 0x80 : 0) ||
        length > decoder.maxMessageBytes ||
        decoder.inMessage
      ) {
        src.decoderOwes = head + length;
        continue;
      }
      const payloadStart = pos + head;
      const frameEnd = payloadStart + length;
      const stop = frameEnd < end ? frameEnd : end;
      src.passLeft = frameEnd - stop;
      // RFC 6455 5.5.1: nothing more to a side we sent a close to.
      if (!dst.closeSent) {
        if (remask) {
          src.passR = rekeyInPlace(chunk, payloadStart - 4);
          remaskPiece(chunk, payloadStart, stop, src.passR, 0);
        }
        dst.raw(chunk, pos, stop);
        dst.cutFrame = src.passLeft !== 0;
      }
      src.passKeyOffset = (stop - payloadStart) & 3;
      tally.piece(opcode, stop - payloadStart, true, (b0 & 0x40) !== 0);
      if (src.passLeft === 0) tally.frameEnd(true);
      pos = stop;
    }
    return end;
  }

  /**
   * Adds the bytes at `chunk[pos, ...)` to a header a read cut, until it is
   * whole; then sets how many bytes of this read on the decoder is owed to
   * finish that frame.
   */
  private completeCutHead(src: Side, chunk: Buffer, pos: number): void {
    const cutHead = src.cutHead!;
    const before = src.cutHeadBytes;
    // The second byte says how long the header is.
    if (before === 1) cutHead[1] = chunk[pos]!;
    const head = headerBytesOf(cutHead[1]!);
    const take = Math.min(head - before, chunk.length - pos);
    chunk.copy(cutHead, before, pos, pos + take);
    if (before + take < head) {
      src.cutHeadBytes = before + take;
      return;
    }
    src.cutHeadBytes = 0;
    src.decoderOwes = head - before + payloadLengthOf(cutHead, 0);
  }

  private resume(src: Side): void {
    if (src.waitingDrain || src.sink?.paused || src.gone) return;
    const held = src.held;
    if (held !== undefined) {
      src.held = undefined;
      this.feed(src, held.chunk, held.offset);
    }
    if (src.held === undefined && !src.waitingDrain && !src.sink?.paused) src.socket.resume();
  }

  /** Frames passed on as they are (see the top of this file). */
  private passSink(src: Side, tally: FrameTally): DecoderSink & { paused: boolean } {
    const dst = src.peer;
    const decoder = src.decoder;
    const remask = src.name === 'client';
    let inPlace = false;
    return {
      paused: false,
      data: (opcode, chunk, start, end, messageStart, messageEnd, frameEnd, compressed) => {
        let from = start;
        if (tally.piece(opcode, end - start, messageStart, compressed)) {
          const headerStart = decoder.frameStart;
          // An empty frame's piece is not in the chunk (it has no bytes): encode it anew.
          inPlace = headerStart >= 0 && chunk.length > 0;
          if (inPlace) {
            from = headerStart;
            if (remask) src.passR = rekeyInPlace(chunk, start - 4);
          }
        }
        // RFC 6455 5.5.1: nothing more to a side we sent a close to.
        if (!dst.closeSent) {
          if (inPlace) {
            if (remask) remaskPiece(chunk, start, end, src.passR, decoder.pieceKeyOffset);
            dst.raw(chunk, from, end);
            dst.cutFrame = !frameEnd;
          } else {
            if (remask && end > start) maskInPlace(chunk, start, end, decoder.frameMaskKey, decoder.pieceKeyOffset);
            dst.encode(messageStart ? opcode : Opcode.Continuation, chunk.subarray(start, end), messageEnd, messageStart && compressed);
          }
        }
        if (frameEnd) tally.frameEnd(messageEnd);
      },
      control: (opcode, payload) => this.control(src, opcode, payload, tally),
      close: (code, reason, payload) => this.closeFrom(src, code, reason, payload, tally),
      error: (error) => this.failFrom(src, error),
    };
  }

  /** Whole messages, shown to `onMessage`, then sent as one frame each. */
  private messageSink(src: Side, tally: FrameTally): DecoderSink & { paused: boolean } {
    const dst = src.peer;
    const decoder = src.decoder;
    const metrics = tally.metrics;
    const assembler = new MessageAssembler();
    return {
      paused: false,
      data: (opcode, chunk, start, end, messageStart, messageEnd, frameEnd, compressed) => {
        tally.piece(opcode, end - start, messageStart, compressed);
        if (frameEnd) tally.frameEnd(messageEnd);
        const remaining = compressed ? undefined : decoder.messageRemainingBytes;
        const message = assembler.add(opcode, chunk.subarray(start, end), messageStart, messageEnd, remaining);
        if (message === undefined || dst.closeSent) return;
        const data = message.data as Buffer;
        if (!compressed) return this.judge(src, opcode, data, metrics);
        if (src.inflater === undefined) return this.failFrom(src, new ProtocolError(ErrorCode.ReservedBits, 'RSV1 without compression'));
        this.wait(src, (done) =>
          src.inflater!.inflate(opcode, [data], (error, payload) => {
            if (src.gone) return;
            if (error) return this.failFrom(src, error);
            metrics.inflated += 1;
            this.judge(src, opcode, payload, metrics);
            done();
          }),
        );
      },
      control: (opcode, payload) => this.control(src, opcode, payload, tally),
      close: (code, reason, payload) => this.closeFrom(src, code, reason, payload, tally),
      error: (error) => this.failFrom(src, error),
    };
  }

  /** Shows a message to the hook and sends what it decides. */
  private judge(src: Side, opcode: number, data: Buffer, metrics: DirectionMetrics): void {
    const direction: Direction = src.name === 'client' ? 'client-to-upstream' : 'upstream-to-client';
    const message: RelayMessage = {
      type: opcode === Opcode.Text ? 'text' : 'binary',
      data,
      text: () => data.toString('utf8'),
    };
    let verdict: MessageVerdict | Promise<MessageVerdict>;
    try {
      verdict = this.config.onMessage!(message, direction, this);
    } catch (error) {
      return this.hookFailed(error);
    }
    if (isThenable(verdict)) {
      this.wait(src, (done) =>
        Promise.resolve(verdict).then(
          (settled) => {
            if (src.gone) return;
            this.apply(src, opcode, data, settled, metrics);
            done();
          },
          (error: unknown) => this.hookFailed(error),
        ),
      );
      return;
    }
    this.apply(src, opcode, data, verdict, metrics);
  }

  private apply(src: Side, opcode: number, data: Buffer, verdict: MessageVerdict, metrics: DirectionMetrics): void {
    const dst = src.peer;
    if (dst.closeSent) return;
    if (verdict === false) {
      metrics.dropped += 1;
      return;
    }
    let payload: string | Uint8Array = data;
    if (typeof verdict === 'string') {
      opcode = Opcode.Text;
      payload = verdict;
      metrics.replaced += 1;
    } else if (verdict instanceof Uint8Array) {
      opcode = Opcode.Binary;
      payload = verdict;
      metrics.replaced += 1;
    } else if (typeof verdict === 'object' && verdict !== null) {
      if (typeof verdict.data !== 'string' && !(verdict.data instanceof Uint8Array)) {
        return this.hookFailed(new UsageError(ErrorCode.InvalidOption, 'onMessage returned an object whose data is neither a string nor a Uint8Array'));
      }
      opcode = (verdict.binary ?? typeof verdict.data !== 'string') ? Opcode.Binary : Opcode.Text;
      payload = verdict.data;
      metrics.replaced += 1;
    } else if (verdict !== undefined && verdict !== true) {
      return this.hookFailed(new UsageError(ErrorCode.InvalidOption, `onMessage returned ${typeof verdict}, not a verdict`));
    }
    const deflater = dst.deflater;
    if (deflater === undefined) {
      dst.encode(opcode, payload, true, false);
      return;
    }
    // Compressed with dst's own context: decoding src waits, so nothing overtakes the message.
    this.wait(src, (done) =>
      deflater.frame({ opcode, payload, fin: true }, (error, frame) => {
        if (dst.gone || src.gone) return;
        if (error) return this.hookFailed(error);
        if (frame.rsv1) metrics.deflated += 1;
        if (!dst.closeSent) dst.encode(frame.opcode, frame.payload, true, frame.rsv1 ?? false);
        done();
      }),
    );
  }

  /**
   * Runs `work`, which calls `done` when finished, maybe at once. Until then
   * decoding src stops (the decoder returns where it stopped; the socket is
   * paused), so that messages keep their order; then what it produced is
   * written and decoding goes on.
   */
  private wait(src: Side, work: (done: () => void) => void): void {
    src.pending += 1;
    src.sink!.paused = true;
    let synchronous = true;
    work(() => {
      src.pending -= 1;
      if (src.pending > 0) return;
      src.sink!.paused = false;
      if (synchronous) return;
      src.peer.flush();
      this.resume(src);
    });
    synchronous = false;
  }

  // RFC 6455 5.5.2/5.5.3: pings and pongs are forwarded; the far end answers its own pings.
  private control(src: Side, opcode: number, payload: Buffer, tally: FrameTally): void {
    tally.control(opcode, payload.length);
    const dst = src.peer;
    if (dst.closeSent) return;
    dst.encode(opcode, payload, true, false);
  }

  /** `src` sent a close frame: forward it; a closing handshake that is complete ends its TCP connection. */
  private closeFrom(src: Side, code: number | undefined, reason: string, payload: Buffer, tally: FrameTally): void {
    tally.control(Opcode.Close, payload.length);
    src.closeReceived = true;
    src.received = { code: code ?? CloseCode.NoStatusReceived, reason };
    const dst = src.peer;
    if (!dst.closeSent) this.sendClose(dst, code, reason);
    this.settle(src);
    this.settle(dst);
  }

  /** RFC 6455 7.1.7: fail `src` with the error's code, and close the other side as a gateway would. */
  private failFrom(src: Side, error: ProtocolError): void {
    src.error ??= error;
    this.config.error(this, error, src.name);
    src.closeReceived = true; // nothing more is read from it
    if (!src.closeSent) this.sendClose(src, error.closeCode, '');
    this.finish(src);
    const dst = src.peer;
    // 1014: the upstream (the server behind this gateway) broke; 1011: the client did, an unexpected condition here.
    if (!dst.closeSent) this.sendClose(dst, src === this.upstream ? CloseCode.BadGateway : CloseCode.InternalError, `${src.name} protocol error`);
    this.settle(dst);
  }

  private hookFailed(cause: unknown): void {
    const error = cause instanceof Error ? cause : new WebSocketError(ErrorCode.SendFailed, String(cause));
    this.config.error(this, error, 'hook');
    for (const side of [this.client, this.upstream]) {
      if (side.sink) side.sink.paused = false;
      if (!side.closeSent) this.sendClose(side, CloseCode.InternalError, 'relay hook failed');
      side.closeReceived = true;
      this.finish(side);
    }
  }

  /** `side`'s socket is closed; the other side is told if no close frame came first. */
  private gone(side: Side): void {
    side.gone = true;
    clearTimeout(side.closeTimer);
    side.inflater?.close();
    side.deflater?.close();
    const other = side.peer;
    if (!side.closeReceived && !other.closeSent) {
      // 1014: the server behind the gateway vanished; 1001: the client went away.
      const code = side === this.upstream ? CloseCode.BadGateway : CloseCode.GoingAway;
      this.sendClose(other, code, `${side.name} connection lost`);
    }
    if (other.gone) return this.ended();
    this.settle(other);
    // What `other` sends may be read again (and passed to no one).
    this.drained(side);
  }

  private sendClose(side: Side, code: number | undefined, reason: string): void {
    side.closeSent = true;
    side.sent = { code: code ?? CloseCode.NoStatusReceived, reason };
    if (side.gone) return;
    if (side.cutFrame) {
      // A frame to this side was cut short: a close frame would be read as its payload. Hang up instead.
      this.finish(side);
      return;
    }
    side.encode(Opcode.Close, code === undefined ? Buffer.alloc(0) : encodeClosePayload(code, reason), true, false);
    side.flush();
    // The side has closeTimeoutMs to answer and hang up.
    clearTimeout(side.closeTimer);
    side.closeTimer = setTimeout(() => side.socket.destroy(), this.config.closeTimeoutMs).unref();
  }

  private settle(side: Side): void {
    if (side.closeSent && side.closeReceived) this.finish(side);
  }

  /** The closing handshake with `side` is over (or failed): end its TCP connection. */
  private finish(side: Side): void {
    if (side.gone || side.socket.writableEnded) return;
    side.flush();
    side.socket.end();
    clearTimeout(side.closeTimer);
    side.closeTimer = setTimeout(() => side.socket.destroy(), this.config.closeTimeoutMs).unref();
  }

  private ended(): void {
    if (this.reported) return;
    this.reported = true;
    const report = (side: Side): SideClose => ({ received: side.received, sent: side.sent, error: side.error });
    this.config.ended(this, { client: report(this.client), upstream: report(this.upstream) });
  }
}
