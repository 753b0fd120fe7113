import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, type DecoderSink } from '../../src/protocol/frame-decoder.js';
import { FrameEncoder } from '../../src/protocol/frame-encoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { FrameEncoderStream } from '../../src/streams/frame-encoder-stream.js';

/** A loopback TCP pair: what the server side writes, the client socket reads. */
async function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = (await accepted) as [net.Socket];
  return {
    client,
    server,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

describe('FrameDecoderStream.readFrom', () => {
  it('decodes what the socket reads, pauses it while the sink is paused, and ends with it', async () => {
    const { client, server, close } = await socketPair();
    try {
      const texts: string[] = [];
      let pauseAt = 3;
      const sink: DecoderSink = {
        paused: false,
        data(_opcode, chunk, start, end) {
          texts.push(chunk.toString('utf8', start, end));
          if (texts.length === pauseAt) sink.paused = true;
        },
        control() {},
        close() {},
        error(error) {
          throw error;
        },
      };
      const decoder = new FrameDecoderStream({ role: 'client', sink });
      decoder.readFrom(client);
      const encoder = new FrameEncoder({ role: 'server' });
      const sent = Array.from({ length: 2000 }, (_, i) => `message ${i}`);
      for (const text of sent) encoder.add({ opcode: 1, payload: text });
      // One write: the pause falls inside a chunk, so the rest of it is held.
      server.write(Buffer.concat(encoder.take()));
      for (let waited = 0; texts.length < pauseAt && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      expect(texts).toHaveLength(pauseAt);
      await new Promise((r) => setTimeout(r, 50));
      expect(texts).toHaveLength(pauseAt); // nothing delivered while paused
      expect(client.isPaused()).toBe(true);
      pauseAt = -1;
      sink.paused = false;
      decoder.resumeSink();
      server.end();
      await once(decoder, 'end');
      expect(texts).toEqual(sent);
    } finally {
      close();
    }
  });
});

describe('FrameEncoderStream.writeTo', () => {
  it('writes batches straight to the socket, in order, and ends it when the stream ends', async () => {
    const { client, server, close } = await socketPair();
    try {
      const received: Buffer[] = [];
      server.on('data', (chunk: Buffer) => received.push(chunk));
      const serverEnded = once(server, 'end');
      const encoder = new FrameEncoderStream({ role: 'client' });
      encoder.writeTo(client);
      const big = Buffer.alloc(100_000, 7);
      encoder.enqueueMessage(Opcode.Text, 'small');
      encoder.enqueueMessage(Opcode.Binary, big);
      encoder.write({ opcode: Opcode.Ping, payload: 'p' });
      encoder.enqueueMessage(Opcode.Text, 'last');
      expect(encoder.readableLength).toBe(0); // nothing waits on the readable side
      encoder.end({ opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]) });
      await serverEnded;
      const decoder = new FrameDecoder({ role: 'server' });
      const seen = decoder.push(Buffer.concat(received)).map((e) => (e.type === 'data' ? `${e.opcode}:${e.payload.length}` : e.type));
      expect(seen).toEqual(['1:5', '2:100000', 'ping', '1:4', 'close']);
    } finally {
      close();
    }
  });
});
