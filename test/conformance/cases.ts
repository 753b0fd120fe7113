// The conformance cases, following the sections of the Autobahn TestSuite's
// client tests (issue 3). Each case is: what the server sends, how it sends
// it, and what the client must do. The client under test echoes every
// message back with the same type.

import { ErrorCode } from '../../src/protocol/errors.js';
import type { AcceptOptions, ConnectionScript, ReceivedMessage } from './peer.js';
import { binary, close, cont, fragments, frame, Op, payloadOf, ping, pong, text } from './wire.js';

export const SECTIONS: Record<string, string> = {
  '0': 'Opening handshake',
  '1': 'Framing',
  '2': 'Pings and pongs',
  '3': 'Reserved bits',
  '4': 'Reserved opcodes',
  '5': 'Fragmentation',
  '6': 'UTF-8 handling',
  '7': 'Close handling',
  '9': 'Limits and performance',
};

/** How the frames go on the wire. */
export type WriteMode =
  /** All frames in one write. */
  | 'whole'
  /** One write per frame. */
  | 'frames'
  /** One byte per write, yielding to the event loop between writes. */
  | 'bytes'
  /** Writes of this many bytes. */
  | number;

export interface Expectation {
  /** Whether the opening handshake must succeed. Default true. */
  opened: boolean;
  /** The messages the client must echo, exactly, in order. */
  messages: ReceivedMessage[];
  /** The pongs the client must send, exactly, in order (unsolicited pongs never). */
  pongs: Buffer[];
  /**
   * The status code in the client's close frame; `'none'` for a close frame
   * with no payload; `'none-or-1000'` accepts either; `null` for no close
   * frame at all (the client drops TCP, e.g. when the handshake fails);
   * `'any'` when either is right.
   */
  clientClose: number | 'none' | 'none-or-1000' | 'any' | null;
  /** The error the client must report (its `code`), or undefined for none. */
  errorCode: string | undefined;
  /** The `closeCode` that error must carry. */
  errorCloseCode?: number;
  /** The close codes `onClose` may report. Empty: any (or none). */
  onCloseCodes: number[];
  /** The reason `onClose` must report, when it matters. */
  onCloseReason?: string;
  /** The client itself must end the TCP connection, within this many ms of the case's start. */
  clientDropsTcpWithinMs?: number;
}

export interface ConformanceCase {
  id: string;
  section: string;
  description: string;
  /** Frames the server sends once the handshake is done. */
  frames: Buffer[];
  write: WriteMode;
  /** Send the frames in the same write as the 101. */
  withHandshake?: boolean;
  /** How the 101 is written (broken answers for section 0). */
  accept?: AcceptOptions;
  /** Replace the default script entirely. */
  server?: ConnectionScript;
  /** Options for the client under test. */
  clientOptions?: Record<string, unknown>;
  /** Called once the client is open (e.g. to close first). */
  onOpen?: (ws: { close(code?: number, reason?: string): void; send(data: string): boolean }) => void;
  expect: Expectation;
  /** Cases that share a lot of memory run one at a time. */
  heavy?: boolean;
  timeoutMs?: number;
}

// ---------------------------------------------------------------- helpers

