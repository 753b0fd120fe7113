import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { DecoderEvent } from '../../src/protocol/frame-decoder.js';
import { FrameEncoder } from '../../src/protocol/frame-encoder.js';
import { createHandshakeRequest, HandshakeResponseParser, verifyHandshakeResponse, type ParsedHead } from '../../src/protocol/handshake.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { PerMessageDeflateNegotiator, type NegotiatedDeflate, type PerMessageDeflateOptions } from '../../src/protocol/permessage-deflate.js';
import { encodeClosePayload } from '../../src/protocol/close.js';
import { FrameDecoderStream } from '../../src/streams/frame-decoder-stream.js';
import { PerMessageInflateStream } from '../../src/streams/permessage-inflate-stream.js';
import { MessageDeflater } from '../../src/streams/permessage-deflate-stream.js';
import { sampleText } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./pmd_echo_server.py', import.meta.url));

let server: ChildProcess | undefined;
let port = 0;

beforeAll(async () => {
  server = spawn(PYTHON, [SCRIPT, '--lifetime', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(server.stdout!, 'data')) as [Buffer];
  port = Number(line.toString().trim());
  expect(port).toBeGreaterThan(0);
});

afterAll(() => {
  server?.kill();
});

interface Connection {
  negotiated: NegotiatedDeflate | undefined;
  response: ParsedHead['response'];
  /** Sends one message through the deflater and encoder; resolves with the frame's RSV1. */
  send(opcode: number, payload: Buffer | string): Promise<boolean>;
  /** The next `count` whole messages the server sent. */
  receive(count: number): Promise<Array<{ opcode: number; payload: Buffer }>>;
  close(): Promise<DecoderEvent[]>;
}

/** Opens a WebSocket to the echo server from the raw protocol pieces and the deflate stages (`null`: no offer). */
async function connect(options: PerMessageDeflateOptions | null): Promise<Connection> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const negotiator = options ? new PerMessageDeflateNegotiator(options) : undefined;
  const request = createHandshakeRequest({ host: `127.0.0.1:${port}`, path: '/', extensions: negotiator?.offer() });
  socket.write(request.bytes);
  const parser = new HandshakeResponseParser();
  let head: ParsedHead | undefined;
  while (!head) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    head = parser.push(chunk);
  }
  socket.pause();
  verifyHandshakeResponse(head.response, { key: request.key, protocols: [], extensions: negotiator ? [negotiator] : [] });
  const negotiated = negotiator?.negotiated;
  const decoder = new FrameDecoderStream({ role: 'client', perMessageCompression: negotiated !== undefined, batch: true });
  const events: DecoderEvent[] = [];
  let wake: (() => void) | undefined;
  let stages: NodeJS.ReadableStream = decoder;
  if (negotiated) stages = decoder.pipe(new PerMessageInflateStream({ negotiated }));
  stages.on('data', (item: DecoderEvent | DecoderEvent[]) => {
    events.push(...(Array.isArray(item) ? item : [item]));
    wake?.();
  });
  if (head.leftover.length > 0) decoder.write(head.leftover);
  socket.pipe(decoder);
  socket.resume();

  const deflater = negotiated ? new MessageDeflater({ negotiated }) : undefined;
  const encoder = new FrameEncoder({ role: 'client' });
  const next = async (): Promise<DecoderEvent> => {
    while (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return events.shift()!;
  };
  return {
    negotiated,
    response: head.response,
    send: (opcode, payload) =>
      new Promise((resolve, reject) => {
        const write = (spec: { opcode: number; payload: Uint8Array | string; rsv1?: boolean }) => {
          socket.write(Buffer.concat(encoder.encode(spec)));
          resolve(spec.rsv1 === true);
        };
        if (!deflater) return write({ opcode, payload });
        deflater.frame({ opcode, payload }, (error, spec) => (error ? reject(error) : write(spec)));
      }),
    async receive(count) {
      const messages: Array<{ opcode: number; payload: Buffer }> = [];
      let pieces: Buffer[] = [];
      while (messages.length < count) {
        const event = await next();
        if (event.type === 'error') throw event.error;
        if (event.type !== 'data') throw new Error(`unexpected ${event.type}`);
        pieces.push(event.payload);
        if (event.messageEnd) {
          messages.push({ opcode: event.opcode, payload: Buffer.concat(pieces) });
          pieces = [];
        }
      }
      return messages;
    },
    async close() {
      socket.write(Buffer.concat(encoder.encode({ opcode: Opcode.Close, payload: encodeClosePayload(1000, 'bye') })));
      const rest: DecoderEvent[] = [];
      for (;;) {
        const event = await next();
        rest.push(event);
        if (event.type === 'close' || event.type === 'error') break;
      }
      deflater?.close();
      socket.end();
      await once(socket, 'close');
      return rest;
    },
  };
}

