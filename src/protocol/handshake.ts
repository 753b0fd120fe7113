import * as crypto from 'node:crypto';
import { ErrorCode, HandshakeError, UsageError } from './errors.js';
import { hasToken, HttpHeadReader, MAX_HEAD_BYTES, parseHeaderFields, TOKEN, trimOws } from './http-head.js';

/** RFC 6455 1.3: the GUID concatenated with the key before hashing. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A response head larger than this is refused (no server needs more). */
export const MAX_RESPONSE_HEAD_BYTES = MAX_HEAD_BYTES;
/** How much of a rejected response's body an error carries. */
export const BODY_START_CHARS = 512;

/** RFC 7230 3.2: field-value is visible characters, spaces and tabs; no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers the handshake owns; a user value would break it silently. */
const RESERVED_HEADERS = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'content-length',
  'transfer-encoding',
]);

export interface HandshakeRequestOptions {
  /** The Host header value: host, with `:port` when not the scheme's default. */
  host: string;
  /** The request target: path and query, starting with `/`. */
  path: string;
  /** Extra headers (a Cookie, an Authorization, ...). */
  headers?: Record<string, string | string[]> | undefined;
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[] | undefined;
  origin?: string | undefined;
  /** The Sec-WebSocket-Extensions offer, already formatted. */
  extensions?: string | undefined;
  /** The Sec-WebSocket-Key, base64 of 16 bytes; fresh random bytes when omitted. */
  key?: string | undefined;
}

/** A handshake request ready to write, and what verifying the answer needs. */
export interface HandshakeRequest {
  /** The request head, as latin1 bytes. */
  bytes: Buffer;
  key: string;
  protocols: readonly string[];
}

/** The server's response to the opening handshake. */
export interface HandshakeResponse {
  status: number;
  statusText: string;
  /** HTTP version, e.g. `1.1`. */
  httpVersion: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Names and values in the order received, with the case the server used. */
  rawHeaders: string[];
  /** The subprotocol the server selected, if any. */
  protocol: string | undefined;
  /** The Sec-WebSocket-Extensions header, if any. */
  extensions: string | undefined;
}

/** Random bytes for 64 keys, drawn at once (as the masking keys are): one call into the CSPRNG per 64 handshakes. */
const keyPool = Buffer.allocUnsafe(64 * 16);
let keyPoolOffset = keyPool.length;

/**
 * A fresh Sec-WebSocket-Key: base64 of 16 random bytes (RFC 6455 4.1, item
 * 7: "a nonce consisting of a randomly selected 16-byte value"). The bytes
 * come from `crypto.randomFillSync` in bulk; each is used for one key only.
 */
export function generateKey(): string {
  if (keyPoolOffset === keyPool.length) {
    crypto.randomFillSync(keyPool);
    keyPoolOffset = 0;
  }
  const at = keyPoolOffset;
  keyPoolOffset += 16;
  return keyPool.toString('base64', at, at + 16);
}

/** `crypto.hash()` (Node 20.12 and later): a one-shot digest that builds no Hash object per handshake. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64') => string }).hash;

/** The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 4.2.2). */
export function acceptValue(key: string): string {
  const input = key + WEBSOCKET_GUID;
  if (oneShotHash !== undefined) return oneShotHash('sha1', input, 'base64');
  return crypto.createHash('sha1').update(input).digest('base64');
}

/**
 * Checks extra handshake headers; throws a `UsageError` on a name that is not
 * a token, a value with CR, LF or NUL (header injection), or a header the
 * handshake itself owns.
 */
export function validateHeaders(headers: Record<string, string | string[]> | undefined): void {
  if (headers === undefined) return;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) {
      throw new UsageError(ErrorCode.InvalidHeader, `header name ${JSON.stringify(name)} is not a valid HTTP token`);
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new UsageError(ErrorCode.InvalidHeader, `header ${name} is set by the WebSocket handshake and cannot be overridden`);
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string') {
        throw new UsageError(ErrorCode.InvalidHeader, `header ${name} must have a string value (or an array of strings); got ${typeof v}`);
      }
      if (!FIELD_VALUE.test(v)) {
        // The value itself may be a credential: never echo it.
        throw new UsageError(ErrorCode.InvalidHeader, `header ${name} has a value with CR, LF, NUL or another control character`);
      }
    }
  }
}