const t = (s: string | Buffer): ReceivedMessage => ({ binary: false, payload: Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8') });
const b = (p: Buffer): ReceivedMessage => ({ binary: true, payload: p });

function echo(messages: ReceivedMessage[], more: Partial<Expectation> = {}): Expectation {
  return { opened: true, messages, pongs: [], clientClose: 1000, errorCode: undefined, onCloseCodes: [1000], ...more };
}

/**
 * RFC 6455 7.1.7: the client fails the connection, sending a close frame
 * with `closeCode`. `onClose` reports that code when the server's answering
 * close arrived first, or 1006 when the TCP connection went first (7.1.5).
 */
function fail(closeCode: number, errorCode: string, more: Partial<Expectation> = {}): Expectation {
  return { opened: true, messages: [], pongs: [], clientClose: closeCode, errorCode, errorCloseCode: closeCode, onCloseCodes: [closeCode, 1006], ...more };
}

/** RFC 6455 4.1: the handshake fails; the client closes TCP and sends no frame. */
function reject(errorCode: string): Expectation {
  return {
    opened: false,
    messages: [],
    pongs: [],
    clientClose: null,
    errorCode,
    onCloseCodes: [1006],
    clientDropsTcpWithinMs: 3000,
  };
}

const cases: ConformanceCase[] = [];
function add(c: Omit<ConformanceCase, 'section' | 'write'> & { write?: WriteMode }): void {
  cases.push({ write: 'whole', ...c, section: c.id.split('.')[0]! });
}

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

// ---------------------------------------------------------------- 1 framing

LENGTHS.forEach((n, i) => {
  const p = payloadOf(n, 'text');
  add({ id: `1.1.${i + 1}`, description: `text message, payload ${n} bytes`, frames: [text(p)], expect: echo([t(p)]) });
});
{
  const p = payloadOf(65536, 'text', 3);
  add({ id: '1.1.8', description: 'text message of 65536 bytes in 997-byte writes', frames: [text(p)], write: 997, expect: echo([t(p)]) });
  add({ id: '1.1.9', description: 'text message of 65536 bytes in the same stream as the 101, 61-byte writes', frames: [text(p)], withHandshake: true, write: 61, expect: echo([t(p)]) });
}
LENGTHS.forEach((n, i) => {
  const p = payloadOf(n, 'binary');
  add({ id: `1.2.${i + 1}`, description: `binary message, payload ${n} bytes`, frames: [binary(p)], expect: echo([b(p)]) });
});
{
  const p = payloadOf(65536, 'binary', 5);
  add({ id: '1.2.8', description: 'binary message of 65536 bytes in 997-byte writes', frames: [binary(p)], write: 997, expect: echo([b(p)]) });
  const small = [payloadOf(3, 'binary'), payloadOf(200, 'binary', 1), payloadOf(0, 'binary')];
  add({
    id: '1.2.9',
    description: 'three binary messages in one write',
    frames: small.map((p) => binary(p)),
    expect: echo(small.map(b)),
  });
  add({
    id: '1.2.10',
    description: 'two messages in the same write as the 101',
    frames: [text('first'), binary(small[1]!)],
    withHandshake: true,
    expect: echo([t('first'), b(small[1]!)]),
  });
  add({
    id: '1.2.11',
    description: 'a message byte by byte, the first bytes in the same write as the 101',
    frames: [text('chopped and glued')],
    withHandshake: true,
    write: 'bytes',
    expect: echo([t('chopped and glued')]),
  });
}

add({
  id: '1.3.1',
  description: 'a 5-byte payload with a non-minimal 64-bit length field: accepted',
  frames: [frame({ opcode: Op.Binary, payload: Buffer.from([1, 2, 3, 4, 5]), lengthForm: 64 })],
  expect: echo([b(Buffer.from([1, 2, 3, 4, 5]))]),
});
add({
  id: '1.4.1',
  description: 'the client sends a string with a lone surrogate: the wire carries valid UTF-8 (U+FFFD)',
  frames: [],
  onOpen: (ws) => ws.send('\ud800abc'),
  expect: echo([t('\ufffdabc')]),
});

// ---------------------------------------------------------------- 2 pings and pongs

{
  const hello = Buffer.from('Hello, world!');
  const bytes125 = payloadOf(125, 'binary', 9);
  add({ id: '2.1', description: 'ping without payload', frames: [ping()], expect: echo([], { pongs: [Buffer.alloc(0)] }) });
  add({ id: '2.2', description: 'ping with a small text payload', frames: [ping(hello)], expect: echo([], { pongs: [hello] }) });
  add({
    id: '2.3',
    description: 'ping with a small binary payload',
    frames: [ping(Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]))],
    expect: echo([], { pongs: [Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff])] }),
  });
  add({ id: '2.4', description: 'ping with a 125-byte payload', frames: [ping(bytes125)], expect: echo([], { pongs: [bytes125] }) });
  add({
    id: '2.5',
    description: 'ping with a 126-byte payload (16-bit length): fail 1002',
    frames: [frame({ opcode: Op.Ping, payload: payloadOf(126, 'binary') }), ping('after')],
    expect: fail(1002, ErrorCode.ControlFrameTooLong),
  });
  add({ id: '2.6', description: 'ping with a 125-byte payload, byte by byte', frames: [ping(bytes125)], write: 'bytes', expect: echo([], { pongs: [bytes125] }) });
  add({ id: '2.7', description: 'unsolicited pong without payload: ignored', frames: [pong()], expect: echo([]) });
  add({ id: '2.8', description: 'unsolicited pong with payload: ignored', frames: [pong('unsolicited')], expect: echo([]) });
  add({
    id: '2.9',
    description: 'unsolicited pong, then a ping: one pong with the ping payload',
    frames: [pong('unsolicited'), ping('solicited')],
    expect: echo([], { pongs: [Buffer.from('solicited')] }),
  });
  const ten = Array.from({ length: 10 }, (_, i) => Buffer.from(`payload-${i}`));
  add({ id: '2.10', description: '10 pings in one write: 10 pongs, each with its payload', frames: ten.map((p) => ping(p)), expect: echo([], { pongs: ten }) });
  add({ id: '2.11', description: '10 pings byte by byte: 10 pongs', frames: ten.map((p) => ping(p)), write: 'bytes', expect: echo([], { pongs: ten }) });
  const all = Array.from({ length: 126 }, (_, n) => payloadOf(n, 'binary', n));
  add({ id: '2.12', description: 'pings with every payload length 0..125, one write per frame', frames: all.map((p) => ping(p)), write: 'frames', expect: echo([], { pongs: all }) });
  add({
    id: '2.13',
    description: 'ping with a 126-byte payload announced in the 7-bit field (value 126), chopped: fail 1002',
    frames: [frame({ opcode: Op.Ping, payload: payloadOf(126, 'binary'), lengthForm: 16 })],
    write: 'bytes',
    expect: fail(1002, ErrorCode.ControlFrameTooLong),
  });
}

// ---------------------------------------------------------------- 3 reserved bits

