// Transform-stream adapters over the protocol core, one stage a file.
export { HandshakeStream, type HandshakeStreamOptions } from './handshake-stream.js';
export { FrameDecoderStream, type FrameDecoderStreamOptions } from './frame-decoder-stream.js';
export { MessageStream, type MessageEvent } from './message-stream.js';
export { FrameEncoderStream, type FrameEncoderStreamOptions } from './frame-encoder-stream.js';
export { PingInjector, type PingInjectorOptions } from './ping-injector.js';
export { PerMessageInflateStream, type PerMessageInflateStreamOptions } from './permessage-inflate-stream.js';
export { PerMessageInflateSink, type PerMessageInflateSinkOptions } from './permessage-inflate-sink.js';
export { MessageInflater, type MessageInflaterOptions, type InflateCallback } from './message-inflater.js';
export {
  MessageDeflater,
  PerMessageDeflateStream,
  type MessageDeflaterOptions,
  type OutgoingFrame,
  type DeflateCallback,
  type FrameCallback,
} from './permessage-deflate-stream.js';
export { ZlibLimiter, sharedZlibLimiter, zlibLimiterFor, type ReleaseSlot } from './zlib-limiter.js';
