// The Sans-I/O protocol core: bytes in, events out; frames in, bytes out.
export { CloseCode, isValidCloseCode } from './close-codes.js';
export { Opcode, isControlOpcode, MAX_CONTROL_PAYLOAD_BYTES } from './opcode.js';
export {
  ErrorCode,
  WebSocketError,
  ProtocolError,
  HandshakeError,
  ConnectionError,
  UsageError,
  wireCloseCodeFor,
  closeCodeFor,
} from './errors.js';
export { parseClosePayload, encodeClosePayload, MAX_CLOSE_REASON_BYTES, type ClosePayload } from './close.js';
export { Utf8Validator, isValidUtf8, decodeUtf8 } from './utf8-validator.js';
export { maskInPlace, maskInto, MaskKeySource } from './mask.js';
export { frameHeaderSize, writeFrameHeader } from './frame-header.js';
export { FrameEncoder, type FrameEncoderOptions, type FrameSpec, type Role, type MaskKeyWriter } from './frame-encoder.js';
export {
  FrameDecoder,
  DEFAULT_MAX_MESSAGE_BYTES,
  type FrameDecoderOptions,
  type DecoderEvent,
  type DecoderSink,
} from './frame-decoder.js';
export {
  createHandshakeRequest,
  HandshakeResponseParser,
  verifyHandshakeResponse,
  validateHeaders,
  validateProtocols,
  parseExtensions,
  acceptValue,
  generateKey,
  type HandshakeRequest,
  type HandshakeRequestOptions,
  type HandshakeResponse,
  type ExtensionOffer,
  type ExtensionNegotiator,
  type VerifyOptions,
} from './handshake.js';
export { MessageAssembler, type AssembledMessage } from './message-assembler.js';
export { keepaliveDecision, type KeepaliveDecision, type KeepaliveState } from './keepalive.js';
export {
  backoffDelayMs,
  nextAttempt,
  isRetryable,
  DEFAULT_BACKOFF,
  type BackoffPolicy,
  type EndReason,
} from './backoff.js';
export { HandshakeRequestParser, createHandshakeResponse, type HandshakeRequestHead } from './handshake-server.js';
export {
  buildOffer,
  normalizeDeflateOptions,
  deflateWindowBits,
  PerMessageDeflateNegotiator,
  PERMESSAGE_DEFLATE,
  DEFLATE_TRAILER,
  DEFAULT_DEFLATE_THRESHOLD_BYTES,
  DEFAULT_MAX_CONCURRENT_ZLIB,
  INFLATE_WINDOW_BITS,
  type PerMessageDeflateOptions,
  type ResolvedDeflateOptions,
  type NegotiatedDeflate,
  type WindowBits,
} from './permessage-deflate.js';
