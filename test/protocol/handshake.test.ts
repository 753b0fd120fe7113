import { describe, expect, it } from 'vitest';
import { ErrorCode, HandshakeError, UsageError } from '../../src/protocol/errors.js';
import {
  acceptValue,
  createHandshakeRequest,
  generateKey,
  HandshakeResponseParser,
  parseExtensions,
  validateHandshakeRequest,
  verifyHandshakeResponse,
  type HandshakeRequestOptions,
  type HandshakeResponse,
} from '../../src/protocol/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function parse(text: string, oneByteAtATime = false): { response: HandshakeResponse; leftover: Buffer } {
  const parser = new HandshakeResponseParser();
  const bytes = Buffer.from(text, 'latin1');
  if (!oneByteAtATime) return parser.push(bytes)!;
  for (let i = 0; i < bytes.length; i++) {
    const r = parser.push(bytes.subarray(i, i + 1));
    if (r) return r;
  }
  throw new Error('no response');
}

const ok101 = (extra = ''): string =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(KEY)}\r\n${extra}\r\n`;

function verdict(text: string, offer: { protocols?: string[] } = {}): string {
  try {
    verifyHandshakeResponse(parse(text).response, { key: KEY, protocols: offer.protocols ?? [], extensions: [] });
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(HandshakeError);
    return (error as HandshakeError).code;
  }
}

describe('opening handshake', () => {
  it('computes the RFC 6455 1.3 example accept value', () => {
    expect(acceptValue(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('builds a request with the required headers and a fresh 16-byte key each time', () => {
    const a = createHandshakeRequest({ host: 'example.com:8080', path: '/chat?x=1', headers: { Cookie: 'a=b' }, protocols: ['chat', 'superchat'], origin: 'http://o' });
    const b = createHandshakeRequest({ host: 'example.com', path: '/' });
    const text = a.bytes.toString('latin1');
    expect(text.startsWith('GET /chat?x=1 HTTP/1.1\r\n')).toBe(true);
    for (const line of ['Host: example.com:8080', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: chat, superchat', 'Origin: http://o', 'Cookie: a=b']) {
      expect(text).toContain(`\r\n${line}\r\n`);
    }
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    expect(Buffer.from(a.key, 'base64')).toHaveLength(16);
    expect(a.key).not.toBe(b.key);
  });

  it.each([
    ['CR/LF in a value', { 'X-A': 'a\r\nInjected: yes' }],
    ['LF alone', { 'X-A': 'a\nb' }],
    ['NUL', { 'X-A': 'a\0b' }],
    ['a name with a space', { 'X A': 'v' }],
    ['a name with a colon', { 'X:A': 'v' }],
    ['an empty name', { '': 'v' }],
    ['a header the handshake owns', { 'Sec-WebSocket-Key': 'x' }],
  ])('refuses %s as a UsageError, never sending it', (_name, headers) => {
    expect(() => createHandshakeRequest({ host: 'h', path: '/', headers })).toThrow(UsageError);
    try {
      createHandshakeRequest({ host: 'h', path: '/', headers });
    } catch (error) {
      expect((error as UsageError).code).toBe(ErrorCode.InvalidHeader);
      expect((error as Error).message).not.toContain('Injected');
    }
  });

  it('parses a response fed one byte at a time and returns the bytes after it', () => {
    const { response, leftover } = parse(ok101() + '\x81\x01a', true);
    expect(response.status).toBe(101);
    expect(leftover.length).toBe(0); // fed byte by byte: the head ends exactly at the last byte fed
    const whole = parse(ok101() + '\x81\x01a');
    expect(whole.leftover.toString('latin1')).toBe('\x81\x01a');
  });

  it.each([
    ['a valid 101', ok101(), 'ok'],
    ['header names in any case', ok101().replace('Upgrade:', 'UPGRADE:').replace('Sec-WebSocket-Accept', 'sec-websocket-accept'), 'ok'],
    ['any reason phrase', ok101().replace('Switching Protocols', 'Whatever'), 'ok'],
    ['no reason phrase', ok101().replace(' Switching Protocols', ''), 'ok'],
    ['Connection: keep-alive, Upgrade', ok101().replace('Connection: Upgrade', 'Connection: keep-alive, Upgrade'), 'ok'],
    ['a 200 instead of 101', ok101().replace('101 Switching Protocols', '200 OK'), ErrorCode.HandshakeStatus],
    ['no Upgrade', ok101().replace('Upgrade: websocket\r\n', ''), ErrorCode.HandshakeUpgrade],
    ['a wrong Upgrade', ok101().replace('Upgrade: websocket', 'Upgrade: h2c'), ErrorCode.HandshakeUpgrade],
    ['Connection without upgrade', ok101().replace('Connection: Upgrade', 'Connection: keep-alive'), ErrorCode.HandshakeConnection],
    ['no Sec-WebSocket-Accept', ok101().replace(/Sec-WebSocket-Accept: .*\r\n/, ''), ErrorCode.HandshakeAccept],
    ['a wrong Sec-WebSocket-Accept', ok101().replace(acceptValue(KEY), acceptValue('x')), ErrorCode.HandshakeAccept],
    ['a subprotocol not offered', ok101('Sec-WebSocket-Protocol: chat\r\n'), ErrorCode.HandshakeProtocol],
    ['an extension not offered', ok101('Sec-WebSocket-Extensions: permessage-deflate\r\n'), ErrorCode.HandshakeExtension],
  ])('%s: %s', (_name, text, expected) => {
    expect(verdict(text)).toBe(expected);
  });

  it('accepts an offered subprotocol', () => {
    expect(verdict(ok101('Sec-WebSocket-Protocol: chat\r\n'), { protocols: ['other', 'chat'] })).toBe('ok');
  });

  it('refuses a malformed status line and an oversized head', () => {
    expect(() => parse('HTTP/1.1 1O1 Nope\r\n\r\n')).toThrow(HandshakeError);
    const parser = new HandshakeResponseParser();
    expect(() => parser.push(Buffer.alloc(20_000, 0x41))).toThrow(/exceeds/);
  });

  it('a refusal carries the status, headers and the start of the body', () => {
    const { response } = parse('HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\n');
    try {
      verifyHandshakeResponse(response, { key: KEY, protocols: [] }, 'nope!');
      expect.unreachable();
    } catch (error) {
      const e = error as HandshakeError;
      expect([e.code, e.status, e.headers?.['content-length'], e.bodyStart]).toEqual([ErrorCode.HandshakeStatus, 403, '5', 'nope!']);
    }
  });

  it('parses extension headers', () => {
    expect(parseExtensions('permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-foo')).toEqual([
      { name: 'permessage-deflate', params: { client_max_window_bits: '10', server_no_context_takeover: true }, paramNames: ['client_max_window_bits', 'server_no_context_takeover'] },
      { name: 'x-foo', params: {}, paramNames: [] },
    ]);
    expect(() => parseExtensions('a b')).toThrow();
  });
});

describe('generateKey (keys drawn from a pooled randomFillSync)', () => {
  it('gives base64 of 16 bytes, never the same key twice, across several refills of the pool', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const key = generateKey();
      expect(Buffer.from(key, 'base64')).toHaveLength(16);
      expect(Buffer.from(key, 'base64').toString('base64')).toBe(key);
      keys.add(key);
    }
    expect(keys.size).toBe(1000);
  });
});

describe('validateHandshakeRequest', () => {
  it('refuses what createHandshakeRequest refuses, with the same errors, and accepts what it accepts', () => {
    const cases: HandshakeRequestOptions[] = [
      { host: 'a', path: '/', headers: { 'bad name': 'x' } },
      { host: 'a', path: '/', headers: { upgrade: 'x' } },
      { host: 'a', path: '/', headers: { 'x-a': 'a\r\nb' } },
      { host: 'a', path: '/', protocols: ['a', 'a'] },
      { host: 'a', path: 'no-slash' },
      { host: 'a', path: '/', origin: 'x\ny' },
    ];
    for (const options of cases) {
      let built: unknown;
      try {
        createHandshakeRequest(options);
      } catch (error) {
        built = error;
      }
      expect(built).toBeInstanceOf(UsageError);
      expect(() => validateHandshakeRequest(options)).toThrow(built as Error);
    }
    expect(() => validateHandshakeRequest({ host: 'a', path: '/x?y', headers: { 'x-a': ['1', '2'] }, protocols: ['chat'], origin: 'http://a' })).not.toThrow();
  });
});