{
  const after = [ping('after the bad frame')];
  add({ id: '3.1', description: 'text frame with RSV1 (no extension negotiated): fail 1002', frames: [frame({ opcode: Op.Text, payload: 'x', rsv: 4 }), ...after], expect: fail(1002, ErrorCode.ReservedBits) });
  add({
    id: '3.2',
    description: 'valid text, then text with RSV2, then a ping: echo, fail 1002, no pong',
    frames: [text('valid'), frame({ opcode: Op.Text, payload: 'x', rsv: 2 }), ...after],
    write: 'frames',
    expect: fail(1002, ErrorCode.ReservedBits, { messages: [t('valid')] }),
  });
  add({
    id: '3.3',
    description: 'valid text, then text with RSV3, then a ping, in one write',
    frames: [text('valid'), frame({ opcode: Op.Text, payload: 'x', rsv: 1 }), ...after],
    expect: fail(1002, ErrorCode.ReservedBits, { messages: [t('valid')] }),
  });
  add({
    id: '3.4',
    description: 'valid text, then text with RSV1+RSV2, then a ping, byte by byte',
    frames: [text('valid'), frame({ opcode: Op.Text, payload: 'x', rsv: 6 }), ...after],
    write: 'bytes',
    expect: fail(1002, ErrorCode.ReservedBits, { messages: [t('valid')] }),
  });
  add({ id: '3.5', description: 'binary frame with RSV1+RSV3: fail 1002', frames: [frame({ opcode: Op.Binary, payload: payloadOf(8, 'binary'), rsv: 5 })], expect: fail(1002, ErrorCode.ReservedBits) });
  add({ id: '3.6', description: 'ping with RSV2+RSV3: fail 1002, no pong', frames: [frame({ opcode: Op.Ping, payload: 'p', rsv: 3 })], expect: fail(1002, ErrorCode.ReservedBits) });
  add({ id: '3.7', description: 'close with all RSV bits: fail 1002', frames: [frame({ opcode: Op.Close, payload: Buffer.from([0x03, 0xe8]), rsv: 7 })], expect: fail(1002, ErrorCode.ReservedBits) });
  add({
    id: '3.9',
    description: 'text with RSV1; the server never answers the close nor closes TCP: the client drops it after closeTimeoutMs',
    frames: [],
    server: async (conn) => {
      conn.endOnClientFin = false;
      conn.onClientClose = 'ignore';
      await conn.accept();
      await conn.write(frame({ opcode: Op.Text, payload: 'x', rsv: 4 }));
      await conn.waitTcpClosed(4000);
    },
    clientOptions: { closeTimeoutMs: 500 },
    expect: fail(1002, ErrorCode.ReservedBits, { clientDropsTcpWithinMs: 2000 }),
  });
  add({ id: '3.8', description: 'continuation with RSV1 inside a fragmented message: fail 1002', frames: [text('frag', false), frame({ opcode: Op.Cont, payload: 'ment', rsv: 4 })], expect: fail(1002, ErrorCode.ReservedBits) });
}

// ---------------------------------------------------------------- 4 reserved opcodes

[3, 4, 5, 6, 7].forEach((op, i) => {
  const payload = i % 2 === 0 ? Buffer.alloc(0) : payloadOf(10, 'binary');
  const withValid = i >= 2;
  add({
    id: `4.1.${i + 1}`,
    description: `reserved non-control opcode ${op}${payload.length ? ' with payload' : ''}${withValid ? ' after a valid text' : ''}, then a ping: fail 1002`,
    frames: [...(withValid ? [text('valid')] : []), frame({ opcode: op, payload }), ping('after')],
    write: i === 4 ? 'bytes' : 'whole',
    expect: fail(1002, ErrorCode.ReservedOpcode, { messages: withValid ? [t('valid')] : [] }),
  });
});
[11, 12, 13, 14, 15].forEach((op, i) => {
  const payload = i % 2 === 0 ? Buffer.alloc(0) : payloadOf(10, 'binary');
  const withValid = i >= 2;
  add({
    id: `4.2.${i + 1}`,
    description: `reserved control opcode ${op}${payload.length ? ' with payload' : ''}${withValid ? ' after a valid text' : ''}, then a ping: fail 1002`,
    frames: [...(withValid ? [text('valid')] : []), frame({ opcode: op, payload }), ping('after')],
    write: i === 4 ? 'bytes' : 'whole',
    expect: fail(1002, ErrorCode.ReservedOpcode, { messages: withValid ? [t('valid')] : [] }),
  });
});

// ---------------------------------------------------------------- 5 fragmentation

