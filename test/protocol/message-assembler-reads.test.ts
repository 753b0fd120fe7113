// MessageAssembler's support for reading straight into message memory
// (src/client/socket-reader.ts): transient pieces, unfilled() for a message of
// known size, and gather mode for a fragmented one, with reads simulated by
// writing into the buffers it hands out.
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { MessageAssembler } from '../../src/protocol/message-assembler.js';

const BINARY = 2;

function bytes(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

/** Splits `payload` into pieces of `size` (the last one shorter). */
function split(payload: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) pieces.push(Buffer.from(payload.subarray(i, i + size)));
  return pieces;
}

function addAll(assembler: MessageAssembler, pieces: Buffer[], transient = false): Buffer {
  let out;
  pieces.forEach((piece, i) => {
    out = assembler.add(BINARY, piece, i === 0, i === pieces.length - 1, undefined, transient);
  });
  return out!.data as Buffer;
}

describe('MessageAssembler: transient pieces', () => {
  it('copies a transient piece it keeps, so reusing the read buffer changes nothing', () => {
    const assembler = new MessageAssembler();
    const read = Buffer.from('abcdef');
    assembler.add(BINARY, read.subarray(0, 3), true, false, undefined, true);
    read.fill(0x7a); // the next read overwrites it
    const message = assembler.add(BINARY, Buffer.from('def'), false, true, undefined, true);
    expect(message!.data.toString()).toBe('abcdef');
  });

  it('copies a transient whole message', () => {
    const read = Buffer.from('whole');
    const message = new MessageAssembler().add(BINARY, read, true, true, undefined, true);
    read.fill(0);
    expect(message!.data.toString()).toBe('whole');
  });
});

describe('MessageAssembler: unfilled() (size known from the header)', () => {
  it('hands out the rest of the message buffer; pieces read into it are not copied', () => {
    const assembler = new MessageAssembler();
    const payload = bytes(100_000, 1);
    assembler.add(BINARY, payload.subarray(0, 1000), true, false, 99_000);
    expect(assembler.unfilled(16 * 1024)).toBeDefined();
    const rest = assembler.unfilled(16 * 1024)!;
    expect(rest.length).toBe(99_000);
    payload.copy(rest, 0, 1000, 60_000); // a read of 59,000 bytes
    expect(assembler.add(BINARY, rest.subarray(0, 59_000), false, false)).toBeUndefined();
    // Once handed out, to the end, however little is left.
    const tail = assembler.unfilled(16 * 1024)!;
    expect(tail.length).toBe(40_000);
    expect(tail.buffer).toBe(rest.buffer);
    payload.copy(tail, 0, 60_000);
    const message = assembler.add(BINARY, tail, false, true)!;
    expect(Buffer.compare(message.data as Buffer, payload)).toBe(0);
    expect((message.data as Buffer).buffer).toBe(rest.buffer);
    expect(assembler.unfilled(1)).toBeUndefined();
  });

  it('hands out nothing when less than the minimum is missing and nothing was handed out', () => {
    const assembler = new MessageAssembler();
    assembler.add(BINARY, bytes(1000, 1), true, false, 500);
    expect(assembler.unfilled(16 * 1024)).toBeUndefined();
    expect(assembler.unfilled(100)!.length).toBe(500);
  });

  it('a piece from another buffer that shares the ArrayBuffer (Node\'s pool) is copied, not moved', () => {
    const assembler = new MessageAssembler();
    // Small buffers share the pool: the target and the pieces may be slices of one ArrayBuffer.
    const first = Buffer.from('0123456789');
    assembler.add(BINARY, first, true, false, 10);
    const second = Buffer.from('abcdefghij');
    const message = assembler.add(BINARY, second, false, true)!;
    expect(message.data.toString()).toBe('0123456789abcdefghij');
  });
});

