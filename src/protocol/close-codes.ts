/**
 * Close status codes, with their names from the IANA "WebSocket Close Code
 * Number Registry" (RFC 6455 section 7.4.1 and 11.7).
 */
export const CloseCode = {
  NormalClosure: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never on the wire (RFC 6455 7.4.1). */
  NoStatusReceived: 1005,
  /** Reserved: never on the wire; reported when the TCP connection ends without a close frame. */
  AbnormalClosure: 1006,
  InvalidPayloadData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Reserved: never on the wire. */
  TlsHandshake: 1015,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Whether `code` may appear in a close frame, sent or received.
 *
 * RFC 6455 7.4.1/7.4.2: 0-999 are unused, 1004-1006 and 1015 are reserved and
 * must not be sent, 1016-2999 are for future extensions of the protocol (none
 * registered beyond 1014), 3000-3999 are registered with IANA and 4000-4999
 * are private use. Anything at or above 5000 is outside the defined ranges.
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}