{
  add({ id: '5.1', description: 'ping in two fragments: fail 1002', frames: [frame({ opcode: Op.Ping, payload: 'frag', fin: false }), cont('ment')], expect: fail(1002, ErrorCode.FragmentedControlFrame) });
  add({ id: '5.2', description: 'pong in two fragments: fail 1002', frames: [frame({ opcode: Op.Pong, payload: 'frag', fin: false }), cont('ment')], expect: fail(1002, ErrorCode.FragmentedControlFrame) });
  add({ id: '5.3', description: 'text in two fragments', frames: [text('frag', false), cont('ment')], expect: echo([t('fragment')]) });
  add({ id: '5.4', description: 'text in two fragments, one write per frame', frames: [text('frag', false), cont('ment')], write: 'frames', expect: echo([t('fragment')]) });
  add({ id: '5.5', description: 'text in two fragments, byte by byte', frames: [text('frag', false), cont('ment')], write: 'bytes', expect: echo([t('fragment')]) });
  add({
    id: '5.6',
    description: 'text in two fragments with a ping between: pong, then the message intact',
    frames: [text('frag', false), ping('between'), cont('ment')],
    expect: echo([t('fragment')], { pongs: [Buffer.from('between')] }),
  });
  add({
    id: '5.7',
    description: 'text in two fragments with a ping between, byte by byte',
    frames: [text('frag', false), ping('between'), cont('ment')],
    write: 'bytes',
    expect: echo([t('fragment')], { pongs: [Buffer.from('between')] }),
  });
  add({
    id: '5.8',
    description: 'pong answered at once: ping between fragments, rest withheld until the pong arrives',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      await conn.write([text('frag', false), ping('now')]);
      const answered = await conn.waitPongs(1, 2000);
      if (!answered) conn.violation('no pong while a fragmented message was in progress');
      await conn.write(cont('ment'));
      await conn.waitMessages(1, 2000);
      await conn.finish();
    },
    expect: echo([t('fragment')], { pongs: [Buffer.from('now')] }),
  });
  add({
    id: '5.9',
    description: 'text in fragments with an unsolicited pong between: ignored',
    frames: [text('frag', false), pong('unsolicited'), cont('ment')],
    expect: echo([t('fragment')]),
  });
  add({
    id: '5.10',
    description: 'binary in three fragments with pings between, one write per frame',
    frames: [binary(Buffer.from([1, 2]), false), ping('a'), cont(Buffer.from([3]), false), ping('b'), cont(Buffer.from([4, 5]))],
    write: 'frames',
    expect: echo([b(Buffer.from([1, 2, 3, 4, 5]))], { pongs: [Buffer.from('a'), Buffer.from('b')] }),
  });
  add({ id: '5.11', description: 'continuation (fin) with no message started: fail 1002', frames: [cont('orphan')], expect: fail(1002, ErrorCode.UnexpectedContinuation) });
  add({ id: '5.12', description: 'continuation (not fin) with no message started, byte by byte: fail 1002', frames: [cont('orphan', false), cont('end')], write: 'bytes', expect: fail(1002, ErrorCode.UnexpectedContinuation) });
  add({
    id: '5.13',
    description: 'continuation after a complete message: fail 1002',
    frames: [text('whole'), cont('orphan')],
    expect: fail(1002, ErrorCode.UnexpectedContinuation, { messages: [t('whole')] }),
  });
  add({ id: '5.14', description: 'text (not fin), then a new text frame: fail 1002', frames: [text('first', false), text('second')], expect: fail(1002, ErrorCode.ExpectedContinuation) });
  add({ id: '5.15', description: 'binary (not fin), then a new text (not fin): fail 1002', frames: [binary(Buffer.from([1]), false), text('x', false), cont('y')], expect: fail(1002, ErrorCode.ExpectedContinuation) });
  add({ id: '5.16', description: 'close in two fragments: fail 1002', frames: [frame({ opcode: Op.Close, payload: Buffer.from([0x03]), fin: false }), cont(Buffer.from([0xe8]))], expect: fail(1002, ErrorCode.FragmentedControlFrame) });
  add({
    id: '5.17',
    description: 'text with empty fragments before, between and after',
    frames: [text('', false), cont('a', false), cont('', false), cont('b', false), cont('')],
    expect: echo([t('ab')]),
  });
  const big = payloadOf(65536, 'binary', 7);
  add({
    id: '5.18',
    description: 'binary message in 65,536 fragments of 1 byte',
    frames: fragments(Op.Binary, big, 1),
    expect: echo([b(big)]),
    heavy: true,
  });
  const bigText = payloadOf(70000, 'text', 2);
  add({
    id: '5.19',
    description: 'text message in 70,000 fragments of 1 byte, 4 KiB writes',
    frames: fragments(Op.Text, bigText, 1),
    write: 4096,
    expect: echo([t(bigText)]),
    heavy: true,
  });
  add({
    id: '5.20',
    description: 'close between the fragments of a message: close echoed, message dropped',
    frames: [text('frag', false), close(1000), cont('ment')],
    expect: echo([], { clientClose: 1000 }),
  });
}

// ---------------------------------------------------------------- 6 UTF-8

