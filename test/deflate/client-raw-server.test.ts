import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { WebSocketClient } from '../../src/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { acceptValue } from '../../src/protocol/handshake.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { serverFrames } from './helpers.js';

/**
 * A one-connection server on loopback that answers the handshake with the
 * given Sec-WebSocket-Extensions, sends `frames`, and records what the
 * client sent back (decoded as a server would).
 */
async function rawServer(extensions: string | undefined, frames: Buffer) {
  const received: Array<{ type: string; code?: number | undefined }> = [];
  let offer: string | undefined;
  const server = net.createServer((socket) => {
    let head = '';
    const decoder = new FrameDecoder({ role: 'server', perMessageCompression: true });
    let upgraded = false;
    socket.on('data', (chunk) => {
      if (upgraded) {
        for (const e of decoder.push(chunk)) received.push(e.type === 'close' ? { type: 'close', code: e.code } : { type: e.type });
        return;
      }
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      upgraded = true;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
      offer = /sec-websocket-extensions: *([^\r]+)/i.exec(head)?.[1];
      const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptValue(key)}`];
      if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      socket.write(frames);
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `ws://127.0.0.1:${port}/`, received, offer: () => offer, close: () => new Promise((r) => server.close(r)) };
}

let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

function run(url: string, options: ConstructorParameters<typeof WebSocketClient>[1]) {
  return new Promise<{ errors: string[]; close: number; messages: unknown[] }>((resolve) => {
    const ws = new WebSocketClient(url, { closeTimeoutMs: 500, ...options });
    const errors: string[] = [];
    const messages: unknown[] = [];
    ws.onError = (_c, code) => errors.push(code);
    ws.onMessage = (_c, data) => messages.push(data);
    ws.onClose = (_c, code) => resolve({ errors, close: code, messages });
    ws.connect();
  });
}

describe('WebSocketClient perMessageDeflate against a raw server', () => {
  it('a decompression bomb fails the connection with 1009 on the wire', async () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const server = await rawServer('permessage-deflate', serverFrames([{ opcode: Opcode.Binary, payload: bomb, rsv1: true }]));
    cleanup = server.close;
    const result = await run(server.url, { perMessageDeflate: true, maxMessageBytes: 1024 * 1024 });
    expect(server.offer()).toBe('permessage-deflate; client_max_window_bits');
    expect(result.errors).toContain(ErrorCode.MessageTooBig);
    expect(result.messages).toEqual([]);
    expect(server.received).toContainEqual({ type: 'close', code: 1009 });
  });

  it('RSV1 after the server declined the extension is a 1002', async () => {
    const server = await rawServer(undefined, serverFrames([{ opcode: Opcode.Text, payload: Buffer.from('f248cdc9c90700', 'hex'), rsv1: true }]));
    cleanup = server.close;
    const result = await run(server.url, { perMessageDeflate: true });
    expect(result.errors).toContain(ErrorCode.ReservedBits);
    expect(server.received).toContainEqual({ type: 'close', code: 1002 });
  });

  it('an accepted extension inflates; a bad response parameter fails the handshake', async () => {
    const hello = serverFrames([
      { opcode: Opcode.Text, payload: Buffer.from('f248cdc9c90700', 'hex'), rsv1: true },
      { opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]) },
    ]);
    const good = await rawServer('permessage-deflate; server_no_context_takeover', hello);
    cleanup = good.close;
    const ok = await run(good.url, { perMessageDeflate: { serverNoContextTakeover: true } });
    expect(ok.messages).toEqual(['Hello']);
    expect(ok.close).toBe(1000);
    await good.close();

    const bad = await rawServer('permessage-deflate; mystery=1', hello);
    cleanup = bad.close;
    const refused = await run(bad.url, { perMessageDeflate: true });
    expect(refused.errors).toEqual([ErrorCode.HandshakeExtension]);
    expect(refused.messages).toEqual([]);
  });
});
