import type { ExtensionNegotiator, ExtensionOffer } from './handshake.js';
import { ErrorCode, UsageError } from './errors.js';
import { checkBoolean, checkKnownKeys } from './option-checks.js';

/** The extension's registered name (RFC 7692 7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * RFC 7692 7.2.1/7.2.2: the four bytes a sync flush ends with. The sender
 * removes them from every compressed message; the receiver appends them
 * again before inflating.
 */
export const DEFLATE_TRAILER: Buffer = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Default `thresholdBytes`: messages smaller than this are sent uncompressed. */
export const DEFAULT_DEFLATE_THRESHOLD_BYTES = 1024;

/** Default process-wide limit on zlib operations running at once. */
export const DEFAULT_MAX_CONCURRENT_ZLIB = 10;

/** An LZ77 window size as the base-2 logarithm of its bytes (RFC 7692 7.1.2). */
export type WindowBits = 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15;

export interface PerMessageDeflateOptions {
  /**
   * The largest window we may be asked to compress with. A number offers
   * that limit; `true` (the default) offers the parameter without a value,
   * telling the server it may pick one; `false` leaves it out, and a server
   * must then not restrict our window (RFC 7692 7.1.2.2).
   */
  clientMaxWindowBits?: WindowBits | boolean;
  /** Asks the server to compress with at most this window (RFC 7692 7.1.2.1). */
  serverMaxWindowBits?: WindowBits;
  /** Offers to reset our compression context after every message (RFC 7692 7.1.1.2). */
  clientNoContextTakeover?: boolean;
  /** Asks the server to reset its compression context after every message (RFC 7692 7.1.1.1). */
  serverNoContextTakeover?: boolean;
  /** Messages under this many bytes are sent uncompressed. Default 1024. */
  thresholdBytes?: number;
  /** zlib compression level, 0-9. Default: zlib's default (6). */
  level?: number;
  /** zlib memLevel, 1-9. Default 8. */
  memLevel?: number;
  /** Process-wide limit on zlib operations running at once. Default 10. */
  maxConcurrentZlib?: number;
}

/** What the server agreed to; window bits are 15 when the server set no limit. */
export interface NegotiatedDeflate {
  /** The server resets its context after each message: our inflater must too. */
  serverNoContextTakeover: boolean;
  /** We reset our compression context after each message. */
  clientNoContextTakeover: boolean;
  /** The server compresses with at most this window. */
  serverMaxWindowBits: WindowBits;
  /** We must compress with at most this window. */
  clientMaxWindowBits: WindowBits;
}

/** The parameters RFC 7692 7.1 defines; anything else in a response is refused. */
const KNOWN_PARAMS = new Set([
  'server_no_context_takeover',
  'client_no_context_takeover',
  'server_max_window_bits',
  'client_max_window_bits',
]);

function isWindowBits(value: unknown): value is WindowBits {
  return Number.isInteger(value) && (value as number) >= 8 && (value as number) <= 15;
}

const DEFLATE_OPTION_NAMES: Record<keyof PerMessageDeflateOptions, true> = {
  clientMaxWindowBits: true,
  serverMaxWindowBits: true,
  clientNoContextTakeover: true,
  serverNoContextTakeover: true,
  thresholdBytes: true,
  level: true,
  memLevel: true,
  maxConcurrentZlib: true,
};

/** The options with their defaults filled in. */
export interface ResolvedDeflateOptions extends PerMessageDeflateOptions {
  clientMaxWindowBits: WindowBits | boolean;
  clientNoContextTakeover: boolean;
  serverNoContextTakeover: boolean;
  thresholdBytes: number;
}

/**
 * Checks the options a user passed; throws a `UsageError` naming the first
 * bad one. Returns the options with their defaults filled in.
 */