{
  const valid: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['ASCII and Latin-1 letters', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!')],
    ['Greek κόσμε', Buffer.from('κόσμε')],
    ['U+007F', Buffer.from([0x7f])],
    ['U+0080', Buffer.from([0xc2, 0x80])],
    ['U+07FF', Buffer.from([0xdf, 0xbf])],
    ['U+0800', Buffer.from([0xe0, 0xa0, 0x80])],
    ['U+D7FF (last before the surrogates)', Buffer.from([0xed, 0x9f, 0xbf])],
    ['U+E000 (first after the surrogates)', Buffer.from([0xee, 0x80, 0x80])],
    ['U+FFFD', Buffer.from([0xef, 0xbf, 0xbd])],
    ['U+FFFF (noncharacter, valid UTF-8)', Buffer.from([0xef, 0xbf, 0xbf])],
    ['U+10000', Buffer.from([0xf0, 0x90, 0x80, 0x80])],
    ['U+1D11E (musical G clef)', Buffer.from('𝄞')],
    ['U+10FFFF', Buffer.from([0xf4, 0x8f, 0xbf, 0xbf])],
  ];
  valid.forEach(([name, bytes], i) => {
    add({ id: `6.1.${i + 1}`, description: `valid UTF-8: ${name}`, frames: [text(bytes)], expect: echo([t(bytes)]) });
  });
  const mixed = Buffer.from('κόσμε 𝄞 €uro ✓ Hello-µ@ßöäüàá');
  add({ id: '6.2.1', description: 'valid multi-byte text, one frame, byte by byte over TCP', frames: [text(mixed)], write: 'bytes', expect: echo([t(mixed)]) });
  add({ id: '6.2.2', description: 'valid multi-byte text, one byte per frame (every sequence split across frames)', frames: fragments(Op.Text, mixed, 1), expect: echo([t(mixed)]) });
  add({ id: '6.2.3', description: 'valid multi-byte text, 3 bytes per frame, byte by byte over TCP', frames: fragments(Op.Text, mixed, 3), write: 'bytes', expect: echo([t(mixed)]) });
  add({ id: '6.2.4', description: 'euro sign split across two frames', frames: [text(Buffer.from([0xe2, 0x82]), false), cont(Buffer.from([0xac]))], expect: echo([t('€')]) });

  const invalid: Array<[string, Buffer]> = [
    ['lone continuation byte 0x80', Buffer.from([0x80])],
    ['overlong 2-byte NUL C0 80', Buffer.from([0xc0, 0x80])],
    ['overlong lead C1 BF', Buffer.from([0xc1, 0xbf])],
    ['overlong 3-byte E0 80 AF', Buffer.from([0xe0, 0x80, 0xaf])],
    ['overlong 4-byte F0 80 80 AF', Buffer.from([0xf0, 0x80, 0x80, 0xaf])],
    ['surrogate U+D800 ED A0 80', Buffer.from([0xed, 0xa0, 0x80])],
    ['surrogate U+DFFF ED BF BF', Buffer.from([0xed, 0xbf, 0xbf])],
    ['surrogate pair U+D834 U+DD1E (CESU-8)', Buffer.from([0xed, 0xa0, 0xb4, 0xed, 0xb4, 0x9e])],
    ['above U+10FFFF: F4 90 80 80', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
    ['lead byte F5', Buffer.from([0xf5, 0x80, 0x80, 0x80])],
    ['byte FE', Buffer.from([0xfe])],
    ['byte FF', Buffer.from([0xff])],
    ['truncated 2-byte sequence at message end', Buffer.from([0x41, 0xce])],
    ['truncated 3-byte sequence at message end', Buffer.concat([Buffer.from('κόσμ'), Buffer.from([0xe2, 0x82])])],
    ['truncated 4-byte sequence at message end', Buffer.from([0xf0, 0x9d, 0x84])],
    ['valid text then an invalid byte', Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('edited')])],
  ];
  invalid.forEach(([name, bytes], i) => {
    add({ id: `6.3.${i + 1}`, description: `invalid UTF-8 in one frame: ${name}: fail 1007`, frames: [text(bytes), ping('after')], expect: fail(1007, ErrorCode.InvalidUtf8) });
  });
  add({
    id: '6.3.17',
    description: 'truncated sequence at the end of a fragmented message (empty final fragment): fail 1007',
    frames: [text(Buffer.from([0x61, 0x62, 0xe2, 0x82]), false), cont('')],
    expect: fail(1007, ErrorCode.InvalidUtf8),
  });
  add({
    id: '6.3.18',
    description: 'invalid sequence split across frames (ED | A0 80): fail 1007',
    frames: [text(Buffer.from([0x61, 0xed]), false), cont(Buffer.from([0xa0, 0x80]))],
    expect: fail(1007, ErrorCode.InvalidUtf8),
  });
  add({
    id: '6.3.19',
    description: 'invalid text byte by byte over TCP: fail 1007',
    frames: [text(Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xf4, 0x90, 0x80, 0x80])]))],
    write: 'bytes',
    expect: fail(1007, ErrorCode.InvalidUtf8),
  });

  // Fail fast (RFC 6455 8.1): the rest of the message is never sent; the
  // client must fail on the bytes it has, or the case times out.
  const failFast: Array<[string, Buffer[]]> = [
    ['invalid prefix in a first fragment (not fin), no more fragments', [text(Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xed, 0xa0, 0x80])]), false)]],
    ['surrogate in a continuation (not fin) after a valid fragment', [text('valid ', false), cont(Buffer.from([0xed, 0xbf, 0xbf, 0x41]), false)]],
    ['frame announces 100 bytes; only a 12-byte invalid prefix arrives', [frame({ opcode: Op.Text, payload: Buffer.concat([Buffer.from('hello'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from('abc')]), announce: 100n })]],
    ['overlong E0 80 in the middle of an unfinished frame', [frame({ opcode: Op.Text, payload: Buffer.from([0x41, 0xe0, 0x80]), announce: 50n })]],
    ['byte FF as the first byte of a 64 KiB frame, nothing more', [frame({ opcode: Op.Text, payload: Buffer.from([0xff]), announce: 65536n })]],
  ];
  failFast.forEach(([name, frames], i) => {
    add({ id: `6.4.${i + 1}`, description: `fail fast: ${name}: 1007 before the message ends`, frames, expect: fail(1007, ErrorCode.InvalidUtf8) });
  });
  add({
    id: '6.4.6',
    description: 'fail fast across TCP reads: F4 | 90 in two writes of an unfinished frame',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      const f = frame({ opcode: Op.Text, payload: Buffer.from([0x41, 0xf4, 0x90]), announce: 40n });
      await conn.write(f.subarray(0, f.length - 1));
      await new Promise((r) => setTimeout(r, 50));
      if (conn.clientClose) conn.violation('client failed before the invalid byte arrived');
      await conn.write(f.subarray(f.length - 1));
      await conn.waitClientClose(2000);
      await conn.waitTcpClosed(2000);
    },
    expect: fail(1007, ErrorCode.InvalidUtf8),
  });
}

// ---------------------------------------------------------------- 7 close

