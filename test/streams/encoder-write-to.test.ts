import { once } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { FrameEncoderStream } from '../../src/streams/frame-encoder-stream.js';

describe('FrameEncoderStream.writeTo', () => {
  it('writes batches straight to the socket, in order, and ends it when the stream ends', async () => {
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const accepted = once(listener, 'connection');
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    const [server] = (await accepted) as [net.Socket];
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
      client.destroy();
      server.destroy();
      listener.close();
    }
  });
});
