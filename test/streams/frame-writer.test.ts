import type * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FLUSH_AT_ONCE_BYTES, FrameWriter } from '../../src/streams/frame-writer.js';
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