{
  add({ id: '7.1.1', description: 'close without payload: close answered (empty or 1000), onClose 1005', frames: [close()], expect: echo([], { clientClose: 'none-or-1000', onCloseCodes: [1005] }) });
  add({ id: '7.1.2', description: 'close 1000 without reason', frames: [close(1000)], expect: echo([], { clientClose: 1000, onCloseCodes: [1000] }) });
  add({ id: '7.1.3', description: 'close 1000 with a reason', frames: [close(1000, 'bye now')], expect: echo([], { onCloseReason: 'bye now' }) });
  const reason123 = 'r'.repeat(121) + 'µ';
  add({ id: '7.1.4', description: 'close with a 123-byte reason', frames: [close(1000, reason123)], expect: echo([], { onCloseReason: reason123 }) });
  add({ id: '7.1.5', description: 'close with a 1-byte payload: fail 1002', frames: [frame({ opcode: Op.Close, payload: Buffer.from([0x03]) })], expect: fail(1002, ErrorCode.InvalidClosePayload) });
  add({ id: '7.1.6', description: 'close with invalid UTF-8 in the reason: fail 1007', frames: [close(1000, Buffer.from([0x61, 0xed, 0xa0, 0x80]))], expect: fail(1007, ErrorCode.InvalidUtf8) });
  add({
    id: '7.1.7',
    description: 'text, close, then text and ping after the close (one write): only the first echoed',
    frames: [text('before'), close(1000), text('after'), ping('after')],
    expect: echo([t('before')]),
  });
  add({
    id: '7.1.8',
    description: 'close, then bytes after it, byte by byte: ignored',
    frames: [close(1000), text('after'), frame({ opcode: 3 })],
    write: 'bytes',
    expect: echo([]),
  });
  add({
    id: '7.1.9',
    description: 'close in the same write as the 101',
    frames: [close(1001, 'going away')],
    withHandshake: true,
    expect: echo([], { clientClose: 1001, onCloseCodes: [1001], onCloseReason: 'going away' }),
  });
  add({
    id: '7.1.10',
    description: 'server sends close 1000 and drops TCP at once: onClose 1000',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      conn.onClientClose = 'ignore';
      await conn.sendClose(1000, 'gone');
      conn.end();
      await conn.waitTcpClosed(3000);
    },
    // The client may or may not get its answering close out before it sees the FIN.
    expect: { opened: true, messages: [], pongs: [], clientClose: 'any', errorCode: undefined, onCloseCodes: [1000], onCloseReason: 'gone' },
  });

  add({
    id: '7.1.11',
    description: 'close with a 124-byte reason (126-byte payload): fail 1002',
    frames: [frame({ opcode: Op.Close, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(124, 0x61)]) })],
    expect: fail(1002, ErrorCode.ControlFrameTooLong),
  });
  [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].forEach((code, i) => {
    add({ id: `7.2.${i + 1}`, description: `close with invalid code ${code}: fail 1002`, frames: [close(code)], expect: fail(1002, ErrorCode.InvalidCloseCode) });
  });
  [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999].forEach((code, i) => {
    add({ id: `7.3.${i + 1}`, description: `close with valid code ${code}: echoed`, frames: [close(code, 'ok')], expect: echo([], { clientClose: code, onCloseCodes: [code], onCloseReason: 'ok' }) });
  });

  add({
    id: '7.4.1',
    description: 'the client closes first (1000, "done"); the server answers',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      await conn.waitClientClose(3000);
      await conn.waitTcpClosed(3000);
    },
    onOpen: (ws) => ws.close(1000, 'done'),
    expect: echo([], { clientClose: 1000 }),
  });
  add({
    id: '7.4.2',
    description: 'the client closes first with 4001; the server answers with 4001',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      await conn.waitClientClose(3000);
      await conn.waitTcpClosed(3000);
    },
    onOpen: (ws) => ws.close(4001, 'custom'),
    expect: echo([], { clientClose: 4001, onCloseCodes: [4001] }),
  });
  add({
    id: '7.4.3',
    description: 'the client closes first; the server never answers: the close timeout ends it',
    frames: [],
    server: async (conn) => {
      conn.onClientClose = 'ignore';
      await conn.accept();
      await conn.waitClientClose(3000);
      await conn.waitTcpClosed(4000);
    },
    clientOptions: { closeTimeoutMs: 500 },
    onOpen: (ws) => ws.close(1000),
    // RFC 6455 7.1.1/7.1.5: no close frame came back, so the code is 1006.
    expect: {
      opened: true,
      messages: [],
      pongs: [],
      clientClose: 1000,
      errorCode: ErrorCode.CloseTimeout,
      onCloseCodes: [1006],
      clientDropsTcpWithinMs: 2500,
    },
  });
  add({
    id: '7.4.4',
    description: 'messages in flight when the client closes first: no echo after its close frame',
    frames: [],
    server: async (conn) => {
      conn.onClientClose = 'ignore';
      await conn.accept();
      await conn.waitClientClose(3000);
      // RFC 6455 5.5.1: after sending a close frame, an endpoint sends no more data.
      await conn.write([text('late'), ping('late')]);
      await conn.sendClose(1000);
      conn.end();
      await conn.waitTcpClosed(3000);
    },
    onOpen: (ws) => ws.close(1000),
    expect: echo([], { clientClose: 1000 }),
  });
  add({
    id: '7.4.5',
    description: 'the server closes but never closes TCP: the client drops it after closeTimeoutMs',
    frames: [],
    server: async (conn) => {
      conn.endOnClientFin = false;
      conn.onClientClose = 'ignore';
      await conn.accept();
      await conn.sendClose(1000, 'bye');
      await conn.waitTcpClosed(4000);
    },
    clientOptions: { closeTimeoutMs: 500 },
    expect: { opened: true, messages: [], pongs: [], clientClose: 1000, errorCode: undefined, onCloseCodes: [1000], clientDropsTcpWithinMs: 2000 },
  });
}

