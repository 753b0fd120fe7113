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

// Standard interfaces over the same client: WHATWG WebSocket and WebSocketStream, a Node Duplex.
export { WebSocket, type BinaryType, type WebSocketInit, type WebSocketSendData, type WebSocketEventMap } from './interfaces/websocket.js';
export { CloseEvent, ErrorEvent, type CloseEventInit, type ErrorEventInit } from './interfaces/dom.js';
export {
  WebSocketStream,
  WebSocketStreamError,
  type WebSocketStreamOptions,
  type WebSocketOpenInfo,
  type WebSocketCloseInfo,
} from './interfaces/websocket-stream.js';
export { createWebSocketStream, type WebSocketDuplexOptions } from './interfaces/duplex.js';
export type { WebSocketClientEvents, MessageArgs } from './client/typed-events.js';
export type { ConnectionClosed } from './client/connection-promises.js';
export type { MessagesOptions } from './interfaces/message-iterator.js';
