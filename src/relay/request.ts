// The client's side of the opening handshake, as the relay reads it: the
// request, the headers it forwards, the answer it refuses with, and the
// permessage-deflate offer it passes on or accepts itself.
import type { Duplex } from 'node:stream';
import { ErrorCode, UsageError } from '../protocol/errors.js';
import { describeValue } from '../protocol/option-checks.js';
import { parseExtensions, type ExtensionOffer } from '../protocol/handshake.js';
import { PERMESSAGE_DEFLATE, type NegotiatedDeflate, type PerMessageDeflateOptions, type WindowBits } from '../protocol/permessage-deflate.js';

/** A client's upgrade request, as the hooks see it. */
export interface RelayRequest {
  method: string;
  /** The request target: path and query. */
  path: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Names and values in the order received, with the client's spelling. */
  rawHeaders: string[];
  /** The subprotocols the client offered, in its order. */
  protocols: string[];
  /** The client's address, as the socket saw it. */
  remoteAddress: string | undefined;
}

/** How `authorize` refuses a request: an HTTP status (4xx/5xx), headers and a body. */
export interface RelayRefusal {
  status: number;
  /** A name given an array is sent once per value (`Set-Cookie`). */
  headers?: Record<string, string | string[]>;
  body?: string;
}

/**
 * Request header rewriting: `drop` removes headers, `rename` renames them
 * (old name to new), `set` adds or replaces. Applied in that order, names
 * compared without case. A function gets the headers to forward (by the
 * client's spelling) and returns the headers to send instead.
 */
export type HeaderRewrite =
  | { drop?: string[]; rename?: Record<string, string>; set?: Record<string, string | string[]> }
  | ((headers: Record<string, string[]>, request: RelayRequest) => Record<string, string | string[]>);

