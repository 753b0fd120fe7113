import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectResponseReader } from '../../src/client/http-connect.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { HandshakeResponseParser } from '../../src/protocol/handshake.js';
import { HandshakeRequestParser } from '../../src/protocol/handshake-server.js';
import { startEchoServer, type EchoServer } from '../../src/server/echo-server.js';
import { withTimeout } from '../helpers/wait.js';

/** The three heads wspipe reads, each with one extra header line; returns that header's value as read. */
const readers: [string, (line: string) => string | undefined][] = [
  ['the 101 (client role)', (line) => read(new HandshakeResponseParser(), `HTTP/1.1 101 Switching Protocols\r\n${line}\r\n\r\n`, (r) => r.response.headers['x-test'])],
  ['a request (server role)', (line) => read(new HandshakeRequestParser(), `GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`, (r) => r.request.headers['x-test'])],
  ['a CONNECT reply', (line) => read(new ConnectResponseReader(), `HTTP/1.1 200 Connection established\r\n${line}\r\n\r\n`, (r) => r.response.headers['x-test'])],
];

/** Feeds `head` one byte at a time (every split point) and checks the bytes after it come back as leftover. */
function read<R>(parser: { push(chunk: Buffer): R | undefined }, head: string, value: (r: R) => string | undefined): string | undefined {
  const bytes = Buffer.from(head + 'NEXT', 'latin1');
  for (let i = 0; i < bytes.length; i++) {
    const result = parser.push(bytes.subarray(i, i + 1));
    if (result !== undefined) {
      const leftover = (result as { leftover?: Buffer }).leftover ?? Buffer.alloc(0);
      const rest = Buffer.concat([leftover, bytes.subarray(i + 1)]).toString('latin1');
      expect(rest).toBe('NEXT');
      return value(result);
    }
  }
  throw new Error('the head never completed');
}

const MALFORMED = 'malformed';
// [header line, the value read, or MALFORMED]
const lines: [string, string][] = [
  ['X-Test: a', 'a'],
  ['X-Test:a', 'a'],
  ['X-Test: \t a b \t ', 'a b'],
  // RFC 7230 3.2.3: OWS is spaces and tabs only; String.trim() would strip these too.
  ['X-Test: a\xa0', 'a\xa0'],
  ['X-Test: \x0ba', '\x0ba'],
  // RFC 7230 3.2.4: no whitespace between the name and the colon; no obsolete line folding.
  ['X-Test : a', MALFORMED],
  [' X-Test: a', MALFORMED],
  ['\tX-Test: a', MALFORMED],
  ['X-Test\xa0: a', MALFORMED],
  ['X Test: a', MALFORMED],
  [': a', MALFORMED],
  ['no colon', MALFORMED],
  // RFC 7230 3.2: no CR, LF or NUL in a value.
  ['X-Test: a\0b', MALFORMED],
  ['X-Test: a\rb', MALFORMED],
  ['X-Test: a\nb', MALFORMED],
];

describe('one HTTP head parser for the 101, the server role and CONNECT replies', () => {
  for (const [role, readHeader] of readers) {
    it.each(lines)(`${role}: %j -> %j`, (line, expected) => {
      if (expected === MALFORMED) {
        expect(() => readHeader(line)).toThrow(HandshakeError);
        try {
          readHeader(line);
        } catch (error) {
          expect((error as HandshakeError).code).toBe('WSP_ERR_HANDSHAKE_MALFORMED');
        }
      } else {
        expect(readHeader(line)).toBe(expected);
      }
    });

    it(`${role}: a repeated header is joined with ", "`, () => {
      expect(readHeader('X-Test: a\r\nx-test: b')).toBe('a, b');
    });

    it(`${role}: a head over 16 KiB is WSP_ERR_HANDSHAKE_TOO_LARGE`, () => {
      expect(() => readHeader(`X-Test: ${'a'.repeat(17 * 1024)}`)).toThrow(expect.objectContaining({ code: 'WSP_ERR_HANDSHAKE_TOO_LARGE' }));
    });
  }
});

describe('the echo server reads requests with the same rules', () => {
  let server: EchoServer;
  beforeAll(async () => {
    server = await startEchoServer({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Sends a request head and returns the status line of the answer. */
  async function statusFor(upgradeLine: string): Promise<string> {
    const socket = net.connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).includes('\r\n')) socket.destroy();
    });
    const closed = withTimeout(new Promise((resolve) => socket.on('close', resolve)), 5_000, 'the answer');
    socket.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n${upgradeLine}\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      'latin1',
    );
    await closed;
    return Buffer.concat(chunks).toString('latin1').split('\r\n')[0]!;
  }

  it('accepts "Upgrade: websocket" with spaces and tabs around the value', async () => {
    expect(await statusFor('Upgrade: \twebsocket \t')).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('refuses "Upgrade: websocket\\xa0" (String.trim() accepted it) and "Upgrade : websocket" with 400', async () => {
    expect(await statusFor('Upgrade: websocket\xa0')).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusFor('Upgrade : websocket')).toBe('HTTP/1.1 400 Bad Request');
  });
});
