import { CloseCode, isValidCloseCode } from './close-codes.js';

/**
 * Stable error codes. Tests and users match on these, never on messages.
 */
export const ErrorCode = {
  // Protocol violations by the peer (the connection is failed with `closeCode`).
  ReservedBits: 'WSP_ERR_RESERVED_BITS',
  ReservedOpcode: 'WSP_ERR_RESERVED_OPCODE',
  MaskedFrame: 'WSP_ERR_MASKED_FRAME',
  UnmaskedFrame: 'WSP_ERR_UNMASKED_FRAME',
  ControlFrameTooLong: 'WSP_ERR_CONTROL_FRAME_TOO_LONG',
  FragmentedControlFrame: 'WSP_ERR_FRAGMENTED_CONTROL_FRAME',
  UnexpectedContinuation: 'WSP_ERR_UNEXPECTED_CONTINUATION',
  ExpectedContinuation: 'WSP_ERR_EXPECTED_CONTINUATION',
  InvalidLength: 'WSP_ERR_INVALID_LENGTH',
  MessageTooBig: 'WSP_ERR_MESSAGE_TOO_BIG',
  InvalidUtf8: 'WSP_ERR_INVALID_UTF8',
  InvalidClosePayload: 'WSP_ERR_INVALID_CLOSE_PAYLOAD',
  InvalidCloseCode: 'WSP_ERR_INVALID_CLOSE_CODE',
  DataAfterClose: 'WSP_ERR_DATA_AFTER_CLOSE',
  InvalidCompressedData: 'WSP_ERR_INVALID_COMPRESSED_DATA',
  // The opening handshake.
  HandshakeStatus: 'WSP_ERR_HANDSHAKE_STATUS',
  HandshakeUpgrade: 'WSP_ERR_HANDSHAKE_UPGRADE',
  HandshakeConnection: 'WSP_ERR_HANDSHAKE_CONNECTION',
  HandshakeAccept: 'WSP_ERR_HANDSHAKE_ACCEPT',
  HandshakeProtocol: 'WSP_ERR_HANDSHAKE_PROTOCOL',
  HandshakeExtension: 'WSP_ERR_HANDSHAKE_EXTENSION',
  HandshakeMalformed: 'WSP_ERR_HANDSHAKE_MALFORMED',
  HandshakeTooLarge: 'WSP_ERR_HANDSHAKE_TOO_LARGE',
  HandshakeTimeout: 'WSP_ERR_HANDSHAKE_TIMEOUT',
  HandshakeRedirect: 'WSP_ERR_HANDSHAKE_REDIRECT',
  // The transport.
  ConnectFailed: 'WSP_ERR_CONNECT_FAILED',
  TlsFailed: 'WSP_ERR_TLS_FAILED',
  ConnectionLost: 'WSP_ERR_CONNECTION_LOST',
  PongTimeout: 'WSP_ERR_PONG_TIMEOUT',
  CloseTimeout: 'WSP_ERR_CLOSE_TIMEOUT',
  ProxyFailed: 'WSP_ERR_PROXY_FAILED',
  ProxyAuthFailed: 'WSP_ERR_PROXY_AUTH_FAILED',
  ProxyTargetUnreachable: 'WSP_ERR_PROXY_TARGET_UNREACHABLE',
  // Misuse of the API.
  InvalidUrl: 'WSP_ERR_INVALID_URL',
  InvalidHeader: 'WSP_ERR_INVALID_HEADER',
  InvalidOption: 'WSP_ERR_INVALID_OPTION',
  InvalidCloseArgument: 'WSP_ERR_INVALID_CLOSE_ARGUMENT',
  NotOpen: 'WSP_ERR_NOT_OPEN',
  QueueFull: 'WSP_ERR_QUEUE_FULL',
  SendFailed: 'WSP_ERR_SEND_FAILED',
  Aborted: 'WSP_ERR_ABORTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The one table of close codes: what each error reports as its `closeCode`
 * (RFC 6455 7.4.1), keyed by its stable code. Protocol violations carry the
 * code the connection is failed with; failures of the transport or of the
 * opening handshake, where no close frame was exchanged, report 1006
 * (RFC 6455 7.1.5); misuse of the API and send failures report none.
 * `wireCloseCodeFor` reads the same table to decide what goes on the wire.
 */
const CLOSE_CODES: Record<ErrorCode, number | undefined> = {
  // RFC 6455 7.4.1: 1002 "due to a protocol error".
  [ErrorCode.ReservedBits]: CloseCode.ProtocolError,
  [ErrorCode.ReservedOpcode]: CloseCode.ProtocolError,
  [ErrorCode.MaskedFrame]: CloseCode.ProtocolError,
  [ErrorCode.UnmaskedFrame]: CloseCode.ProtocolError,
  [ErrorCode.ControlFrameTooLong]: CloseCode.ProtocolError,
  [ErrorCode.FragmentedControlFrame]: CloseCode.ProtocolError,
  [ErrorCode.UnexpectedContinuation]: CloseCode.ProtocolError,
  [ErrorCode.ExpectedContinuation]: CloseCode.ProtocolError,
  [ErrorCode.InvalidLength]: CloseCode.ProtocolError,
  [ErrorCode.InvalidClosePayload]: CloseCode.ProtocolError,
  [ErrorCode.InvalidCloseCode]: CloseCode.ProtocolError,
  [ErrorCode.DataAfterClose]: CloseCode.ProtocolError,
  // RFC 6455 7.4.1: 1009 "a message that is too big for it to process".
  [ErrorCode.MessageTooBig]: CloseCode.MessageTooBig,
  // RFC 6455 7.4.1: 1007 "data within a message that was not consistent with the type of the message".
  [ErrorCode.InvalidUtf8]: CloseCode.InvalidPayloadData,
  [ErrorCode.InvalidCompressedData]: CloseCode.InvalidPayloadData,
  // No close frame was exchanged: 1006 is reported, never sent (RFC 6455 7.1.5, 7.4.1).
  [ErrorCode.HandshakeStatus]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeUpgrade]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeConnection]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeAccept]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeProtocol]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeExtension]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeMalformed]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeTooLarge]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeTimeout]: CloseCode.AbnormalClosure,
  [ErrorCode.HandshakeRedirect]: CloseCode.AbnormalClosure,
  [ErrorCode.ConnectFailed]: CloseCode.AbnormalClosure,
  [ErrorCode.TlsFailed]: CloseCode.AbnormalClosure,
  [ErrorCode.ConnectionLost]: CloseCode.AbnormalClosure,
  [ErrorCode.PongTimeout]: CloseCode.AbnormalClosure,
  [ErrorCode.CloseTimeout]: CloseCode.AbnormalClosure,
  [ErrorCode.ProxyFailed]: CloseCode.AbnormalClosure,
  [ErrorCode.ProxyAuthFailed]: CloseCode.AbnormalClosure,
  [ErrorCode.ProxyTargetUnreachable]: CloseCode.AbnormalClosure,
  [ErrorCode.Aborted]: CloseCode.AbnormalClosure,
  // Thrown at the caller, or reported without ending a connection.
  [ErrorCode.InvalidUrl]: undefined,
  [ErrorCode.InvalidHeader]: undefined,
  [ErrorCode.InvalidOption]: undefined,
  [ErrorCode.InvalidCloseArgument]: undefined,
  [ErrorCode.NotOpen]: undefined,
  [ErrorCode.QueueFull]: undefined,
  [ErrorCode.SendFailed]: undefined,
};

