// The relay's options as a plain JavaScript caller may pass them: checked at
// `createRelay`, with the client's checks (src/protocol/option-checks.ts), so
// a typo or a wrong type is a UsageError with WSP_ERR_INVALID_OPTION that
// names the option, as it is for `new WebSocketClient(url, options)`.
import { parseProxyUrl } from '../client/proxy.js';
import {
  checkBoolean,
  checkFunction,
  checkKnownKeys,
  describeValue,
  invalidOption,
  isPlainObject,
  MAX_DURATION_MS,
} from '../protocol/option-checks.js';
import { normalizeDeflateOptions, type PerMessageDeflateOptions } from '../protocol/permessage-deflate.js';
import type { RelayOptions } from './relay.js';

const RELAY_OPTION_NAMES: Record<keyof RelayOptions, true> = {
  upstream: true,
  authorize: true,
  headers: true,
  onMessage: true,
  onFrame: true,
  perMessageDeflate: true,
  maxMessageBytes: true,
  handshakeTimeoutMs: true,
  closeTimeoutMs: true,
  tls: true,
  proxy: true,
  proxyFromEnv: true,
  createConnection: true,
};

/** An object (a literal or an instance of a class of yours), not null, an array or a function. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The checked numbers of `RelayOptions`, defaults filled in. */
export interface CheckedRelayOptions {
  handshakeTimeoutMs: number;
  closeTimeoutMs: number;
  /** Undefined: the default for the mode (see `RelayOptions.maxMessageBytes`). */
  maxMessageBytes: number | undefined;
}

/**
 * Checks every option but `upstream` (which `Relay` parses itself) and
 * returns the numbers with their defaults. Throws a `UsageError` with
 * `WSP_ERR_INVALID_OPTION` naming the option.
 */
export function checkRelayOptions(options: unknown): CheckedRelayOptions {
  if (!isObject(options)) invalidOption('createRelay options', 'an object', options);
  checkKnownKeys('', options, Object.keys(RELAY_OPTION_NAMES));
  const o = options as Record<keyof RelayOptions, unknown>;
  for (const name of ['authorize', 'onMessage', 'onFrame', 'createConnection'] as const) checkFunction(name, o[name]);
  checkHeaderRewrite(o.headers);
  if (o.perMessageDeflate !== undefined && typeof o.perMessageDeflate !== 'boolean') {
    if (!isObject(o.perMessageDeflate)) invalidOption('perMessageDeflate', 'true, false or an object of permessage-deflate options', o.perMessageDeflate);
    normalizeDeflateOptions(o.perMessageDeflate as PerMessageDeflateOptions); // names the bad member
  }
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null || Array.isArray(o.tls))) {
    invalidOption('tls', 'an object of tls.connect options', o.tls);
  }
  if (o.proxy !== undefined && o.proxy !== '') {
    if (typeof o.proxy !== 'string' && !(o.proxy instanceof URL)) {
      invalidOption('proxy', "a proxy URL (a string or a URL: 'http://host:port', 'socks5://...', 'socks5h://...')", o.proxy);
    }
    parseProxyUrl(o.proxy);
  }
  checkBoolean('proxyFromEnv', o.proxyFromEnv, false);
  return {
    handshakeTimeoutMs: positiveDuration('handshakeTimeoutMs', o.handshakeTimeoutMs, 10_000),
    closeTimeoutMs: positiveDuration('closeTimeoutMs', o.closeTimeoutMs, 5_000),
    maxMessageBytes: positiveSize('maxMessageBytes', o.maxMessageBytes),
  };
}

/** A timer's delay: above 0 (the relay has no "no timeout") and at most 2^31 - 1 ms. */
function positiveDuration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0 && value <= MAX_DURATION_MS)) {
    invalidOption(name, `a number above 0 and at most ${MAX_DURATION_MS} (milliseconds; 2^31 - 1 is the longest a timer can wait)`, value);
  }
  return value;
}

function positiveSize(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) invalidOption(name, 'a positive integer (bytes)', value);
  return value;
}

function checkHeaderRewrite(value: unknown): void {
  if (value === undefined || typeof value === 'function') return;
  if (!isPlainObject(value)) invalidOption('headers', 'an object { drop, rename, set } or a function (headers, request) => headers', value);
  checkKnownKeys('headers', value, ['drop', 'rename', 'set']);
  const { drop, rename, set } = value;
  if (drop !== undefined && !(Array.isArray(drop) && drop.every((name) => typeof name === 'string'))) {
    invalidOption('headers.drop', 'an array of header names', drop);
  }
  if (rename !== undefined) {
    if (!isPlainObject(rename)) invalidOption('headers.rename', 'an object of old name to new name', rename);
    for (const [from, to] of Object.entries(rename)) {
      if (typeof to !== 'string') invalidOption(`headers.rename[${JSON.stringify(from)}]`, 'a string (the new name)', to);
    }
  }
  if (set !== undefined) {
    if (!isPlainObject(set)) invalidOption('headers.set', 'an object of header name to value', set);
    for (const [name, v] of Object.entries(set)) {
      if (typeof v !== 'string' && !(Array.isArray(v) && v.every((one) => typeof one === 'string'))) {
        invalidOption(`headers.set[${JSON.stringify(name)}]`, 'a string or an array of strings', v);
      }
    }
  }
}

/** `listen()`'s options: a typo (`prot: 9000`) would otherwise listen on a random port. */
export function checkListenOptions(options: unknown): void {
  if (!isObject(options)) invalidOption('listen options', 'an object { host, port }', options);
  checkKnownKeys('listen', options, ['host', 'port']);
  const { host, port } = options;
  if (host !== undefined && (typeof host !== 'string' || host === '')) invalidOption('listen.host', 'a host name or an address', host);
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535)) {
    invalidOption('listen.port', 'an integer from 0 (any free port) to 65535', port);
  }
}

/** What `authorize` may return, as the relay reads it. */
export type AuthorizeVerdict = { go: true } | { go: false; status: number; headers?: Record<string, string | string[]>; body?: string } | { bad: string };

/**
 * Reads what `authorize` returned. `true` and `undefined` go on; `false`
 * refuses with 403; a refusal object with its status (4xx/5xx), headers and
 * body. Anything else (`0`, `''`, `null`, `'yes'`, a status out of range, a
 * body that is not a string) is a bug in the hook: the relay refuses (it
 * fails closed) and says why in `bad`.
 */
export function readAuthorizeVerdict(verdict: unknown): AuthorizeVerdict {
  if (verdict === true || verdict === undefined) return { go: true };
  if (verdict === false) return { go: false, status: 403 };
  if (!isObject(verdict)) return { bad: `authorize returned ${describeValue(verdict)}; it must return true, false, nothing or { status, headers, body }` };
  const { status = 403, headers, body } = verdict;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
    return { bad: `authorize refused with status ${describeValue(status)}; a refusal's status is an integer from 400 to 599` };
  }
  if (body !== undefined && typeof body !== 'string') return { bad: `authorize refused with a body that is ${describeValue(body)}, not a string` };
  if (headers !== undefined) {
    if (!isPlainObject(headers)) return { bad: `authorize refused with headers that are ${describeValue(headers)}, not an object` };
    for (const [name, v] of Object.entries(headers)) {
      if (typeof v !== 'string' && !(Array.isArray(v) && v.every((one) => typeof one === 'string'))) {
        return { bad: `authorize refused with header ${JSON.stringify(name)} of ${describeValue(v)}: a string or an array of strings` };
      }
    }
  }
  return { go: false, status, headers: headers as Record<string, string | string[]> | undefined, body };
}
