// The client side of an HTTP CONNECT tunnel (RFC 9110 9.3.6), Sans-I/O:
// build the request, read the proxy's response head. The head is read by the
// one HTTP head parser (src/protocol/http-head.ts, through the handshake's
// response parser), with the same header rules as the 101 and the server
// role; it hands back the bytes that followed the head.

import { isIPv6 } from 'node:net';
import { ErrorCode } from '../protocol/errors.js';
import { HandshakeResponseParser, type HandshakeResponse } from '../protocol/handshake.js';

export interface ConnectRequestOptions {
  /** The target host: a name, an IPv4 literal, or an IPv6 literal with or without brackets. */
  host: string;
  port: number;
  /** The full Proxy-Authorization value (e.g. `Basic ...`), when the proxy needs one. */
  proxyAuthorization?: string | undefined;
}

/**
 * The CONNECT request head. RFC 9110 9.3.6: "the request-target consists of
 * only the host and port number of the tunnel destination"; RFC 9112 3.2.3
 * calls that the authority-form, and the Host header repeats it.
 */
export function encodeConnectRequest(options: ConnectRequestOptions): Buffer {
  const authority = formatAuthority(options.host, options.port);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (options.proxyAuthorization !== undefined) lines.push(`Proxy-Authorization: ${options.proxyAuthorization}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

/** RFC 7617 2: `Basic` and the base64 of `user-id ":" password`, in UTF-8. */
export function basicProxyAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** `host:port`, with brackets around an IPv6 literal (RFC 3986 3.2.2). */
export function formatAuthority(host: string, port: number): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIPv6(bare) ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/** The verdict on a CONNECT response. */
export type ConnectOutcome =
  | { kind: 'established'; response: HandshakeResponse; leftover: Buffer }
  | { kind: 'failed'; response: HandshakeResponse; code: ErrorCode };

/**
 * Reads the proxy's answer to CONNECT. `push()` returns undefined until the
 * head is complete, then the outcome; a malformed or oversized head throws a
 * `HandshakeError` (the caller wraps it).
 */
export class ConnectResponseReader {
  private readonly parser = new HandshakeResponseParser();

  push(chunk: Buffer): ConnectOutcome | undefined {
    const head = this.parser.push(chunk);
    if (head === undefined) return undefined;
    const { response, leftover } = head;
    // RFC 9110 9.3.6: "Any 2xx (Successful) response indicates that the sender
    // (and all inbound proxies) will switch to tunnel mode immediately after
    // the response header section"; a client must ignore any Content-Length or
    // Transfer-Encoding in it, so every byte after the head is tunnel data.
    if (response.status >= 200 && response.status < 300) return { kind: 'established', response, leftover };
    return { kind: 'failed', response, code: connectStatusErrorCode(response.status) };
  }
}

/**
 * The error code for a refused CONNECT: 407 asks for (other) credentials, and
 * so does 401, which some proxies (tinyproxy) send when the credentials given
 * are wrong; no origin server can answer before the tunnel exists, so a 401
 * here can only be the proxy's. 502, 503 and 504 are what gateways answer
 * when the next hop cannot be reached (RFC 9110 15.6.3-15.6.5); anything else
 * is the proxy's own refusal.
 */
export function connectStatusErrorCode(status: number): ErrorCode {
  switch (status) {
    case 401:
    case 407:
      return ErrorCode.ProxyAuthFailed;
    case 502:
    case 503:
    case 504:
      return ErrorCode.ProxyTargetUnreachable;
    default:
      return ErrorCode.ProxyFailed;
  }
}
