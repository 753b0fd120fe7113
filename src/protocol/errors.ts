import { CloseCode } from './close-codes.js';

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

/** The base of every error wspipe raises. */
export class WebSocketError extends Error {
  /** A stable string to match on. */
  readonly code: ErrorCode;
  /** The close code this error puts on the wire (or reports), when it has one. */
  readonly closeCode: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { closeCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = options?.closeCode;
  }
}

/** The peer broke RFC 6455 (or RFC 7692); the connection must be failed with `closeCode`. */
export class ProtocolError extends WebSocketError {
  declare readonly closeCode: number;
  constructor(code: ErrorCode, message: string, closeCode: number = CloseCode.ProtocolError) {
    super(code, message, { closeCode });
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
    super(code, message, { cause: details?.cause, closeCode: CloseCode.AbnormalClosure });
    this.name = 'HandshakeError';
    this.status = details?.status;
    this.headers = details?.headers;
    this.bodyStart = details?.bodyStart;
  }
}

/** The transport failed: could not connect, TLS failed, the peer vanished, a timer ran out. */
export class ConnectionError extends WebSocketError {
  constructor(code: ErrorCode, message: string, options?: { closeCode?: number; cause?: unknown }) {
    super(code, message, { closeCode: options?.closeCode ?? CloseCode.AbnormalClosure, cause: options?.cause });
    this.name = 'ConnectionError';
  }
}

/** The API was called with arguments or in a state it cannot accept. */
export class UsageError extends WebSocketError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UsageError';
  }
}

/**
 * The one place that decides what a failure puts on the wire.
 * RFC 6455 7.1.7: to fail the connection, an endpoint that has not yet sent
 * a close frame sends one with a suitable code, then closes the TCP connection.
 * Transport failures send nothing (there is nothing to send to).
 */
export function wireCloseCodeFor(error: unknown): number | undefined {
  if (error instanceof ProtocolError) return error.closeCode;
  if (error instanceof ConnectionError || error instanceof HandshakeError) return undefined;
  return CloseCode.InternalError;
}
