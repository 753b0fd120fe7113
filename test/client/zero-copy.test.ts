// The zero-copy claims, proven by identity rather than timing.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketClient } from '../../src/index.js';
import { MessageAssembler } from '../../src/protocol/message-assembler.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { rawFrameServer } from '../helpers/raw-server.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function rawServer(frames: Buffer): Promise<number> {
  const server = await rawFrameServer(frames);
  cleanups.push(server.close);
  return server.port;
}

function receive(port: number, count: number, options = {}): Promise<Array<Buffer | Buffer[] | string>> {
  return new Promise((resolve, reject) => {
    const got: Array<Buffer | Buffer[] | string> = [];
    const ws = new WebSocketClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, ...options });
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count}`)), 5_000);
    ws.onMessage = (_c, data) => {
      got.push(data);
      if (got.length === count) {
        clearTimeout(timer);
        ws.terminate();
        resolve(got);
      }
    };
    ws.connect();
  });
}

describe('zero copy', () => {
  it('messages that arrive in one read are views of that read, not copies', async () => {
    const frame = (byte: number): Buffer => Buffer.concat([Buffer.from([0x82, 100]), Buffer.alloc(100, byte)]);
    const port = await rawServer(Buffer.concat([frame(1), frame(2), frame(3)]));
    const [a, b, c] = (await receive(port, 3)) as Buffer[];
    expect([a![0], b![0], c![0]]).toEqual([1, 2, 3]);
    // Three messages, one underlying memory: the socket's read buffer.
    expect(a!.buffer).toBe(b!.buffer);
    expect(b!.buffer).toBe(c!.buffer);
    expect(b!.byteOffset - a!.byteOffset).toBe(102);
  });

  it("fragments: 'list' hands over a fragmented message as views, with no copy", async () => {
    const frames = Buffer.concat([
      Buffer.from([0x02, 3]), Buffer.from('abc'),
      Buffer.from([0x00, 3]), Buffer.from('def'),
      Buffer.from([0x80, 3]), Buffer.from('ghi'),
    ]);
    const port = await rawServer(frames);
    const [pieces] = (await receive(port, 1, { fragments: 'list' })) as Buffer[][];
    expect(pieces!.map((p) => p.toString())).toEqual(['abc', 'def', 'ghi']);
    expect(pieces![0]!.buffer).toBe(pieces![2]!.buffer);
    expect(pieces![1]!.byteOffset - pieces![0]!.byteOffset).toBe(5);
  });

  it('send() never modifies the caller\'s buffer, small or large, while masking', async () => {
    const server: EchoServer = await startEchoServer();
    cleanups.push(() => server.close());
    const small = Buffer.from('a small payload, masked in the batch slab');
    const large = Buffer.alloc(300_000, 0x5a);
    const before = [Buffer.from(small), Buffer.from(large)];
    const echoes = await new Promise<Buffer[]>((resolve) => {
      const got: Buffer[] = [];
      const ws = new WebSocketClient(server.url, { messageType: 'binary' });
      ws.onWebSocketConnect = (conn) => {
        conn.send(small);
        conn.send(large);
        conn.send(new Uint8Array(large.buffer, large.byteOffset, 1000));
      };
      ws.onMessage = (conn, data) => {
        got.push(data as Buffer);
        if (got.length === 3) {
          conn.terminate();
          resolve(got);
        }
      };
      ws.connect();
    });
    expect(small.equals(before[0]!)).toBe(true);
    expect(large.equals(before[1]!)).toBe(true);
    expect(echoes[1]!.equals(large)).toBe(true);
  });

  it('a message whose size the header announces is copied once, into a buffer of its final size', () => {
    const assembler = new MessageAssembler();
    const whole = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    expect(assembler.add(2, whole.subarray(0, 300), true, false, 700)).toBeUndefined();
    expect(assembler.add(2, whole.subarray(300, 999), false, false)).toBeUndefined();
    const message = assembler.add(2, whole.subarray(999), false, true)!;
    const expected = Buffer.from(whole);
    whole.fill(0); // the pieces' memory may be reused: the message owns its copy
    expect((message.data as Buffer).equals(expected)).toBe(true);
    expect(message.length).toBe(1000);
    // Without the size (several frames), the pieces are gathered and joined once at the end.
    const unsized = new MessageAssembler();
    unsized.add(1, Buffer.from('ab'), true, false);
    expect((unsized.add(1, Buffer.from('cd'), false, true)!.data as Buffer).toString()).toBe('abcd');
  });
});
