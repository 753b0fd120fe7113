import * as net from 'node:net';
import { acceptValue } from '../../src/protocol/handshake.js';

/**
 * A bare server on 127.0.0.1 that answers the opening handshake and then
 * writes `frames` in one write, recording what the client sends after its
 * request. It answers nothing else (no pongs, no close reply).
 */
export async function rawFrameServer(frames: Buffer): Promise<{ port: number; fromClient: Buffer[]; close: () => Promise<void> }> {
  const fromClient: Buffer[] = [];
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return void fromClient.push(chunk);
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1]!;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(key)}\r\n\r\n`);
      socket.write(frames);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return {
    port: (server.address() as net.AddressInfo).port,
    fromClient,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