// ---------------------------------------------------------------- 9 limits

for (const kind of ['text', 'binary'] as const) {
  const sizes = [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024];
  const section = kind === 'text' ? '9.1' : '9.2';
  sizes.forEach((n, i) => {
    const p = payloadOf(n, kind, i);
    const msg = kind === 'text' ? t(p) : b(p);
    const op = kind === 'text' ? Op.Text : Op.Binary;
    add({ id: `${section}.${i + 1}`, description: `${kind} message of ${n / 1024} KiB in one frame`, frames: [frame({ opcode: op, payload: p })], expect: echo([msg]), heavy: n >= 4 << 20, timeoutMs: 20_000 });
    add({ id: `${section}.${i + 6}`, description: `${kind} message of ${n / 1024} KiB in 4 KiB fragments`, frames: fragments(op, p, 4096), write: 65536, expect: echo([msg]), heavy: n >= 4 << 20, timeoutMs: 20_000 });
  });
}

{
  const limit = 100_000;
  const exact = payloadOf(limit, 'binary', 11);
  add({ id: '9.3.1', description: 'a message of exactly maxMessageBytes in 7 fragments: accepted', frames: fragments(Op.Binary, exact, 16_384), clientOptions: { maxMessageBytes: limit }, expect: echo([b(exact)]) });
  const over = payloadOf(limit + 1, 'binary', 12);
  add({
    id: '9.3.2',
    description: 'one byte over maxMessageBytes, the last fragment crossing it: fail 1009',
    frames: fragments(Op.Binary, over, 16_384),
    clientOptions: { maxMessageBytes: limit },
    expect: fail(1009, ErrorCode.MessageTooBig),
  });
  add({
    id: '9.3.3',
    description: 'a text message one byte over maxMessageBytes in one frame: fail 1009',
    frames: [text(payloadOf(limit + 1, 'text'))],
    clientOptions: { maxMessageBytes: limit },
    expect: fail(1009, ErrorCode.MessageTooBig),
  });
}

// ---------------------------------------------------------------- 0 handshake

