// Transform-stream adapters over the protocol core, one stage a file.
export { HandshakeStream, type HandshakeStreamOptions } from './handshake-stream.js';
export { FrameDecoderStream, type FrameDecoderStreamOptions } from './frame-decoder-stream.js';
export { MessageStream, type MessageEvent } from './message-stream.js';
export { FrameEncoderStream, type FrameEncoderStreamOptions } from './frame-encoder-stream.js';
export { PingInjector, type PingInjectorOptions } from './ping-injector.js';
