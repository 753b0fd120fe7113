import * as net from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { createHandshakeResponse, HandshakeRequestParser } from '../../src/protocol/handshake-server.js';

const frames: Array<{ rsv1: boolean }> = [];
const server = net.createServer((socket) => {
  const parser = new HandshakeRequestParser();
  const decoder = new FrameDecoder({ role: 'server', perMessageCompression: true });
  let open = false;
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    if (!open) {
      const parsed = parser.push(chunk);
      if (!parsed) return;
      open = true;
      socket.write(createHandshakeResponse(parsed.request, { extensions: 'permessage-deflate' }));
      chunk = parsed.leftover;
    }
    for (const e of decoder.push(chunk)) if (e.type === 'data' && e.messageStart) frames.push({ rsv1: e.compressed });
  });
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('send(data, { compress }) overrides the size threshold per message', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`);
  await new Promise<void>((resolve) => {
    ws.onWebSocketConnect = () => resolve();
    ws.connect();
  });
  const big = 'x'.repeat(4096);
  ws.send('small'); // under the 1 KiB threshold: sent as it is
  ws.send('small', { compress: true });
  ws.send(big); // over it: compressed
  ws.send(big, { compress: false });
  for (let waited = 0; frames.length < 4 && waited < 3000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  ws.terminate();
  expect(frames.map((f) => f.rsv1)).toEqual([false, true, true, false]);
});