export function normalizeDeflateOptions(options: PerMessageDeflateOptions = {}): ResolvedDeflateOptions {
  const bad = (name: string, expected: string): never => {
    throw new UsageError(ErrorCode.InvalidOption, `perMessageDeflate.${name} must be ${expected}`);
  };
  // Options from plain JavaScript: a misspelt name would otherwise be ignored.
  checkKnownKeys('perMessageDeflate', options, Object.keys(DEFLATE_OPTION_NAMES));
  const clientNoContextTakeover = checkBoolean('perMessageDeflate.clientNoContextTakeover', options.clientNoContextTakeover, false);
  const serverNoContextTakeover = checkBoolean('perMessageDeflate.serverNoContextTakeover', options.serverNoContextTakeover, false);
  const cmwb = options.clientMaxWindowBits;
  if (cmwb !== undefined && typeof cmwb !== 'boolean' && !isWindowBits(cmwb)) bad('clientMaxWindowBits', 'an integer from 8 to 15, or a boolean');
  if (options.serverMaxWindowBits !== undefined && !isWindowBits(options.serverMaxWindowBits)) {
    bad('serverMaxWindowBits', 'an integer from 8 to 15');
  }
  const threshold = options.thresholdBytes ?? DEFAULT_DEFLATE_THRESHOLD_BYTES;
  if (!Number.isSafeInteger(threshold) || threshold < 0) bad('thresholdBytes', 'a non-negative integer');
  if (options.level !== undefined && (!Number.isInteger(options.level) || options.level < -1 || options.level > 9)) {
    bad('level', 'an integer from -1 to 9');
  }
  if (options.memLevel !== undefined && (!Number.isInteger(options.memLevel) || options.memLevel < 1 || options.memLevel > 9)) {
    bad('memLevel', 'an integer from 1 to 9');
  }
  const limit = options.maxConcurrentZlib;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) bad('maxConcurrentZlib', 'a positive integer');
  return {
    ...options,
    clientMaxWindowBits: cmwb ?? true,
    clientNoContextTakeover,
    serverNoContextTakeover,
    thresholdBytes: threshold,
  };
}

/**
 * The Sec-WebSocket-Extensions offer for `options` (RFC 7692 7.1), e.g.
 * `permessage-deflate; client_max_window_bits`.
 */
