import type * as net from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FLUSH_AT_ONCE_BYTES, FramePool, framePool, FrameWriter } from '../../src/streams/frame-writer.js';
import { once, socketPair } from '../helpers/socket-pair.js';

/** Reads what `server` receives until it ends, decoded as client frames (masked). */
function framesReceived(server: net.Socket): Promise<{ opcode: number; payload: Buffer }[]> {
  const decoder = new FrameDecoder({ role: 'server' });
  const frames: { opcode: number; payload: Buffer }[] = [];
  server.on('data', (chunk: Buffer) => {
    for (const event of decoder.push(chunk)) {
      if (event.type === 'data' && event.messageStart) frames.push({ opcode: event.opcode, payload: Buffer.from(event.payload) });
      else if (event.type === 'data') frames.at(-1)!.payload = Buffer.concat([frames.at(-1)!.payload, event.payload]);
      else if (event.type === 'ping') frames.push({ opcode: Opcode.Ping, payload: Buffer.from(event.payload) });
    }
  });
  return once(server, 'end').then(() => frames);
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FrameWriter (the client\'s encoder, writing straight to the socket)', () => {
  it('batches small frames until the end of the turn, in order, then ends the socket with end()', async () => {
    const { client, server, close } = await socketPair();
    try {
      const received = framesReceived(server);
      const writer = new FrameWriter(client, { role: 'client' });
      for (let i = 0; i < 100; i++) writer.enqueueMessage(Opcode.Text, `message ${i}`);
      writer.enqueue({ opcode: Opcode.Ping, payload: Buffer.from('p') });
      expect(writer.pendingBytes).toBeGreaterThan(0);
      expect(client.bytesWritten).toBe(0);
      await turn();
      expect(writer.pendingBytes).toBe(0);
      writer.enqueueMessage(Opcode.Binary, Buffer.from([1, 2, 3]));
      writer.end(); // what is batched goes first
      writer.enqueueMessage(Opcode.Text, 'after end'); // dropped
      await turn();
      expect(writer.pendingBytes).toBe(0);
      const frames = await received;
      expect(frames).toHaveLength(102);
      expect(frames.slice(0, 100).map((f) => f.payload.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `message ${i}`));
      expect(frames[100]).toEqual({ opcode: Opcode.Ping, payload: Buffer.from('p') });
      expect(frames[101]).toEqual({ opcode: Opcode.Binary, payload: Buffer.from([1, 2, 3]) });
    } finally {
      close();
    }
  });

  it('hands a large frame to the socket at once, with what was batched before it', async () => {
    const { client, server, close } = await socketPair();
    try {
      const received = framesReceived(server);
      const writer = new FrameWriter(client, { role: 'client' });
      writer.enqueueMessage(Opcode.Text, 'small first');
      const big = Buffer.alloc(FLUSH_AT_ONCE_BYTES, 7);
      writer.enqueueMessage(Opcode.Binary, big);
      expect(writer.pendingBytes).toBe(0);
      expect(client.bytesWritten + client.writableLength).toBeGreaterThan(FLUSH_AT_ONCE_BYTES);
      writer.end();
      const frames = await received;
      expect(frames.map((f) => f.payload.length)).toEqual([11, FLUSH_AT_ONCE_BYTES]);
      expect(frames[1]!.payload.equals(big)).toBe(true);
    } finally {
      close();
    }
  });

  it('destroy() drops what is batched and what comes after, and leaves the socket open', async () => {
    const { client, server, close } = await socketPair();
    try {
      const writer = new FrameWriter(client, { role: 'client' });
      writer.enqueueMessage(Opcode.Text, 'never sent');
      writer.destroy();
      writer.enqueueMessage(Opcode.Text, 'nor this');
      await turn();
      expect(writer.pendingBytes).toBe(0);
      expect(client.bytesWritten).toBe(0);
      expect(client.writableEnded).toBe(false);
      const received = framesReceived(server);
      client.end();
      expect(await received).toEqual([]);
    } finally {
      close();
    }
  });
});

/** A deterministic payload of `length` bytes, different for every `seed`. */
function payloadOf(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

describe('FramePool (recycled memory of large frames)', () => {
  it('hands back a buffer of the size class, keeps at most maxFreeBytes, and lets a new size class evict the others', () => {
    const pool = new FramePool(16 * 1024, 1 << 20, 3 * 64 * 1024);
    expect(pool.pools(16 * 1024 - 1)).toBe(false);
    expect(pool.pools(16 * 1024)).toBe(true);
    expect(pool.pools((1 << 20) + 1)).toBe(false);
    const a = pool.take(60_000);
    expect(a.length).toBe(60 * 1024); // 4 KiB classes
    const b = pool.take(61_000);
    pool.give([a, b]);
    expect(pool.heldBytes).toBe(2 * 60 * 1024);
    const back = [pool.take(59_000), pool.take(60 * 1024)];
    expect(back.includes(a) && back.includes(b)).toBe(true); // the same memory, not copies
    expect(pool.heldBytes).toBe(0);
    pool.give([a, b, pool.take(60_000), pool.take(60_000)]);
    expect(pool.heldBytes).toBe(3 * 60 * 1024); // the fourth did not fit
    const other = pool.take(100_000);
    pool.give([other]); // evicts the 60 KiB class
    expect(pool.heldBytes).toBe(other.length);
    expect(pool.take(100_000)).toBe(other);
    pool.clear();
    expect(pool.heldBytes).toBe(0);
  });
});

describe('FrameWriter recycling large frames (to a net.Socket)', () => {
  it('reuses the memory of written frames, and every frame arrives intact: sizes that share a class, strings, batches', async () => {
    framePool.clear();
    const { client, server, close } = await socketPair();
    try {
      const received = framesReceived(server);
      const writer = new FrameWriter(client, { role: 'client' });
      // Lengths around the pool's bounds and within one 4 KiB class, so a reused buffer
      // held a longer frame before a shorter one.
      const lengths = [16 * 1024 - 10, 16 * 1024, 20_000, 20_479, 20_000, 70_000, 65_536, 1 << 20, (1 << 20) - 3, 1 << 20, 300_000];
      const sent: Buffer[] = [];
      for (let round = 0; round < 3; round++) {
        for (const [i, length] of lengths.entries()) {
          const payload = payloadOf(length, round * 100 + i);
          sent.push(payload);
          writer.enqueueMessage(Opcode.Binary, payload);
          if (i % 3 === 0) await turn(); // some alone, some batched with others
        }
        const text = 'ü'.repeat(20_000) + String(round); // a large string: encoded into a pooled frame
        sent.push(Buffer.from(text));
        writer.enqueueMessage(Opcode.Text, text);
        await turn();
        await new Promise<void>((resolve) => client.write(Buffer.alloc(0), () => resolve()));
        expect(framePool.heldBytes).toBeGreaterThan(0); // written frames came back
      }
      writer.end();
      const frames = await received;
      expect(frames).toHaveLength(sent.length);
      for (const [i, frame] of frames.entries()) expect(frame.payload.equals(sent[i]!), `frame ${i}`).toBe(true);
    } finally {
      close();
      framePool.clear();
    }
  });

  it('to any other Duplex (one that may keep the buffer: a PassThrough), fresh memory, and the pool is left alone', async () => {
    framePool.clear();
    const pass = new PassThrough();
    const chunks: Buffer[] = [];
    pass.on('data', (chunk: Buffer) => chunks.push(chunk)); // kept, as such a consumer may
    const writer = new FrameWriter(pass, { role: 'client', maskKey: (target, offset) => target.set([1, 2, 3, 4], offset) });
    const payloads = [payloadOf(100_000, 1), payloadOf(100_000, 2)];
    for (const payload of payloads) {
      writer.enqueueMessage(Opcode.Binary, payload);
      await turn();
    }
    writer.end();
    await once(pass, 'end');
    expect(framePool.heldBytes).toBe(0);
    const decoder = new FrameDecoder({ role: 'server' });
    const got = decoder.push(Buffer.concat(chunks)).map((e) => (e.type === 'data' ? Buffer.from(e.payload) : Buffer.alloc(0)));
    expect(got.map((b, i) => b.equals(payloads[i]!))).toEqual([true, true]);
    expect(chunks[0]!.buffer).not.toBe(chunks[1]!.buffer); // two buffers, not one reused
  });

  it('destroy() with pooled frames in the batch does not return them to the pool', async () => {
    framePool.clear();
    const { client, close } = await socketPair();
    try {
      const writer = new FrameWriter(client, { role: 'client' });
      writer.enqueueMessage(Opcode.Binary, payloadOf(100_000, 2));
      writer.destroy();
      await turn();
      expect(client.bytesWritten).toBe(0);
      expect(framePool.heldBytes).toBe(0);
    } finally {
      close();
    }
  });
});