{
  const ok = echo([t('hello')]);
  add({ id: '0.1', description: 'request has the required headers and a fresh 16-byte key; 101 accepted', frames: [text('hello')], expect: ok });
  add({ id: '0.2', description: 'wrong Sec-WebSocket-Accept: rejected', frames: [], accept: { accept: 'dGhlIHNhbXBsZSBub25jZQ==' }, expect: reject(ErrorCode.HandshakeAccept) });
  add({ id: '0.3', description: 'missing Sec-WebSocket-Accept: rejected', frames: [], accept: { accept: null }, expect: reject(ErrorCode.HandshakeAccept) });
  add({ id: '0.4', description: '200 instead of 101: rejected', frames: [], accept: { statusLine: 'HTTP/1.1 200 OK', extraHeaders: [['Content-Length', '0']] }, expect: reject(ErrorCode.HandshakeStatus) });
  add({ id: '0.5', description: 'missing Upgrade: rejected', frames: [], accept: { upgrade: null }, expect: reject(ErrorCode.HandshakeUpgrade) });
  add({ id: '0.6', description: 'wrong Upgrade (h2c): rejected', frames: [], accept: { upgrade: 'h2c' }, expect: reject(ErrorCode.HandshakeUpgrade) });
  add({ id: '0.7', description: 'Connection without the upgrade token: rejected', frames: [], accept: { connection: 'keep-alive' }, expect: reject(ErrorCode.HandshakeConnection) });
  add({ id: '0.8', description: 'missing Connection: rejected', frames: [], accept: { connection: null }, expect: reject(ErrorCode.HandshakeConnection) });
  add({ id: '0.9', description: 'an extension the client did not offer: rejected', frames: [], accept: { extraHeaders: [['Sec-WebSocket-Extensions', 'x-wspipe-unoffered']] }, expect: reject(ErrorCode.HandshakeExtension) });
  add({ id: '0.10', description: 'a subprotocol when none was offered: rejected', frames: [], accept: { extraHeaders: [['Sec-WebSocket-Protocol', 'chat']] }, expect: reject(ErrorCode.HandshakeProtocol) });
  add({
    id: '0.11',
    description: 'a subprotocol other than those offered: rejected',
    frames: [],
    clientOptions: { protocols: ['a', 'b'] },
    accept: { extraHeaders: [['Sec-WebSocket-Protocol', 'c']] },
    expect: reject(ErrorCode.HandshakeProtocol),
  });
  add({
    id: '0.12',
    description: 'one of the offered subprotocols: accepted',
    frames: [text('hello')],
    clientOptions: { protocols: ['a', 'b'] },
    accept: { extraHeaders: [['Sec-WebSocket-Protocol', 'b']] },
    expect: ok,
  });
  add({
    id: '0.13',
    description: 'a masked server frame: fail 1002',
    frames: [frame({ opcode: Op.Text, payload: 'masked', maskKey: Buffer.from([1, 2, 3, 4]) })],
    expect: fail(1002, ErrorCode.MaskedFrame),
  });
  add({
    id: '0.14',
    description: 'a 64-bit length with the most significant bit set: fail 1002',
    frames: [frame({ opcode: Op.Binary, payload: Buffer.from([1, 2, 3]), lengthForm: 64, announce: 0x8000000000000003n })],
    expect: fail(1002, ErrorCode.InvalidLength),
  });
  add({
    id: '0.15',
    description: 'header names in odd case, token values in upper case: accepted',
    frames: [text('hello')],
    accept: { names: { upgrade: 'UPGRADE', connection: 'cOnNeCtIoN', accept: 'sec-websocket-accept' }, upgrade: 'WebSocket', connection: 'UPGRADE' },
    expect: ok,
  });
  add({ id: '0.16', description: 'any reason phrase: accepted', frames: [text('hello')], accept: { statusLine: 'HTTP/1.1 101 Have a Nice Day' }, expect: ok });
  add({ id: '0.17', description: 'an empty reason phrase: accepted', frames: [text('hello')], accept: { statusLine: 'HTTP/1.1 101 ' }, expect: ok });
  add({ id: '0.18', description: '"Connection: keep-alive, Upgrade": accepted', frames: [text('hello')], accept: { connection: 'keep-alive, Upgrade' }, expect: ok });
  add({ id: '0.19', description: 'the 101 delivered one byte at a time: accepted', frames: [text('hello')], accept: { chop: 1 }, expect: ok });
  add({ id: '0.20', description: 'the 101 one byte at a time with the first frame in the same stream', frames: [text('hello')], withHandshake: true, write: 'bytes', expect: ok });
  add({
    id: '0.22',
    description: 'two subprotocols selected at once ("a, b"): rejected',
    frames: [],
    clientOptions: { protocols: ['a', 'b'] },
    accept: { extraHeaders: [['Sec-WebSocket-Protocol', 'a, b']] },
    expect: reject(ErrorCode.HandshakeProtocol),
  });
  add({
    id: '0.23',
    description: 'a response head that never ends (64 KiB of headers): rejected, bounded',
    frames: [],
    server: async (conn) => {
      const lines = Array.from({ length: 1024 }, (_, i) => `X-Filler-${i}: ${'a'.repeat(56)}\r\n`).join('');
      await conn.write(Buffer.from(`HTTP/1.1 101 Switching Protocols\r\n${lines}`, 'latin1'), { chop: 4096 });
      await conn.waitTcpClosed(3000);
    },
    expect: reject(ErrorCode.HandshakeTooLarge),
  });
  add({
    id: '0.24',
    description: 'a 101, then the server closes TCP at once: onClose 1006',
    frames: [],
    server: async (conn) => {
      await conn.accept();
      conn.end();
      await conn.waitTcpClosed(3000);
    },
    expect: { opened: true, messages: [], pongs: [], clientClose: 'any', errorCode: ErrorCode.ConnectionLost, onCloseCodes: [1006] },
  });
  // RFC 7230 3.2.3/3.2.4: only spaces and tabs surround a field value; CR, LF and NUL never occur in one.
  add({ id: '0.25', description: 'a bare LF inside the Upgrade value ("Upgrade: \\nwebsocket"): rejected', frames: [], accept: { upgrade: '\nwebsocket' }, expect: reject(ErrorCode.HandshakeMalformed) });
  add({ id: '0.26', description: 'a NUL after the Upgrade value: rejected', frames: [], accept: { upgrade: 'websocket\u0000' }, expect: reject(ErrorCode.HandshakeMalformed) });
  add({ id: '0.27', description: 'a no-break space (0xA0) after the Upgrade value is not whitespace: rejected', frames: [], accept: { upgrade: 'websocket\u00a0' }, expect: reject(ErrorCode.HandshakeUpgrade) });
  add({ id: '0.28', description: 'a vertical tab after the Connection token: rejected', frames: [], accept: { connection: 'Upgrade\u000b' }, expect: reject(ErrorCode.HandshakeConnection) });
  add({ id: '0.29', description: 'tabs and spaces around values (OWS): accepted', frames: [text('hello')], accept: { upgrade: '\t websocket \t', connection: ' \tkeep-alive ,\tUpgrade\t' }, expect: ok });
  add({ id: '0.30', description: 'a 101 in HTTP/1.0 (which has no Upgrade): rejected', frames: [], accept: { statusLine: 'HTTP/1.0 101 Switching Protocols' }, expect: reject(ErrorCode.HandshakeMalformed) });
  add({ id: '0.31', description: 'a 101 in HTTP/9.1 (an unknown major version): rejected', frames: [], accept: { statusLine: 'HTTP/9.1 101 Switching Protocols' }, expect: reject(ErrorCode.HandshakeMalformed) });
  add({ id: '0.32', description: 'a 101 in HTTP/1.2 (read as 1.1, RFC 7230 2.6): accepted', frames: [text('hello')], accept: { statusLine: 'HTTP/1.2 101 Switching Protocols' }, expect: ok });
  add({
    id: '0.21',
    description: 'extra unknown response headers: accepted',
    frames: [text('hello')],
    accept: { extraHeaders: [['X-Powered-By', 'test'], ['Set-Cookie', 'a=b']] },
    expect: ok,
  });
}

/** Every case, in table order. */
export const CASES: readonly ConformanceCase[] = cases;
