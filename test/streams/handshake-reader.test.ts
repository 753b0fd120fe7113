import { describe, expect, it } from 'vitest';
import { ConnectionError, ErrorCode, HandshakeError } from '../../src/protocol/errors.js';
import { acceptValue } from '../../src/protocol/handshake.js';
import { HandshakeReader } from '../../src/streams/handshake-stream.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const OK = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptValue(KEY)}\r\n\r\n`;

function reader(): { reader: HandshakeReader; refused: HandshakeError[] } {
  const refused: HandshakeError[] = [];
  return { reader: new HandshakeReader({ key: KEY, protocols: [], bodyWaitMs: 10_000 }, (e) => refused.push(e)), refused };
}

describe('HandshakeReader', () => {
  it('returns the bytes after the 101 in the read that completes it, then every read as it is', () => {
    const { reader: r } = reader();
    const head = Buffer.from(OK, 'latin1');
    expect(r.push(head.subarray(0, 10))).toBeUndefined();
    expect(r.push(Buffer.concat([head.subarray(10), Buffer.from([0x81, 0x00])]))).toEqual(Buffer.from([0x81, 0x00]));
    expect(r.response?.status).toBe(101);
    expect(r.response?.headers['sec-websocket-accept']).toBe(acceptValue(KEY));
    expect(r.push(Buffer.from('next'))).toEqual(Buffer.from('next'));
    expect(() => r.end()).not.toThrow();
  });

  it('reports a refusal once, with the start of its body, and passes nothing on after it', () => {
    const { reader: r, refused } = reader();
    expect(r.push(Buffer.from('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nno', 'latin1'))).toBeUndefined();
    expect(refused).toHaveLength(0);
    expect(r.push(Buffer.from('pe'))).toBeUndefined();
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(HandshakeError);
    expect(refused[0]!.message).toContain('403');
    expect(r.push(Buffer.from('more after the body'))).toBeUndefined();
    r.end();
    expect(refused).toHaveLength(1);
  });

  it('a refusal whose body never completes is reported at end(); no answer at all throws a lost connection', () => {
    const { reader: r, refused } = reader();
    r.push(Buffer.from('HTTP/1.1 500 Oops\r\n\r\nhalf', 'latin1'));
    r.end();
    expect(refused).toHaveLength(1);
    const { reader: silent } = reader();
    silent.push(Buffer.from('HTTP/1.1 101 Swi', 'latin1'));
    let error: unknown;
    try {
      silent.end();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe(ErrorCode.ConnectionLost);
  });

  it('after destroy() nothing is reported and nothing passed on', () => {
    const { reader: r, refused } = reader();
    r.push(Buffer.from('HTTP/1.1 403 Forbidden\r\n\r\n', 'latin1'));
    r.destroy();
    expect(r.push(Buffer.from('x'.repeat(600)))).toBeUndefined();
    r.end();
    expect(refused).toHaveLength(0);
  });
});
