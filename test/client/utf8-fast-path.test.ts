// The client checks UTF-8 of a text message that arrives whole while decoding it:
// a U+FFFD in the result sends the bytes to the strict validator.
import { afterEach, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { rawFrameServer } from '../helpers/raw-server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanups.splice(0)) await close();
});

async function serve(frames: Buffer): Promise<{ port: number; fromClient: Buffer[] }> {
  const server = await rawFrameServer(frames);
  cleanups.push(server.close);
  return server;
}

const text = (payload: Buffer): Buffer => Buffer.concat([Buffer.from([0x81, payload.length]), payload]);

function run(port: number): Promise<{ messages: unknown[]; errors: string[]; close: number }> {
  return new Promise((resolve) => {
    const messages: unknown[] = [];
    const errors: string[] = [];
    const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`, { closeTimeoutMs: 500 });
    ws.onMessage = (conn, data) => {
      messages.push(data);
      if (data === 'done') conn.close();
    };
    ws.onError = (_c, code) => errors.push(code);
    ws.onClose = (_c, close) => resolve({ messages, errors, close });
    ws.connect();
  });
}

it('a literal U+FFFD sent by the server is valid text and delivered', async () => {
  const { port } = await serve(Buffer.concat([text(Buffer.from('a\uFFFDb')), text(Buffer.from('done'))]));
  const result = await run(port);
  expect(result.messages).toEqual(['a\uFFFDb', 'done']);
  // This bare server never answers the close: the only error is the close timeout.
  expect(result.errors).toEqual(['WSP_ERR_CLOSE_TIMEOUT']);
});

it('invalid UTF-8 in a whole message fails with 1007, and nothing after it in the same read is delivered', async () => {
  const { port, fromClient } = await serve(
    Buffer.concat([text(Buffer.from('ok')), text(Buffer.from([0x61, 0xed, 0xa0, 0x80])), text(Buffer.from('after')), text(Buffer.from('done'))]),
  );
  const result = await run(port);
  expect(result.messages).toEqual(['ok']);
  expect(result.errors).toEqual(['WSP_ERR_INVALID_UTF8']);
  expect(result.close).toBe(1007);
  // The client's close frame carries 1007 (masked: unmask to read it).
  const frame = Buffer.concat(fromClient);
  const key = frame.subarray(2, 6);
  const code = ((frame[6]! ^ key[0]!) << 8) | (frame[7]! ^ key[1]!);
  expect([frame[0], code]).toEqual([0x88, 1007]);
});
