// The exit statuses of `wspipe`, one per failure class, decided from the
// library's stable error codes (never from message text).
import { ErrorCode } from '../index.js';

export const ExitStatus = {
  /** stdin ended (or --wait N was reached), everything was sent, the close handshake finished. */
  Ok: 0,
  /** A bug: something failed that has no class of its own. */
  Unexpected: 1,
  /** The command line: an unknown option, a bad value, a second URL, an unreadable --ca. */
  Usage: 2,
  /** No connection: TCP, DNS, TLS, the proxy, the handshake timeout, or a drop before the answer. */
  ConnectFailed: 3,
  /** The server answered the handshake with something other than a valid 101. */
  HandshakeRefused: 4,
  /** After the handshake: a protocol error, a lost connection, a close code other than 1000, unsent input. */
  ConnectionFailed: 5,
  /** Interrupted (Ctrl-C), whatever else happened; after closing. */
  Interrupted: 130,
} as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

/** For `--help` and the README. */
export const EXIT_STATUS_HELP = `exit status:
  0  stdin ended (or -w N messages arrived), all input was sent, closed cleanly
  1  unexpected failure (a bug: please report it)
  2  usage: unknown option, bad value, extra argument, unreadable --ca
  3  could not connect: TCP, DNS, TLS certificate, proxy, handshake timeout
  4  handshake refused: the server answered with something other than 101
  5  connection failed after the handshake: protocol error, connection lost,
     closed by the server with a code other than 1000, or input left unsent
  130  interrupted (Ctrl-C)`;

const CONNECT: ReadonlySet<string> = new Set([
  ErrorCode.ConnectFailed,
  ErrorCode.TlsFailed,
  ErrorCode.HandshakeTimeout,
  ErrorCode.ProxyFailed,
  ErrorCode.ProxyAuthFailed,
  ErrorCode.ProxyTargetUnreachable,
]);

const REFUSED: ReadonlySet<string> = new Set([
  ErrorCode.HandshakeStatus,
  ErrorCode.HandshakeUpgrade,
  ErrorCode.HandshakeConnection,
  ErrorCode.HandshakeAccept,
  ErrorCode.HandshakeProtocol,
  ErrorCode.HandshakeExtension,
  ErrorCode.HandshakeMalformed,
  ErrorCode.HandshakeTooLarge,
  ErrorCode.HandshakeRedirect,
]);

/**
 * The class of a library error. `opened` says whether the attempt it ended
 * had finished its handshake: a connection lost before that is a failure to connect.
 */
export function exitStatusForError(code: string, opened: boolean): ExitStatus {
  if (CONNECT.has(code)) return ExitStatus.ConnectFailed;
  if (REFUSED.has(code)) return ExitStatus.HandshakeRefused;
  if (code === ErrorCode.ConnectionLost) return opened ? ExitStatus.ConnectionFailed : ExitStatus.ConnectFailed;
  if (code.startsWith('WSP_ERR_')) return ExitStatus.ConnectionFailed;
  return ExitStatus.Unexpected;
}
