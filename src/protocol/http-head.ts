// The one reader of HTTP/1.1 message heads (RFC 7230 3): the server's answer
// to the opening handshake, a client's request (server role, relays), and a
// proxy's answer to CONNECT all go through it, so a header is read by the
// same rules wherever it comes from.

import { ErrorCode, HandshakeError } from './errors.js';

/** A head larger than this is refused (no server or client needs more). */
export const MAX_HEAD_BYTES = 16 * 1024;

/** RFC 7230 3.2.6: token = 1*tchar. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The header fields of a head. */
export interface HeaderFields {
  /** Lower-case names; repeated headers joined with `, ` (RFC 7230 3.2.2). */
  headers: Record<string, string>;
  /** Names and values in the order received, with the case the sender used. */
  rawHeaders: string[];
}

/** A complete head: its start line, its header field lines, and the bytes after it. */
export interface RawHead {
  /** The status line or request line. */
  startLine: string;
  /** The header field lines, without their CRLF. */
  fieldLines: string[];
  /** Bytes after the blank line: frames, a body, or tunnelled data. */
  leftover: Buffer;
}

/** The empty buffer every reader starts with (never written: a zero-length view). */
const NOTHING = Buffer.alloc(0);

/**
 * Collects bytes until the blank line that ends a head (CRLF CRLF), then
 * splits the head into lines. Throws a `HandshakeError`
 * (`WSP_ERR_HANDSHAKE_TOO_LARGE`) when the head would exceed `maxBytes`.
 */
export class HttpHeadReader {
  /** Nothing until the first chunk, then that chunk itself (copied only when a head spans reads). */
  private buffered: Buffer = NOTHING;
  /** Where to resume the search for CRLF CRLF. */
  private searchFrom = 0;

  /** `what` names the head in errors ("response", "request"). */
  constructor(
    private readonly what: string,
    private readonly maxBytes = MAX_HEAD_BYTES,
  ) {}

  /** Feeds a chunk; returns the head once complete, else undefined. */
  push(chunk: Buffer): RawHead | undefined {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf('\r\n\r\n', Math.max(0, this.searchFrom - 3), 'latin1');
    if (end === -1) {
      if (this.buffered.length > this.maxBytes) this.tooLarge();
      this.searchFrom = this.buffered.length;
      return undefined;
    }
    if (end + 4 > this.maxBytes) this.tooLarge();
    const lines = this.buffered.toString('latin1', 0, end).split('\r\n');
    // shift(), not slice(1): no second array. A head that ends its read leaves the shared empty buffer, not a view.
    const startLine = lines.shift()!;
    const leftover = end + 4 === this.buffered.length ? NOTHING : this.buffered.subarray(end + 4);
    return { startLine, fieldLines: lines, leftover };
  }

  private tooLarge(): never {
    throw new HandshakeError(ErrorCode.HandshakeTooLarge, `${this.what} head exceeds ${this.maxBytes} bytes`);
  }
}

/**
 * Parses header field lines (RFC 7230 3.2): `field-name ":" OWS field-value
 * OWS`. A name that is not a token is refused, which also refuses whitespace
 * before the colon (RFC 7230 3.2.4: a server MUST reject it) and obsolete
 * line folding; a value holding CR, LF or NUL is refused too. `details` go
 * into the `HandshakeError` (the status of a response).
 */
export function parseHeaderFields(lines: readonly string[], what: string, details: { status?: number } = {}): HeaderFields {
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) {
      throw new HandshakeError(ErrorCode.HandshakeMalformed, `malformed header line in the ${what}`, details);
    }
    const value = trimOws(line.slice(colon + 1));
    // RFC 7230 3.2: a field value holds no CR, LF or NUL. A bare CR or LF inside a
    // line is not taken for a line ending (RFC 7230 3.5 leaves that to the recipient).
    if (/[\r\n\0]/.test(value)) {
      throw new HandshakeError(ErrorCode.HandshakeMalformed, `header ${name} in the ${what} has a CR, LF or NUL in its value`, details);
    }
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
  }
  return { headers, rawHeaders };
}

/**
 * Strips optional whitespace (RFC 7230 3.2.3: OWS is spaces and tabs).
 * `String.prototype.trim` would also strip CR, LF, vertical tab and no-break
 * space (0xA0 in latin1), accepting values such as `websocket\xa0`.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  // The string itself when there is nothing to strip (the common case): nothing allocated.
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** RFC 7230 3.2.3: OWS = *( SP / HTAB ). */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Whether a comma-separated header value (RFC 7230 7) lists `token` (given
 * in lower case), compared case-insensitively. Scans in place: no array,
 * closure or lower-cased copy per call (it runs on every handshake).
 */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  let from = 0;
  for (;;) {
    const comma = value.indexOf(',', from);
    const stop = comma === -1 ? value.length : comma;
    let start = from;
    let end = stop;
    while (start < end && isOws(value.charCodeAt(start))) start++;
    while (end > start && isOws(value.charCodeAt(end - 1))) end--;
    if (end - start === token.length && listsToken(value, start, token)) return true;
    if (comma === -1) return false;
    from = comma + 1;
  }
}

/** Whether `value` holds `token` at `start`, ASCII letters compared without case. */
function listsToken(value: string, start: number, token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    const code = value.charCodeAt(start + i);
    // Outside ASCII, case mapping is Unicode's (U+212A KELVIN SIGN lower-cases to "k"): compared as before.
    if (code >= 0x80) return value.slice(start, start + token.length).toLowerCase() === token;
    const lower = code >= 0x41 && code <= 0x5a ? code + 0x20 : code;
    if (lower !== token.charCodeAt(i)) return false;
  }
  return true;
}
