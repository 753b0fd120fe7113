import type { Readable } from 'node:stream';
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
  /**
   * Binary messages always arrive as one Buffer here, whatever the client's
   * `fragments` option ('stream' included: its Readable is read whole), and
   * in the order they came.
   */
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
  // With `fragments: 'stream'` a binary message is a Readable ('messageStream'), never a 'message':
  // read it whole, and hold what comes after it (messages, the end) until it is, to keep the order.
  let reading = false;
  let held: Array<() => void> = [];
  let listening = true;
  const inOrder = (deliver: () => void): void => {
    if (reading) held.push(deliver);
    else shielded(deliver);
  };
  const readWhole = (stream: Readable): void => {
    reading = true;
    const pieces: Buffer[] = [];
    let settled = false;
    const settle = (whole: boolean): void => {
      if (settled) return;
      settled = true;
      reading = false;
      // A stream cut short (the connection ended mid-message) delivers nothing: the end says why.
      if (whole && listening) shielded(() => handlers.message?.(Buffer.concat(pieces), true));
      while (!reading && held.length > 0) shielded(held.shift()!);
    };
    stream.on('data', (piece: Buffer) => pieces.push(piece));
    stream.once('end', () => settle(true));
    stream.once('error', () => settle(false));
    stream.once('close', () => settle(false));
  };
  const onOpen = (response: HandshakeResponse): void => shielded(() => handlers.open?.(response));
  const onMessage = (data: string | Buffer | Buffer[], isBinary: boolean): void => {
    inOrder(() => handlers.message?.(Array.isArray(data) ? Buffer.concat(data) : data, isBinary));
  };
  const onMessageStream = (stream: Readable): void => inOrder(() => readWhole(stream));
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
      inOrder(() => handlers.end(end));
    });
  };
  client.on('open', onOpen);
  client.on('message', onMessage);
  client.on('messageStream', onMessageStream);
  client.on('error', onError);
  client.on('reconnecting', onReconnecting);
  client.on('close', onClose);
  return () => {
    listening = false;
    held = [];
    client.off('open', onOpen);
    client.off('message', onMessage);
    client.off('messageStream', onMessageStream);
    client.off('error', onError);
    client.off('reconnecting', onReconnecting);
    client.off('close', onClose);
  };
}

/**
 * Runs an adapter's handler, which may run user code synchronously (a
 * Duplex's `push()` calls its 'data' listeners). A throw must not unwind into
 * the client's pipeline, where it would stop every later message of the
 * connection: it is rethrown on its own, an uncaught exception as with any
 * listener (and as an EventTarget reports one), and the connection goes on.
 */
function shielded(deliver: () => void): void {
  try {
    deliver();
  } catch (error) {
    process.nextTick(() => {
      throw error;
    });
  }
}

/** The bytes of a `send()` argument that is not a string or Blob, as a view (no copy). */
export function bufferSourceView(data: ArrayBuffer | ArrayBufferView): Buffer {
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
