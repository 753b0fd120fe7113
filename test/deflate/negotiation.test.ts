import { describe, expect, it } from 'vitest';
import { ErrorCode, HandshakeError, UsageError } from '../../src/protocol/errors.js';
import { acceptValue, parseExtensions, verifyHandshakeResponse, type HandshakeResponse } from '../../src/protocol/handshake.js';
import {
  buildOffer,
  deflateWindowBits,
  PerMessageDeflateNegotiator,
  type NegotiatedDeflate,
  type PerMessageDeflateOptions,
} from '../../src/protocol/permessage-deflate.js';

const DEFAULTS: NegotiatedDeflate = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe('buildOffer (RFC 7692 7.1)', () => {
  const table: Array<[PerMessageDeflateOptions, string]> = [
    [{}, 'permessage-deflate; client_max_window_bits'],
    [{ clientMaxWindowBits: false }, 'permessage-deflate'],
    [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    [{ serverMaxWindowBits: 8, clientMaxWindowBits: false }, 'permessage-deflate; server_max_window_bits=8'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9',
    ],
  ];
  it.each(table)('%j -> %s', (options, offer) => {
    expect(buildOffer(options)).toBe(offer);
    // What we offer must parse as a well-formed extension header.
    expect(parseExtensions(offer)[0]!.name).toBe('permessage-deflate');
  });

  it.each([
    { clientMaxWindowBits: 7 },
    { clientMaxWindowBits: 16 },
    { serverMaxWindowBits: 9.5 },
    { thresholdBytes: -1 },
    { level: 10 },
    { memLevel: 0 },
    { maxConcurrentZlib: 0 },
  ] as PerMessageDeflateOptions[])('refuses the option %j', (options) => {
    expect(() => buildOffer(options)).toThrow(UsageError);
  });
});

type Row = [name: string, options: PerMessageDeflateOptions, response: string, expected: Partial<NegotiatedDeflate> | RegExp];

const rows: Row[] = [
  // Accepted.
  ['bare acceptance', {}, 'permessage-deflate', {}],
  ['server limits our window (we offered no value)', {}, 'permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }],
  ['server sets a limit on itself unasked', {}, 'permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 12 }],
  ['server resets its context unasked (7.1.1.1)', {}, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
  ['server asks us to reset unasked (7.1.1.2)', {}, 'permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true }],
  ['we offered to reset, server silent: we still reset', { clientNoContextTakeover: true }, 'permessage-deflate', { clientNoContextTakeover: true }],
  ['server_no_context_takeover echoed', { serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
  ['server_max_window_bits echoed', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
  ['server_max_window_bits stricter than offered', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 }],
  ['client_max_window_bits=N offered, absent: N applies', { clientMaxWindowBits: 11 }, 'permessage-deflate', { clientMaxWindowBits: 11 }],
  ['client_max_window_bits stricter than offered', { clientMaxWindowBits: 11 }, 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 9 }],
  ['quoted value', {}, 'permessage-deflate; client_max_window_bits="12"', { clientMaxWindowBits: 12 }],
  [
    'everything at once',
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8',
    { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
  ],
  // Refused.
  ['unknown parameter', {}, 'permessage-deflate; x_max_window_bits=10', /unknown parameter/],
  ['repeated parameter', {}, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', /repeated/],
  ['repeated window bits', {}, 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', /repeated/],
  ['server_no_context_takeover with a value', {}, 'permessage-deflate; server_no_context_takeover=1', /takes no value/],
  ['client_no_context_takeover with a value', {}, 'permessage-deflate; client_no_context_takeover=true', /takes no value/],
  ['server_max_window_bits without a value', {}, 'permessage-deflate; server_max_window_bits', /from 8 to 15/],
  ['server_max_window_bits=7', {}, 'permessage-deflate; server_max_window_bits=7', /from 8 to 15/],
  ['server_max_window_bits=16', {}, 'permessage-deflate; server_max_window_bits=16', /from 8 to 15/],
  ['leading zero', {}, 'permessage-deflate; server_max_window_bits=09', /from 8 to 15/],
  ['not a number', {}, 'permessage-deflate; client_max_window_bits=abc', /from 8 to 15/],
  ['client_max_window_bits without a value in a response', {}, 'permessage-deflate; client_max_window_bits', /from 8 to 15/],
  ['server_max_window_bits offered but absent', { serverMaxWindowBits: 10 }, 'permessage-deflate', /offered but not accepted/],
  ['server_max_window_bits larger than offered', { serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=11', /larger than/],
  ['server_no_context_takeover offered but absent', { serverNoContextTakeover: true }, 'permessage-deflate', /offered but not accepted/],
  ['client_max_window_bits not offered (7.1.2.2)', { clientMaxWindowBits: false }, 'permessage-deflate; client_max_window_bits=15', /not offered/],
  ['client_max_window_bits larger than offered', { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=12', /larger than/],
];

describe('PerMessageDeflateNegotiator.accept (RFC 7692 7.1)', () => {
  it.each(rows)('%s', (_name, options, response, expected) => {
    const negotiator = new PerMessageDeflateNegotiator(options);
    const ext = parseExtensions(response)[0]!;
    if (expected instanceof RegExp) {
      expect(() => negotiator.accept(ext)).toThrow(expected);
      expect(negotiator.accepted).toBe(false);
      expect(negotiator.negotiated).toBeUndefined();
    } else {
      negotiator.accept(ext);
      expect(negotiator.accepted).toBe(true);
      expect(negotiator.negotiated).toEqual({ ...DEFAULTS, ...expected });
    }
  });

  it('offer() is buildOffer of the same options', () => {
    const options = { serverMaxWindowBits: 10, clientNoContextTakeover: true } as const;
    expect(new PerMessageDeflateNegotiator(options).offer()).toBe(buildOffer(options));
  });
});

describe('verifyHandshakeResponse with the negotiator', () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const response = (extensions: string | undefined): HandshakeResponse => {
    const headers: Record<string, string> = {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-accept': acceptValue(key),
    };
    if (extensions !== undefined) headers['sec-websocket-extensions'] = extensions;
    return { status: 101, statusText: 'Switching Protocols', httpVersion: '1.1', headers, rawHeaders: [], protocol: undefined, extensions };
  };

  it('records the agreement', () => {
    const negotiator = new PerMessageDeflateNegotiator();
    verifyHandshakeResponse(response('permessage-deflate; server_max_window_bits=12; client_max_window_bits=12'), {
      key,
      protocols: [],
      extensions: [negotiator],
    });
    expect(negotiator.negotiated).toEqual({ ...DEFAULTS, serverMaxWindowBits: 12, clientMaxWindowBits: 12 });
  });

  it('leaves the extension off when the server declines it', () => {
    const negotiator = new PerMessageDeflateNegotiator();
    verifyHandshakeResponse(response(undefined), { key, protocols: [], extensions: [negotiator] });
    expect(negotiator.accepted).toBe(false);
  });

  it.each([
    'permessage-deflate; foo=1',
    'permessage-deflate, permessage-deflate',
    'permessage-deflate; server_max_window_bits=1',
  ])('fails the handshake on %s', (header) => {
    const negotiator = new PerMessageDeflateNegotiator();
    let caught: unknown;
    try {
      verifyHandshakeResponse(response(header), { key, protocols: [], extensions: [negotiator] });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HandshakeError);
    expect((caught as HandshakeError).code).toBe(ErrorCode.HandshakeExtension);
    expect((caught as HandshakeError).status).toBe(101);
  });
});

describe('deflateWindowBits', () => {
  it('maps 8 to 9 (zlib raw deflate has no 256-byte window) and keeps the rest', () => {
    expect(deflateWindowBits(8)).toBe(9);
    for (const bits of [9, 10, 11, 12, 13, 14, 15] as const) expect(deflateWindowBits(bits)).toBe(bits);
  });
});