/**
 * Checks the subprotocols to offer; throws a `UsageError` on one that is not
 * a string, not a token, or offered twice. RFC 6455 4.1: the elements of
 * Sec-WebSocket-Protocol "MUST be non-empty strings with characters in the
 * range U+0021 to U+007E not including separator characters as defined in
 * [RFC2616] and MUST all be unique strings" (RFC 7230 3.2.6 `token`).
 */
export function validateProtocols(protocols: readonly unknown[]): void {
  // Made only for a list that can repeat a name: most offer none or one.
  const seen = protocols.length > 1 ? new Set<string>() : undefined;
  for (let i = 0; i < protocols.length; i++) {
    const p = protocols[i];
    if (typeof p !== 'string') {
      throw new UsageError(ErrorCode.InvalidOption, `protocols[${i}] must be a string (a subprotocol name); got ${typeof p}`);
    }
    if (!TOKEN.test(p)) {
      throw new UsageError(
        ErrorCode.InvalidOption,
        `protocols[${i}] ${JSON.stringify(p)} is not a valid subprotocol: a non-empty token of visible ASCII without separators (RFC 6455 4.1)`,
      );
    }
    if (seen?.has(p)) {
      throw new UsageError(ErrorCode.InvalidOption, `protocols lists ${JSON.stringify(p)} twice; each subprotocol must be unique (RFC 6455 4.1)`);
    }
    seen?.add(p);
  }
}

/**
 * Checks what `createHandshakeRequest()` would refuse (headers, protocols,
 * path, origin) without building the request: a client checks its options
 * at construction this way. Throws the same `UsageError`s.
 */
export function validateHandshakeRequest(options: HandshakeRequestOptions): void {
  validateHeaders(options.headers);
  if (options.protocols !== undefined) validateProtocols(options.protocols);
  if (!/^\/[\x21-\x7e]*$/.test(options.path)) {
    throw new UsageError(ErrorCode.InvalidUrl, 'request path must start with / and contain no spaces or control characters');
  }
  if (options.origin !== undefined && !FIELD_VALUE.test(options.origin)) {
    throw new UsageError(ErrorCode.InvalidHeader, 'origin has a control character');
  }
}

const NO_PROTOCOLS: readonly string[] = Object.freeze([]);

