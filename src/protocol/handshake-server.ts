import { ErrorCode, HandshakeError } from './errors.js';
import { acceptValue } from './handshake.js';
import { hasToken, HttpHeadReader, MAX_HEAD_BYTES, parseHeaderFields } from './http-head.js';

/** A client's opening handshake, as a server (or a relay) reads it. */
export interface HandshakeRequestHead {
  method: string;
  path: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  rawHeaders: string[];
}

/**
 * Reads a client's request head incrementally (the shared `HttpHeadReader`,
 * with the same header rules as the client's side); returns it with the
 * bytes that followed it (a client may pipeline its first frames).
 */
export class HandshakeRequestParser {
  private readonly reader = new HttpHeadReader('request', MAX_HEAD_BYTES);

  push(chunk: Buffer): { request: HandshakeRequestHead; leftover: Buffer } | undefined {
    const head = this.reader.push(chunk);
    if (head === undefined) return undefined;
    // RFC 7230 3.1.1: method SP request-target SP HTTP-version. RFC 6455 4.1: the handshake is HTTP/1.1.
    const match = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(head.startLine);
    if (!match) throw new HandshakeError(ErrorCode.HandshakeMalformed, 'malformed request line');
    const { headers, rawHeaders } = parseHeaderFields(head.fieldLines, 'request');
    return { request: { method: match[1]!, path: match[2]!, headers, rawHeaders }, leftover: head.leftover };
  }
}

/**
 * Checks a client's request (RFC 6455 4.2.1) and returns the 101 response to
 * write, or throws a HandshakeError naming what is missing.
 */
export function createHandshakeResponse(
  request: HandshakeRequestHead,
  options: { protocol?: string; extensions?: string; headers?: Record<string, string> } = {},
): Buffer {
  const h = request.headers;
  if (request.method !== 'GET') throw new HandshakeError(ErrorCode.HandshakeMalformed, 'method is not GET');
  if (h['upgrade']?.toLowerCase() !== 'websocket') throw new HandshakeError(ErrorCode.HandshakeUpgrade, 'no Upgrade: websocket');
  if (!hasToken(h['connection'], 'upgrade')) {
    throw new HandshakeError(ErrorCode.HandshakeConnection, 'no Connection: upgrade');
  }
  const key = h['sec-websocket-key'];
  if (key === undefined || Buffer.from(key, 'base64').length !== 16) {
    throw new HandshakeError(ErrorCode.HandshakeAccept, 'Sec-WebSocket-Key is not 16 bytes of base64');
  }
  if (h['sec-websocket-version'] !== '13') throw new HandshakeError(ErrorCode.HandshakeMalformed, 'Sec-WebSocket-Version is not 13');
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptValue(key)}`,
  ];
  if (options.protocol) lines.push(`Sec-WebSocket-Protocol: ${options.protocol}`);
  if (options.extensions) lines.push(`Sec-WebSocket-Extensions: ${options.extensions}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) lines.push(`${name}: ${value}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}
