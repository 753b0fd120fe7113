// Reading a plain TCP (or unix) socket into memory we choose, with Node's
// `net.connect({ onread })` (issue 12, receive speed). Without it, every read
// of a socket is a new 64 KiB allocation pushed through the socket's Readable
// machinery, and a large message is then copied once more into its own buffer.
// With it, a read goes into one of three places (the socket's listener picks
// the next one right after each read, see `ReadSink.nextRead()`):
//
// - the process's one shared read buffer (the default): nothing per
//   connection, no allocation per read, no garbage; the bytes are overwritten
//   by the next read of any socket, so whatever outlives the read must be
//   copied out by the sink (a string decoded from it needs no copy);
// - the rest of a large message's own buffer, once its header said how long
//   it is: the kernel copies the payload straight into the message, and no
//   JavaScript copy is left;
// - the free part of the buffer a fragmented message (of unknown size) is
//   gathered in: its frame headers are read there too, and the assembler
//   moves each piece down over them, in memory still hot from the read.
//
// TLS sockets, proxy tunnels and a user's `createConnection` keep the
// socket's 'data' events.
import type * as net from 'node:net';

/**
 * The shared read buffer's size, one per process: four times what Node reads
 * per 'data' event, so that a stream of small messages takes fewer reads
 * (1 KiB text: about 0.87 against 0.93 µs CPU per message with 64 KiB, on a
 * loaded machine).
 */
const SHARED_READ_BYTES = 256 * 1024;
/**
 * After a large message (`LARGE_MESSAGE_BYTES`), the next read is limited to
 * this much: enough for any frame header (and a small message after it), so
 * that a next large payload can go straight into its buffer too (a few
 * hundred payload bytes are copied, not a whole read's worth).
 */
const HEADER_READ_BYTES = 1024;
/** A payload goes straight into its message's buffer when at least this much of it is still to come. */
export const DIRECT_READ_MIN_BYTES = 16 * 1024;
/** After a message of this size or more, the next read is a header read (`headerReadBuffer()`). */
export const LARGE_MESSAGE_BYTES = 64 * 1024;
/** A fragmented message's next read goes into the buffer it is gathered in when at least this much of it is free. */
export const GATHER_READ_MIN_BYTES = 64 * 1024;

/** What a socket opened with `SOCKET_READ` hands its reads to (set with `attachReadSink()`). */
export interface ReadSink {
  /**
   * One read. `shared`: the bytes are in the shared read buffer, which the
   * next read of any socket overwrites; whatever the sink keeps past this
   * call (a view handed to the user, a held remainder) must be copied.
   */
  socketRead(bytes: Buffer, shared: boolean): void;
  /**
   * Called right after each read: where the next read of this socket goes,
   * as a view of memory the sink owns (never one that backs data already
   * handed out), or undefined for the shared read buffer.
   */
  nextRead(): Uint8Array | undefined;
}

/** The sink a socket feeds; also the carrier symbol the client's other shared socket listeners use. */
export const READ_SINK = Symbol('wspipe.attempt');
type Carrier = { [READ_SINK]?: ReadSink };

let sharedBuffer: Buffer | undefined;
let headerView: Buffer | undefined;

function shared(): Buffer {
  return (sharedBuffer ??= Buffer.allocUnsafeSlow(SHARED_READ_BYTES));
}

/** The shared buffer's first `HEADER_READ_BYTES`: a read after a message that went straight into its buffer. */
export function headerReadBuffer(): Buffer {
  return (headerView ??= shared().subarray(0, HEADER_READ_BYTES));
}

/** Set by `onRead` for the `nextBuffer` call that Node makes right after it, then cleared. */
let next: Uint8Array | undefined;

/** Reads that came before a sink was attached (a server that speaks first), copied. */
const early = new WeakMap<net.Socket, Buffer[]>();

function onRead(this: net.Socket, nread: number, buffer: Uint8Array): boolean {
  next = undefined;
  const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, nread);
  const isShared = buffer.buffer === sharedBuffer?.buffer;
  const sink = (this as Carrier)[READ_SINK];
  if (sink === undefined) {
    const list = early.get(this) ?? [];
    list.push(isShared ? Buffer.from(bytes) : bytes);
    early.set(this, list);
    return true;
  }
  try {
    sink.socketRead(bytes, isShared);
  } finally {
    // Even if the sink threw: the buffer just read into must not be read into again.
    next = sink.nextRead();
  }
  return true;
}

/** Node calls it once when the socket is set up, then right after every `onRead`. */
function nextBuffer(): Uint8Array {
  const buffer = next ?? shared();
  next = undefined;
  return buffer;
}

/**
 * The `onread` option for `net.connect`: one object for every socket (no
 * closure per connection). A socket opened with it emits no 'data'; its
 * reads go to the sink given to `attachReadSink()`. `pause()` and `resume()`
 * still stop and restart reading (Node stops the handle's reads).
 */
export const SOCKET_READ: net.OnReadOpts = { buffer: nextBuffer, callback: onRead };

/**
 * Makes `sink` the receiver of `socket`'s reads, and returns the reads that
 * came before (copies, in order), which the caller hands to it when ready.
 */
export function attachReadSink(socket: object, sink: ReadSink): Buffer[] | undefined {
  (socket as Carrier)[READ_SINK] = sink;
  const before = early.get(socket as net.Socket);
  if (before !== undefined) early.delete(socket as net.Socket);
  return before;
}