/** Builds the client's opening handshake (RFC 6455 4.1). */
export function createHandshakeRequest(options: HandshakeRequestOptions): HandshakeRequest {
  validateHandshakeRequest(options);
  const protocols = options.protocols ?? NO_PROTOCOLS;
  const key = options.key ?? generateKey();
  const user = options.headers;
  // A user's Host or Origin replaces ours.
  let userHost = false;
  let userOrigin = false;
  if (user !== undefined) {
    for (const name of Object.keys(user)) {
      const lower = name.toLowerCase();
      if (lower === 'host') userHost = true;
      else if (lower === 'origin') userOrigin = true;
    }
  }
  // One string, line by line (no list of lines to join: each handshake's garbage counts, issue 12).
  let head = `GET ${options.path} HTTP/1.1\r\n`;
  if (!userHost) head += `Host: ${options.host}\r\n`;
  head += `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (options.origin !== undefined && !userOrigin) head += `Origin: ${options.origin}\r\n`;
  if (protocols.length > 0) head += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  if (options.extensions) head += `Sec-WebSocket-Extensions: ${options.extensions}\r\n`;
  if (user !== undefined) {
    for (const name of Object.keys(user)) {
      const value = user[name]!;
      if (typeof value === 'string') head += `${name}: ${value}\r\n`;
      else for (const v of value) head += `${name}: ${v}\r\n`;
    }
  }
  return { bytes: Buffer.from(head + '\r\n', 'latin1'), key, protocols };
}

/** The result of feeding bytes to a `HandshakeResponseParser`. */
export interface ParsedHead {
  response: HandshakeResponse;
  /** Bytes after the response head: the first WebSocket frames (or the body of a refusal). */
  leftover: Buffer;
}

/**
 * An incremental parser of the server's response head (the shared
 * `HttpHeadReader`). Feed it chunks until it returns the response; bytes
 * that came after the head are returned as `leftover` so no frame sent in
 * the same read is lost.
 */
export class HandshakeResponseParser {
  private readonly reader = new HttpHeadReader('response', MAX_RESPONSE_HEAD_BYTES);

  push(chunk: Buffer): ParsedHead | undefined {
    const head = this.reader.push(chunk);
    if (head === undefined) return undefined;
    return { response: parseResponseHead(head.startLine, head.fieldLines), leftover: head.leftover };
  }
}

function parseResponseHead(statusLine: string, fieldLines: string[]): HandshakeResponse {
  const match = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) {
    throw new HandshakeError(ErrorCode.HandshakeMalformed, 'response does not start with an HTTP/1.1 status line', {
      bodyStart: [statusLine, ...fieldLines].join('\r\n').slice(0, BODY_START_CHARS),
    });
  }
  const status = Number(match[2]);
  const { headers, rawHeaders } = parseHeaderFields(fieldLines, 'response', { status });
  // An open connection keeps its 101: the strings every 101 carries are shared, not one copy
  // per connection (the others are made its own once verified: see verifyHandshakeResponse).
  for (let i = 0; i < rawHeaders.length; i++) rawHeaders[i] = shared(rawHeaders[i]!);
  for (const name in headers) headers[name] = shared(headers[name]!);
  return {
    status,
    statusText: shared(match[3] ?? ''),
    httpVersion: shared(match[1]!),
    headers,
    // A copy of exactly its length: the array push() grew has room to spare, kept as long as the connection.
    rawHeaders: rawHeaders.slice(),
    protocol: headers['sec-websocket-protocol'],
    extensions: headers['sec-websocket-extensions'],
  };
}

/** Names and values found in most 101 responses. */
const COMMON_STRINGS = new Map(
  [
    '1.1',
    'Switching Protocols',
    'Upgrade',
    'upgrade',
    'Connection',
    'connection',
    'websocket',
    'WebSocket',
    'Sec-WebSocket-Accept',
    'sec-websocket-accept',
    'Sec-WebSocket-Protocol',
    'Sec-WebSocket-Extensions',
    'permessage-deflate',
  ].map((s) => [s, s]),
);

/** V8 makes a string of this many characters or more taken from another a view of it (a sliced string). */
const SLICED_STRING_MIN_CHARS = 13;

function shared(text: string): string {
  return COMMON_STRINGS.get(text) ?? text;
}

/**
 * `text` as a kept response holds it: a string of its own, not a view of
 * the response head (which a view would keep alive). Common strings are
 * shared constants already; short ones are copies already. The head is
 * latin1 text, so a latin1 round trip copies it exactly.
 */
function ownString(text: string, accept: string): string {
  if (text === accept) return accept;
  if (text.length < SLICED_STRING_MIN_CHARS || COMMON_STRINGS.has(text)) return text;
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** One extension in a Sec-WebSocket-Extensions header (RFC 6455 9.1). */
export interface ExtensionOffer {
  name: string;
  /** Parameter values; `true` for a parameter with no value. */
  params: Record<string, string | true>;
  /** Parameter names in order, repeats included (a repeat is an error for most extensions). */
  paramNames: string[];
}

/** Parses a Sec-WebSocket-Extensions value; throws on a malformed one. */
export function parseExtensions(value: string): ExtensionOffer[] {
  const result: ExtensionOffer[] = [];
  for (const item of value.split(',')) {
    const parts = item.split(';').map(trimOws);
    const name = parts[0]!;
    if (!TOKEN.test(name)) throw new SyntaxError(`invalid extension name ${JSON.stringify(name)}`);
    const params: Record<string, string | true> = {};
    const paramNames: string[] = [];
    for (const part of parts.slice(1)) {
      const eq = part.indexOf('=');
      const key = trimOws(eq === -1 ? part : part.slice(0, eq));
      if (!TOKEN.test(key)) throw new SyntaxError(`invalid extension parameter ${JSON.stringify(key)}`);
      let val: string | true = true;
      if (eq !== -1) {
        val = trimOws(part.slice(eq + 1));
        if (val.length >= 2 && val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1);
        if (!TOKEN.test(val)) throw new SyntaxError(`invalid value for extension parameter ${key}`);
      }
      paramNames.push(key);
      params[key] = val;
    }
    result.push({ name, params, paramNames });
  }
  return result;
}

/** Something that accepts (or refuses, by throwing) the server's answer to an extension it offered. */
export interface ExtensionNegotiator {
  /** The extension's name, as offered. */
  readonly name: string;
  /** Validates the server's parameters; throws an Error with a reason to refuse them. */
  accept(response: ExtensionOffer): void;
}

export interface VerifyOptions {
  key: string;
  protocols: readonly string[];
  extensions?: readonly ExtensionNegotiator[];
}

/**
 * Verifies the server's response (RFC 6455 4.1, "the client MUST validate the
 * server's response as follows"). Throws a `HandshakeError` that carries the
 * status and headers. The body start is added by the caller, which owns the
 * socket the body is on.
 */
export function verifyHandshakeResponse(response: HandshakeResponse, options: VerifyOptions, bodyStart?: string): void {
  const details = { status: response.status, headers: response.headers, bodyStart };
  const fail = (code: ErrorCode, message: string, cause?: unknown): never => {
    throw new HandshakeError(code, message, { ...details, cause });
  };
  if (response.status !== 101) {
    fail(ErrorCode.HandshakeStatus, `server answered ${response.status} ${response.statusText}`.trimEnd() + ', not 101');
  }
  // RFC 6455 4.2.2: the answer is an HTTP/1.1 101. RFC 7230 2.6: a higher minor version
  // is read as 1.1; another major version is another syntax; HTTP/1.0 has no Upgrade (RFC 7230 6.7).
  const [major, minor] = response.httpVersion.split('.').map(Number);
  if (major !== 1 || minor === undefined || minor < 1) {
    fail(ErrorCode.HandshakeMalformed, `a 101 answer in HTTP/${response.httpVersion}, not HTTP/1.1`);
  }
  const upgrade = response.headers['upgrade'];
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    fail(ErrorCode.HandshakeUpgrade, 'response has no "Upgrade: websocket" header');
  }
  if (!hasToken(response.headers['connection'], 'upgrade')) {
    fail(ErrorCode.HandshakeConnection, 'response has no Connection header with the "upgrade" token');
  }
  const accept = response.headers['sec-websocket-accept'];
  if (accept === undefined) fail(ErrorCode.HandshakeAccept, 'response has no Sec-WebSocket-Accept header');
  const expected = acceptValue(options.key);
  if (accept !== expected) fail(ErrorCode.HandshakeAccept, 'Sec-WebSocket-Accept does not match the key sent');
  const protocol = response.headers['sec-websocket-protocol'];
  if (protocol !== undefined && !options.protocols.includes(protocol)) {
    fail(ErrorCode.HandshakeProtocol, `server selected subprotocol ${JSON.stringify(protocol)}, which was not offered`);
  }
  const extensions = response.headers['sec-websocket-extensions'];
  if (extensions !== undefined) {
    let parsed: ExtensionOffer[] = [];
    try {
      parsed = parseExtensions(extensions);
    } catch (error) {
      fail(ErrorCode.HandshakeExtension, 'malformed Sec-WebSocket-Extensions header', error);
    }
    const seen = new Set<string>();
    for (const ext of parsed) {
      const negotiator = options.extensions?.find((n) => n.name === ext.name);
      // RFC 6455 4.1: an extension "not present in the client's handshake" fails the connection.
      if (negotiator === undefined) fail(ErrorCode.HandshakeExtension, `server accepted extension ${ext.name}, which was not offered`);
      if (seen.has(ext.name)) fail(ErrorCode.HandshakeExtension, `server accepted extension ${ext.name} twice`);
      seen.add(ext.name);
      try {
        negotiator!.accept(ext);
      } catch (error) {
        fail(ErrorCode.HandshakeExtension, `server's ${ext.name} parameters refused: ${(error as Error).message}`, error);
      }
    }
  }
  // Verified: the response may be kept as long as the connection. No string of it may be a view of the head.
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i++) raw[i] = ownString(raw[i]!, expected);
  const headers = response.headers;
  for (const name in headers) headers[name] = ownString(headers[name]!, expected);
  response.protocol = headers['sec-websocket-protocol'];
  response.extensions = headers['sec-websocket-extensions'];
}
