import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameEncoderStream } from '../../src/streams/frame-encoder-stream.js';

describe('FrameEncoderStream.enqueueMessage', () => {
  it('batches with enqueue() in call order and reports backpressure the same way', async () => {
    const encoder = new FrameEncoderStream({ role: 'client', highWaterMarkBytes: 4096 });
    const chunks: Buffer[] = [];
    encoder.on('data', (chunk: Buffer) => chunks.push(chunk));
    expect(encoder.enqueueMessage(Opcode.Text, 'one')).toBe(true);
    encoder.enqueue({ opcode: Opcode.Ping, payload: 'p' });
    expect(encoder.enqueueMessage(Opcode.Binary, Buffer.from('two'))).toBe(true);
    expect(encoder.enqueueMessage(Opcode.Binary, Buffer.alloc(5000))).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    const decoder = new FrameDecoder({ role: 'server' });
    const seen = decoder.push(Buffer.concat(chunks)).map((e) => (e.type === 'data' ? `${e.opcode}:${e.payload.length}` : e.type));
    expect(seen).toEqual(['1:3', 'ping', '2:3', '2:5000']);
    encoder.destroy();
  });

  it('hands a frame of 256 KiB or more over at once, with the small ones batched before it; smaller ones wait for the end of the turn', async () => {
    const encoder = new FrameEncoderStream({ role: 'client' });
    const chunks: Buffer[] = [];
    encoder.on('data', (chunk: Buffer) => chunks.push(chunk));
    encoder.enqueueMessage(Opcode.Text, 'before');
    encoder.enqueueMessage(Opcode.Binary, Buffer.alloc(200 * 1024));
    expect(chunks).toHaveLength(0); // batched: the end of the turn pushes them
    expect(encoder.enqueueMessage(Opcode.Binary, Buffer.alloc(256 * 1024))).toBe(true);
    // Pushed already, in order, and no longer counted as buffered.
    expect(encoder.bufferedBytes).toBe(0);
    encoder.enqueueMessage(Opcode.Text, 'after');
    await new Promise((resolve) => setImmediate(resolve));
    const decoder = new FrameDecoder({ role: 'server' });
    const seen = decoder.push(Buffer.concat(chunks)).map((e) => (e.type === 'data' ? `${e.opcode}:${e.payload.length}` : e.type));
    expect(seen).toEqual(['1:6', `2:${200 * 1024}`, `2:${256 * 1024}`, '1:5']);
    encoder.destroy();
  });
});