/**
 * Request headers that belong to one hop, or to the handshake the relay
 * makes itself (RFC 7230 6.1: Connection and the headers it names are
 * hop-by-hop; RFC 6455 4.1: the Sec-WebSocket-* headers are per connection).
 * They are never forwarded, whatever a rewrite says.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'content-length',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

/** The offered subprotocols (RFC 6455 4.1: a comma-separated list of tokens). */
export function offeredProtocols(headers: Record<string, string>): string[] {
  return (headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The headers to forward upstream: end-to-end ones by the client's spelling, X-Forwarded-For, then the rewrite. */
export function forwardedHeaders(request: RelayRequest, rewrite: HeaderRewrite | undefined): Record<string, string[]> {
  const named = new Set(
    (request.headers['connection'] ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
  const headers: Record<string, string[]> = {};
  const spelling = new Map<string, string>();
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || named.has(lower) || lower === 'x-forwarded-for') continue;
    if (!spelling.has(lower)) spelling.set(lower, name);
    (headers[spelling.get(lower)!] ??= []).push(request.rawHeaders[i + 1]!);
  }
  if (request.remoteAddress !== undefined) {
    const before = request.headers['x-forwarded-for'];
    headers['X-Forwarded-For'] = [before ? `${before}, ${request.remoteAddress}` : request.remoteAddress];
  }
  let result: Record<string, string | string[]> = headers;
  if (typeof rewrite === 'function') {
    result = rewrite(headers, request) ?? headers;
    if (typeof result !== 'object' || Array.isArray(result)) {
      throw new UsageError(ErrorCode.InvalidOption, `the headers function returned ${describeValue(result)}, not an object of headers`);
    }
  } else if (rewrite !== undefined) result = applyRewrite(headers, rewrite);
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(result)) {
    if (HOP_BY_HOP_HEADERS.has(name.toLowerCase())) continue;
    out[name] = Array.isArray(value) ? value : [value];
  }
  return out;
}

function applyRewrite(
  headers: Record<string, string[]>,
  rewrite: Exclude<HeaderRewrite, (...args: never[]) => unknown>,
): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = { ...headers };
  const remove = (lower: string): Array<string | string[]> => {
    const removed: Array<string | string[]> = [];
    for (const name of Object.keys(result)) {
      if (name.toLowerCase() === lower) {
        removed.push(result[name]!);
        delete result[name];
      }
    }
    return removed;
  };
  for (const name of rewrite.drop ?? []) remove(name.toLowerCase());
  for (const [from, to] of Object.entries(rewrite.rename ?? {})) {
    const values = remove(from.toLowerCase()).flat();
    if (values.length > 0) result[to] = values;
  }
  for (const [name, value] of Object.entries(rewrite.set ?? {})) {
    remove(name.toLowerCase());
    result[name] = value;
  }
  return result;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Answers a request the relay does not upgrade, and ends the connection. */
export function writeRefusal(socket: Duplex, refusal: RelayRefusal): void {
  if (socket.destroyed) return;
  const body = refusal.body ?? `${STATUS_TEXT[refusal.status] ?? 'Refused'}\n`;
  const lines = [`HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? 'Refused'}`, 'Connection: close'];
  const names = new Set(Object.keys(refusal.headers ?? {}).map((n) => n.toLowerCase()));
  if (!names.has('content-type')) lines.push('Content-Type: text/plain; charset=utf-8');
  for (const [name, values] of Object.entries(refusal.headers ?? {})) {
    const lower = name.toLowerCase();
    // A hook's header cannot split the response or contradict its framing.
    if (lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    for (const value of Array.isArray(values) ? values : [values]) {
      if (/[\r\n\0:]/.test(name) || name === '' || /[\r\n\0]/.test(value)) continue;
      lines.push(`${name}: ${value}`);
    }
  }
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** A client's permessage-deflate offer (RFC 7692 7.1), read as the options of our own offer. */
export function readDeflateOffer(header: string | undefined): PerMessageDeflateOptions | undefined {
  if (header === undefined) return undefined;
  let offers: ExtensionOffer[];
  try {
    offers = parseExtensions(header);
  } catch {
    return undefined;
  }
  // RFC 7692 5: the first offer we can accept wins; offers with a parameter we do not know are declined.
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const options = offerOptions(offer);
    if (options !== undefined) return options;
  }
  return undefined;
}

function offerOptions(offer: ExtensionOffer): PerMessageDeflateOptions | undefined {
  if (new Set(offer.paramNames).size !== offer.paramNames.length) return undefined;
  const options: PerMessageDeflateOptions = { clientMaxWindowBits: false };
  for (const [name, value] of Object.entries(offer.params)) {
    if (name === 'server_no_context_takeover' && value === true) options.serverNoContextTakeover = true;
    else if (name === 'client_no_context_takeover' && value === true) options.clientNoContextTakeover = true;
    else if (name === 'server_max_window_bits' && isBits(value)) options.serverMaxWindowBits = Number(value) as WindowBits;
    else if (name === 'client_max_window_bits' && (value === true || isBits(value))) {
      options.clientMaxWindowBits = value === true ? true : (Number(value) as WindowBits);
    } else return undefined;
  }
  return options;
}

function isBits(value: string | true): value is string {
  return value !== true && /^(8|9|1[0-5])$/.test(value);
}

/** An extension element as it goes on the wire. */
export function formatExtension(extension: ExtensionOffer): string {
  return [extension.name, ...Object.entries(extension.params).map(([k, v]) => (v === true ? k : `${k}=${v}`))].join('; ');
}

/**
 * The relay as the client's server: accepts the client's offer as it is
 * (RFC 7692 7.1.1, 7.1.2: echo the context-takeover and server window
 * parameters asked for; leave the client's window unrestricted). Returns
 * the response element and the parameters seen from the relay's side, in
 * the shape `MessageDeflater` / `MessageInflater` take (their "client" is
 * the relay, their "server" the client).
 */
export function acceptDeflateOffer(offer: PerMessageDeflateOptions): { response: string; relaySide: NegotiatedDeflate } {
  const parts = [PERMESSAGE_DEFLATE];
  if (offer.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (offer.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (offer.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${offer.serverMaxWindowBits}`);
  return {
    response: parts.join('; '),
    relaySide: {
      // What we send: our window and our context takeover.
      clientNoContextTakeover: offer.serverNoContextTakeover ?? false,
      clientMaxWindowBits: offer.serverMaxWindowBits ?? 15,
      // What the client sends.
      serverNoContextTakeover: offer.clientNoContextTakeover ?? false,
      serverMaxWindowBits: typeof offer.clientMaxWindowBits === 'number' ? offer.clientMaxWindowBits : 15,
    },
  };
}