/** Random letters: incompressible within 4 KiB, repeated every 8 KiB (long-distance matches). */
function farRepeats(blockBytes: number, copies: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  const block = Buffer.from(Array.from(randomBytes(blockBytes), (b) => alphabet[b % 26]).join(''));
  return Buffer.concat(Array.from({ length: copies }, () => block));
}

const pythonAvailable = existsSync(PYTHON);

describe.runIf(pythonAvailable)('interop with python3-websockets (compression="deflate")', () => {
  it('negotiates the defaults and echoes text and binary, compressed both ways', async () => {
    const conn = await connect({});
    // python-websockets answers client_max_window_bits with 12 and limits itself to 12.
    expect(conn.response.extensions).toMatch(/permessage-deflate/);
    expect(conn.negotiated).toEqual({
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 12,
      clientMaxWindowBits: 12,
    });
    const messages: Array<[number, Buffer | string]> = [
      [Opcode.Text, 'small, sent plain'],
      [Opcode.Text, sampleText(20_000, 1)],
      [Opcode.Binary, Buffer.from(sampleText(50_000, 2))],
      [Opcode.Text, sampleText(20_000, 1)], // the same again: context takeover on both sides
      [Opcode.Binary, farRepeats(8192, 12)], // matches 8 KiB back: only legal beyond a 4 KiB window
      [Opcode.Binary, randomBytes(3000)], // incompressible
      [Opcode.Text, ''],
      [Opcode.Text, 'ünïcödé '.repeat(500)],
    ];
    const rsv1: boolean[] = [];
    for (const [opcode, payload] of messages) rsv1.push(await conn.send(opcode, payload));
    expect(rsv1).toEqual([false, true, true, true, true, true, false, true]);
    const echoed = await conn.receive(messages.length);
    echoed.forEach((m, i) => {
      expect(m.opcode).toBe(messages[i]![0]);
      expect(m.payload.equals(Buffer.from(messages[i]![1]))).toBe(true);
    });
    const closing = await conn.close();
    expect(closing.at(-1)).toMatchObject({ type: 'close', code: 1000 });
  });

  const table: Array<[PerMessageDeflateOptions, Partial<NegotiatedDeflate>]> = [
    [{ serverNoContextTakeover: true, clientNoContextTakeover: true }, { serverNoContextTakeover: true, clientNoContextTakeover: true }],
    [{ clientMaxWindowBits: 9, serverMaxWindowBits: 10 }, { clientMaxWindowBits: 9, serverMaxWindowBits: 10 }],
    // Negotiated 8: we compress with zlib's 9, which the server inflates with a 256-byte window.
    // (python-websockets cannot itself compress with 8: its zlib refuses wbits=-8.)
    [{ clientMaxWindowBits: 8, serverMaxWindowBits: 9 }, { clientMaxWindowBits: 8, serverMaxWindowBits: 9 }],
    [{ clientMaxWindowBits: false }, { clientMaxWindowBits: 15, serverMaxWindowBits: 12 }],
  ];

  it.each(table)('options %j: agreement and many messages', async (options, expected) => {
    const conn = await connect(options);
    expect(conn.negotiated).toMatchObject(expected);
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const payload = i % 3 === 0 ? farRepeats(1024, 6) : Buffer.from(sampleText(500 + i * 300, i));
      sent.push(payload);
      await conn.send(Opcode.Binary, payload);
    }
    const echoed = await conn.receive(sent.length);
    echoed.forEach((m, i) => expect(m.payload.equals(sent[i]!)).toBe(true));
    const closing = await conn.close();
    expect(closing.at(-1)).toMatchObject({ type: 'close', code: 1000 });
  });

  it('without an offer the server compresses nothing', async () => {
    const conn = await connect(null);
    expect(conn.negotiated).toBeUndefined();
    expect(conn.response.extensions).toBeUndefined();
    const text = sampleText(10_000, 5);
    expect(await conn.send(Opcode.Text, text)).toBe(false);
    const [echo] = await conn.receive(1);
    expect(echo!.payload.toString()).toBe(text);
    await conn.close();
  });
});
