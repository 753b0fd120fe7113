import { describe, expect, it } from 'vitest';
import {
  closeCodeFor,
  ConnectionError,
  ErrorCode,
  HandshakeError,
  ProtocolError,
  UsageError,
  WebSocketError,
  wireCloseCodeFor,
} from '../../src/protocol/errors.js';

// The close code each error reports and what failing a connection with it sends.
// [code, the class it is raised as, closeCode, wire]
const TABLE: [ErrorCode, 'protocol' | 'handshake' | 'connection' | 'usage' | 'plain', number | undefined, number | undefined][] = [
  [ErrorCode.ReservedBits, 'protocol', 1002, 1002],
  [ErrorCode.ReservedOpcode, 'protocol', 1002, 1002],
  [ErrorCode.MaskedFrame, 'protocol', 1002, 1002],
  [ErrorCode.UnmaskedFrame, 'protocol', 1002, 1002],
  [ErrorCode.ControlFrameTooLong, 'protocol', 1002, 1002],
  [ErrorCode.FragmentedControlFrame, 'protocol', 1002, 1002],
  [ErrorCode.UnexpectedContinuation, 'protocol', 1002, 1002],
  [ErrorCode.ExpectedContinuation, 'protocol', 1002, 1002],
  [ErrorCode.InvalidLength, 'protocol', 1002, 1002],
  [ErrorCode.InvalidClosePayload, 'protocol', 1002, 1002],
  [ErrorCode.InvalidCloseCode, 'protocol', 1002, 1002],
  [ErrorCode.DataAfterClose, 'protocol', 1002, 1002],
  [ErrorCode.MessageTooBig, 'protocol', 1009, 1009],
  [ErrorCode.InvalidUtf8, 'protocol', 1007, 1007],
  [ErrorCode.InvalidCompressedData, 'protocol', 1007, 1007],
  [ErrorCode.HandshakeStatus, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeUpgrade, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeConnection, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeAccept, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeProtocol, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeExtension, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeMalformed, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeTooLarge, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeRedirect, 'handshake', 1006, undefined],
  [ErrorCode.HandshakeTimeout, 'connection', 1006, undefined],
  [ErrorCode.ConnectFailed, 'connection', 1006, undefined],
  [ErrorCode.TlsFailed, 'connection', 1006, undefined],
  [ErrorCode.ConnectionLost, 'connection', 1006, undefined],
  [ErrorCode.PongTimeout, 'connection', 1006, undefined],
  [ErrorCode.CloseTimeout, 'connection', 1006, undefined],
  [ErrorCode.ProxyFailed, 'connection', 1006, undefined],
  [ErrorCode.ProxyAuthFailed, 'connection', 1006, undefined],
  [ErrorCode.ProxyTargetUnreachable, 'connection', 1006, undefined],
  [ErrorCode.Aborted, 'connection', 1006, undefined],
  [ErrorCode.Aborted, 'usage', undefined, 1011],
  [ErrorCode.InvalidUrl, 'usage', undefined, 1011],
  [ErrorCode.InvalidHeader, 'usage', undefined, 1011],
  [ErrorCode.InvalidOption, 'usage', undefined, 1011],
  [ErrorCode.InvalidCloseArgument, 'usage', undefined, 1011],
  [ErrorCode.NotOpen, 'usage', undefined, 1011],
  [ErrorCode.QueueFull, 'usage', undefined, 1011],
  [ErrorCode.SendFailed, 'plain', undefined, 1011],
];

function make(kind: (typeof TABLE)[number][1], code: ErrorCode): WebSocketError {
  switch (kind) {
    case 'protocol':
      return new ProtocolError(code, 'x');
    case 'handshake':
      return new HandshakeError(code, 'x');
    case 'connection':
      return new ConnectionError(code, 'x');
    case 'usage':
      return new UsageError(code, 'x');
    case 'plain':
      return new WebSocketError(code, 'x');
  }
}

describe('one table of close codes, keyed by ErrorCode', () => {
  it.each(TABLE)('%s as a %s error: closeCode %s, on the wire %s', (code, kind, closeCode, wire) => {
    const error = make(kind, code);
    expect(error.closeCode).toBe(closeCode);
    expect(wireCloseCodeFor(error)).toBe(wire);
  });

  it('has an entry for every ErrorCode', () => {
    const covered = new Set(TABLE.map(([code]) => code));
    for (const code of Object.values(ErrorCode)) expect(covered.has(code), code).toBe(true);
    for (const code of Object.values(ErrorCode)) expect(closeCodeFor(code) === undefined || closeCodeFor(code)! >= 1000).toBe(true);
  });

  it('an error that is not ours is 1011 on the wire', () => {
    expect(wireCloseCodeFor(new Error('boom'))).toBe(1011);
    expect(wireCloseCodeFor('boom')).toBe(1011);
  });
});
