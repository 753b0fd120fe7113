// The public surface: the client, the stages to compose, and the protocol core.
export { WebSocketClient, type ReadyState, type SendData, type SendOptions } from './client/websocket-client.js';
export type { WebSocketClientOptions, ReconnectOptions, ConnectTarget, HandshakeHeaders } from './client/options.js';
export { openProxyTunnel, parseProxyUrl, proxyForUrl, ProxyError, type ProxyTunnelOptions } from './client/proxy.js';
export type { PerMessageDeflateOptions, NegotiatedDeflate } from './protocol/permessage-deflate.js';
export {
  HandshakeStream,
  FrameDecoderStream,
  MessageStream,
  FrameEncoderStream,
  PingInjector,
  PerMessageInflateStream,
  PerMessageDeflateStream,
  type HandshakeStreamOptions,
  type FrameDecoderStreamOptions,
  type FrameEncoderStreamOptions,
  type PingInjectorOptions,
  type MessageEvent,
} from './streams/index.js';
export {
  CloseCode,
  isValidCloseCode,
  Opcode,
  ErrorCode,
  WebSocketError,
  ProtocolError,
  HandshakeError,
  ConnectionError,
  UsageError,
  FrameDecoder,
  FrameEncoder,
  MessageAssembler,
  type DecoderEvent,
  type FrameSpec,
  type HandshakeResponse,
  type Role,
} from './protocol/index.js';