describe('MessageAssembler: gather (size unknown, fragmented)', () => {
  it('gathers the pieces of a message into one buffer', () => {
    const payload = bytes(50_000, 2);
    const data = addAll(new MessageAssembler({ gather: true }), split(payload, 3000));
    expect(Buffer.compare(data, payload)).toBe(0);
  });

  it('sizes the buffer like the last gathered message: the next one of that size fills it exactly', () => {
    const assembler = new MessageAssembler({ gather: true });
    addAll(assembler, split(bytes(300_000, 3), 16 * 1024));
    const payload = bytes(300_000, 4);
    const data = addAll(assembler, split(payload, 16 * 1024));
    expect(Buffer.compare(data, payload)).toBe(0);
    expect(data.buffer.byteLength).toBe(300_000);
  });

  it('a much smaller message after a large one is copied to its size instead of pinning the large buffer', () => {
    const assembler = new MessageAssembler({ gather: true });
    addAll(assembler, split(bytes(1_000_000, 5), 64 * 1024));
    const payload = bytes(10_000, 6);
    const data = addAll(assembler, split(payload, 1000));
    expect(Buffer.compare(data, payload)).toBe(0);
    expect(data.buffer.byteLength).toBeLessThan(100_000);
  });

  it('never sizes its first guess beyond maxBytes', () => {
    const assembler = new MessageAssembler({ gather: true, maxBytes: 5000 });
    const payload = bytes(5000, 7);
    const data = addAll(assembler, split(payload, 2500));
    expect(Buffer.compare(data, payload)).toBe(0);
    expect(data.buffer.byteLength).toBeLessThanOrEqual(8192); // 5000 own, or a pool slab
  });

  it('reads into the free part: pieces are moved down over the frame headers read between them', () => {
    const assembler = new MessageAssembler({ gather: true });
    const payload = bytes(200_000, 8);
    addAll(assembler, split(bytes(200_000, 9), 50_000)); // the guess for the next: 200,000
    assembler.add(BINARY, payload.subarray(0, 10_000), true, false);
    expect(assembler.gatherInto(64 * 1024)).toBeDefined();
    // A "read" of [header 4][piece 30,000][ping frame 7][header 4][piece 40,000], straight into the free part.
    const free = assembler.gatherInto(64 * 1024)!;
    expect(assembler.gathersInto(free)).toBe(true);
    let at = 0;
    const put = (source: Buffer): Buffer => {
      source.copy(free, at);
      const view = free.subarray(at, at + source.length);
      at += source.length;
      return view;
    };
    put(Buffer.from([0x00, 126, 0x75, 0x30]));
    const a = put(payload.subarray(10_000, 40_000));
    put(Buffer.from([0x89, 0x05, 1, 2, 3, 4, 5]));
    put(Buffer.from([0x00, 126, 0x9c, 0x40]));
    const b = put(payload.subarray(40_000, 80_000));
    expect(assembler.add(BINARY, a, false, false)).toBeUndefined();
    expect(assembler.add(BINARY, b, false, false)).toBeUndefined();
    // The rest in ordinary (copied) pieces, growing nothing: the guess was right.
    const message = assembler.add(BINARY, Buffer.from(payload.subarray(80_000)), false, true)!;
    expect(Buffer.compare(message.data as Buffer, payload)).toBe(0);
    expect((message.data as Buffer).buffer).toBe(free.buffer);
  });

  it('gatherInto() hands out nothing for a message of known size, when too little is free, or with no message', () => {
    const assembler = new MessageAssembler({ gather: true });
    expect(assembler.gatherInto(1)).toBeUndefined();
    assembler.add(BINARY, bytes(100, 1), true, false, 100_000);
    expect(assembler.gatherInto(1)).toBeUndefined();
    const small = new MessageAssembler({ gather: true });
    small.add(BINARY, bytes(100, 1), true, false);
    expect(small.gatherInto(64 * 1024)).toBeUndefined(); // a 4 KiB first guess
    expect(small.gatherInto(1000)!.length).toBe(4096 - 100);
  });

  it("concat: false (fragments: 'list') never gathers", () => {
    const assembler = new MessageAssembler({ concat: false, gather: true });
    const pieces = split(bytes(10_000, 1), 4000);
    let out;
    pieces.forEach((piece, i) => (out = assembler.add(BINARY, piece, i === 0, i === pieces.length - 1)));
    expect((out!.data as Buffer[]).length).toBe(3);
    expect((out!.data as Buffer[])[0]).toBe(pieces[0]);
  });
});

describe('FrameDecoder.finalPayloadRemainingBytes', () => {
  const sink = { data: () => {}, control: () => {}, close: () => {}, error: () => {} };

  it('counts what is left of a final data frame between decode() calls, and nothing otherwise', () => {
    const decoder = new FrameDecoder({ role: 'client' });
    // A final binary frame of 300 bytes, cut after 100 payload bytes.
    const frame = Buffer.concat([Buffer.from([0x82, 126, 0x01, 0x2c]), Buffer.alloc(300, 1)]);
    decoder.decode(frame.subarray(0, 104), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(200);
    decoder.decode(frame.subarray(104, 254), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(50);
    decoder.decode(frame.subarray(254), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(0);
    // A non-final frame: the message goes on after it, so its rest is not "final".
    decoder.decode(Buffer.concat([Buffer.from([0x02, 10]), Buffer.alloc(4)]), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(0);
    // A control frame between fragments: not a data frame.
    decoder.decode(Buffer.concat([Buffer.alloc(6), Buffer.from([0x89, 10]), Buffer.alloc(3)]), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(0);
    decoder.decode(Buffer.alloc(7), sink);
    // The final continuation frame, cut in its payload.
    decoder.decode(Buffer.concat([Buffer.from([0x80, 20]), Buffer.alloc(5)]), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(15);
    // Cut inside a header: nothing to count yet.
    const other = new FrameDecoder({ role: 'client' });
    other.decode(Buffer.from([0x82, 126, 0x01]), sink);
    expect(other.finalPayloadRemainingBytes).toBe(0);
  });

  it('is 0 for a compressed message (its bytes go to the inflater, not a message buffer)', () => {
    const decoder = new FrameDecoder({ role: 'client', perMessageCompression: true });
    decoder.decode(Buffer.concat([Buffer.from([0xc2, 100]), Buffer.alloc(10)]), sink);
    expect(decoder.finalPayloadRemainingBytes).toBe(0);
  });
});
