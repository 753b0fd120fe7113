import { ErrorCode, HandshakeError } from './errors.js';
import { acceptValue, MAX_RESPONSE_HEAD_BYTES } from './handshake.js';

/** A client's opening handshake, as a server (or a relay) reads it. */
export interface HandshakeRequestHead {
  method: string;
  path: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  rawHeaders: string[];
}

/**
 * Reads a client's request head incrementally; returns it with the bytes
 * that followed it (a client may pipeline its first frames).
 */
export class HandshakeRequestParser {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { request: HandshakeRequestHead; leftover: Buffer } | undefined {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf('\r\n\r\n', 0, 'latin1');
    if (end === -1) {
      if (this.buffered.length > MAX_RESPONSE_HEAD_BYTES) {
        throw new HandshakeError(ErrorCode.HandshakeTooLarge, 'request head too large');
      }
      return undefined;
    }
    const lines = this.buffered.toString('latin1', 0, end).split('\r\n');
    const match = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0] ?? '');
    if (!match) throw new HandshakeError(ErrorCode.HandshakeMalformed, 'malformed request line');
    const headers: Record<string, string> = {};
    const rawHeaders: string[] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HandshakeError(ErrorCode.HandshakeMalformed, 'malformed header line');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      rawHeaders.push(name, value);
      const lower = name.toLowerCase();
      headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
    }
    return { request: { method: match[1]!, path: match[2]!, headers, rawHeaders }, leftover: this.buffered.subarray(end + 4) };
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
  if (!h['connection']?.split(',').some((t) => t.trim().toLowerCase() === 'upgrade')) {
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