/** The close code an error with `code` reports (see the table above), if any. */
export function closeCodeFor(code: ErrorCode): number | undefined {
  return CLOSE_CODES[code];
}

/** The base of every error wspipe raises. */
export class WebSocketError extends Error {
  /** A stable string to match on. */
  readonly code: ErrorCode;
  /** The close code this error puts on the wire (or reports), when it has one. */
  readonly closeCode: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = closeCodeFor(code);
  }
}

/** The peer broke RFC 6455 (or RFC 7692); the connection must be failed with `closeCode`. */
export class ProtocolError extends WebSocketError {
  declare readonly closeCode: number;
  constructor(code: ErrorCode, message: string) {
    super(code, message);
    // Every protocol code has its entry; 1002 stands for one that was not made for a protocol error.
    if (this.closeCode === undefined) (this as { closeCode: number }).closeCode = CloseCode.ProtocolError;
    this.name = 'ProtocolError';
  }
}

/** The server's answer to the opening handshake was not a valid WebSocket upgrade. */
export class HandshakeError extends WebSocketError {
  /** The HTTP status, when a status line was received. */
  readonly status: number | undefined;
  /** The response headers (lower-case names), when they were received. */
  readonly headers: Record<string, string> | undefined;
  /** The first bytes of the response body, as latin1 text, at most 512 characters. */
  readonly bodyStart: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: { status?: number; headers?: Record<string, string>; bodyStart?: string; cause?: unknown },
  ) {
    super(code, message, { cause: details?.cause });
    this.name = 'HandshakeError';
    this.status = details?.status;
    this.headers = details?.headers;
    this.bodyStart = details?.bodyStart;
  }
}

/** The transport failed: could not connect, TLS failed, the peer vanished, a timer ran out. */
export class ConnectionError extends WebSocketError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConnectionError';
  }
}

/** The API was called with arguments or in a state it cannot accept. */
export class UsageError extends WebSocketError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    // Thrown at the caller: no connection ends because of it, so no close code (even for WSP_ERR_ABORTED).
    (this as { closeCode: number | undefined }).closeCode = undefined;
    this.name = 'UsageError';
  }
}

/**
 * The one place that decides what a failure puts on the wire, from the table
 * above. RFC 6455 7.1.7: to fail the connection, an endpoint that has not yet
 * sent a close frame sends one with a suitable code, then closes the TCP
 * connection. Transport and handshake failures (1006, which may not be sent)
 * send nothing: there is nothing to send to. Anything else is our own
 * failure: 1011 (RFC 6455 7.4.1, "an unexpected condition").
 */
export function wireCloseCodeFor(error: unknown): number | undefined {
  const code = error instanceof WebSocketError && !(error instanceof UsageError) ? CLOSE_CODES[error.code] : undefined;
  if (code === undefined) return CloseCode.InternalError;
  return isValidCloseCode(code) ? code : undefined;
}
