import type { HandshakeResponse } from '../protocol/handshake.js';
import { ErrorCode, type WebSocketError } from '../protocol/errors.js';
import type { WebSocketClient } from '../client/websocket-client.js';

/** How one connection of a client ended, as the standard interfaces need to know it. */
export interface ConnectionEnd {
  code: number;
  reason: string;
  /** The error that failed the connection (RFC 6455 7.1.7), if one did. */
  failure: WebSocketError | undefined;
  /** The client will try again (automatic reconnection). */
  reconnecting: boolean;
}

/** What an adapter hears from the client, one connection at a time. */
export interface ConnectionHandlers {
  open?(response: HandshakeResponse): void;
  /** Binary messages always arrive as one Buffer here, whatever the client's `fragments` option. */
  message?(data: string | Buffer, isBinary: boolean): void;
  /** Once per connection attempt, after its last message. */
  end(end: ConnectionEnd): void;
}

/**
 * Listens to a client for an adapter: `open`, each `message`, and one `end`
 * per connection attempt that says whether it failed and whether the client
 * reconnects. Returns the function that stops listening.
 */
export function tapConnections(client: WebSocketClient, handlers: ConnectionHandlers): () => void {
  let failure: WebSocketError | undefined;
  let reconnecting = false;
  const onOpen = (response: HandshakeResponse): void => handlers.open?.(response);
  const onMessage = (data: string | Buffer | Buffer[], isBinary: boolean): void => {
    handlers.message?.(Array.isArray(data) ? Buffer.concat(data) : data, isBinary);
  };
  const onError = (error: WebSocketError): void => {
    // A refused send() or dropped queue is not a failure of the connection.
    if (error.code !== ErrorCode.SendFailed) failure ??= error;
  };
  const onReconnecting = (): void => {
    reconnecting = true;
  };
  const onClose = (code: number, reason: string): void => {
    // The client decides on reconnecting right after 'close' (and says so with
    // 'reconnecting' in the same turn): look once it has.
    queueMicrotask(() => {
      const end: ConnectionEnd = { code, reason, failure, reconnecting };
      failure = undefined;
      reconnecting = false;
      handlers.end(end);
    });
  };
  client.on('open', onOpen);
  client.on('message', onMessage);
  client.on('error', onError);
  client.on('reconnecting', onReconnecting);
  client.on('close', onClose);
  return () => {
    client.off('open', onOpen);
    client.off('message', onMessage);
    client.off('error', onError);
    client.off('reconnecting', onReconnecting);
    client.off('close', onClose);
  };
}

/** The bytes of a `send()` argument that is not a string or Blob, as a view (no copy). */
export function bufferSourceView(data: ArrayBuffer | ArrayBufferView): Buffer {
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