export function buildOffer(options: PerMessageDeflateOptions = {}): string {
  const o = normalizeDeflateOptions(options);
  const parts = [PERMESSAGE_DEFLATE];
  if (o.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (o.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (o.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${o.serverMaxWindowBits}`);
  // RFC 7692 7.1.2.2: without a value, the parameter only says we can honour a limit.
  if (o.clientMaxWindowBits === true) parts.push('client_max_window_bits');
  else if (typeof o.clientMaxWindowBits === 'number') parts.push(`client_max_window_bits=${o.clientMaxWindowBits}`);
  return parts.join('; ');
}

/**
 * Reads a window-bits value from a response. RFC 7692 7.1.2.1/7.1.2.2: a
 * decimal integer from 8 to 15 "without leading zeroes"; in a response the
 * value is never optional.
 */
function parseWindowBits(name: string, value: string | true): WindowBits {
  if (value === true || !/^(8|9|1[0-5])$/.test(value)) {
    throw new Error(`${name} must have a value from 8 to 15`);
  }
  return Number(value) as WindowBits;
}

/**
 * The client side of permessage-deflate negotiation. Give it to
 * `verifyHandshakeResponse` with the offer from `buildOffer` of the same
 * options; once the handshake is verified, `negotiated` says how both sides
 * compress. `accepted` stays false when the server declined the extension.
 * Use a new one for each connection attempt.
 */
export class PerMessageDeflateNegotiator implements ExtensionNegotiator {
  readonly name = PERMESSAGE_DEFLATE;
  readonly options: ResolvedDeflateOptions;
  private result: NegotiatedDeflate | undefined;

  constructor(options: PerMessageDeflateOptions = {}) {
    this.options = normalizeDeflateOptions(options);
  }

  /** The offer to put in the handshake request. */
  offer(): string {
    return buildOffer(this.options);
  }

  /** Whether the server accepted the extension. */
  get accepted(): boolean {
    return this.result !== undefined;
  }

  /** The agreed parameters; undefined until `accept` succeeded. */
  get negotiated(): NegotiatedDeflate | undefined {
    return this.result;
  }

  /** Validates the server's response; throws an Error with the reason to refuse it. */
  accept(response: ExtensionOffer): void {
    // RFC 7692 7.1: the client fails the connection when the response has a
    // parameter it does not define, the same parameter twice, or a bad value.
    const seen = new Set<string>();
    for (const name of response.paramNames) {
      if (!KNOWN_PARAMS.has(name)) throw new Error(`unknown parameter ${name}`);
      if (seen.has(name)) throw new Error(`parameter ${name} is repeated`);
      seen.add(name);
    }
    const p = response.params;
    const offered = this.options;

    for (const name of ['server_no_context_takeover', 'client_no_context_takeover'] as const) {
      if (p[name] !== undefined && p[name] !== true) throw new Error(`${name} takes no value`);
    }
    // RFC 7692 7.1.1.1: a server accepts our server_no_context_takeover by
    // echoing it; it may also add it unasked.
    const serverNoContextTakeover = p.server_no_context_takeover === true;
    if (offered.serverNoContextTakeover && !serverNoContextTakeover) {
      throw new Error('server_no_context_takeover was offered but not accepted');
    }
    // RFC 7692 7.1.1.2: the server may ask us to reset our context whether or
    // not we offered to; if we offered, we reset even when it does not ask.
    const clientNoContextTakeover = p.client_no_context_takeover === true || offered.clientNoContextTakeover;

    // RFC 7692 7.1.2.1: accepting our limit means echoing it, "with the same
    // or smaller value"; a server may also set a limit we did not ask for.
    let serverMaxWindowBits: WindowBits = 15;
    if (p.server_max_window_bits !== undefined) {
      serverMaxWindowBits = parseWindowBits('server_max_window_bits', p.server_max_window_bits);
      if (offered.serverMaxWindowBits !== undefined && serverMaxWindowBits > offered.serverMaxWindowBits) {
        throw new Error(`server_max_window_bits=${serverMaxWindowBits} is larger than the ${offered.serverMaxWindowBits} offered`);
      }
    } else if (offered.serverMaxWindowBits !== undefined) {
      throw new Error('server_max_window_bits was offered but not accepted');
    }

    // RFC 7692 7.1.2.2: "If a received extension negotiation offer doesn't
    // have the client_max_window_bits extension parameter, the corresponding
    // extension negotiation response to the offer MUST NOT include" it.
    let clientMaxWindowBits: WindowBits = typeof offered.clientMaxWindowBits === 'number' ? offered.clientMaxWindowBits : 15;
    if (p.client_max_window_bits !== undefined) {
      if (offered.clientMaxWindowBits === false) throw new Error('client_max_window_bits was not offered');
      const bits = parseWindowBits('client_max_window_bits', p.client_max_window_bits);
      if (bits > clientMaxWindowBits) {
        throw new Error(`client_max_window_bits=${bits} is larger than the ${clientMaxWindowBits} offered`);
      }
      clientMaxWindowBits = bits;
    }
    this.result = { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
  }
}

/**
 * The windowBits to give zlib's raw deflate for a negotiated limit.
 *
 * RFC 7692 allows a 256-byte window (8), but zlib refuses windowBits 8 for
 * raw deflate (since 1.2.9; Node quietly substitutes 9). Compressing with 9
 * still honours a limit of 8: zlib's deflate never emits a match farther back
 * than the window size minus 262 bytes (MIN_LOOKAHEAD), which for a 512-byte
 * window is 250, inside the 256 bytes the peer keeps.
 */
export function deflateWindowBits(negotiated: WindowBits): number {
  return negotiated === 8 ? 9 : negotiated;
}

/**
 * The windowBits for our inflater. An inflater's window must be at least as
 * large as the sender's; 15 (32 KiB, the largest) decodes any stream whatever
 * the server chose, so a server that overshoots its own limit is still read.
 */
export const INFLATE_WINDOW_BITS = 15;
