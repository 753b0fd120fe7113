import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { HandshakeResponse } from '../protocol/handshake.js';
import type { WebSocketError } from '../protocol/errors.js';

/**
 * A message as a discriminated pair: text as a string (`isBinary` false),
 * binary as a Buffer or, with `fragments: 'list'`, a list of Buffers
 * (`isBinary` true). Annotate a listener's rest parameter with it to have
 * `data` narrowed by `isBinary`:
 * `client.on('message', (...[data, isBinary]: MessageArgs) => { if (!isBinary) data.toUpperCase(); })`.
 */
export type MessageArgs = [data: string, isBinary: false] | [data: Buffer | Buffer[], isBinary: true];

/**
 * A callback type whose parameters are checked both ways, as methods are:
 * a listener may declare the wide `(data, isBinary)` or the narrowing
 * `(...[data, isBinary]: MessageArgs)`, and one with too few parameters,
 * `(data) => ...`, is accepted too (TypeScript refuses that against a rest
 * parameter of a union of tuples, so the event map keeps the wide pair).
 */
export type Callback<A extends unknown[]> = { bivarianceHack(...args: A): void }['bivarianceHack'];

/** The events of `WebSocketClient` and their listeners' arguments. */
export interface WebSocketClientEvents {
  /** The TCP (or TLS) connection is up. */
  connect: [];
  /** The opening handshake completed: the server's 101. */
  open: [response: HandshakeResponse];
  /** Text as a string, binary as a Buffer (a list with `fragments: 'list'`); see `MessageArgs` to narrow. */
  message: [data: string | Buffer | Buffer[], isBinary: boolean];
  /** With `fragments: 'stream'`: a binary message as a Readable of its pieces, from its first piece on. */
  messageStream: [stream: Readable];
  error: [error: WebSocketError];
  /** Once per connection attempt; 1006 when no close frame was received. */
  close: [code: number, reason: string];
  ping: [payload: Buffer];
  pong: [payload: Buffer];
  /** Outgoing bytes went over `highWaterMarkBytes`. */
  bufferFull: [];
  /** ... and are back under it. */
  drain: [];
  /** Automatic reconnection scheduled the next attempt. */
  reconnecting: [info: { attempt: number; delayMs: number }];
  /** A redirect was followed. */
  redirect: [info: { from: string; to: string }];
}

type Listener<E, K extends keyof E> = E[K] extends unknown[] ? Callback<E[K]> : never;

/**
 * An `EventEmitter` whose listener methods know the event names and their
 * arguments: a misspelt event name does not compile. `emit` stays untyped
 * for the emitter's own use.
 */
export interface TypedEventEmitter<E> extends Omit<
  EventEmitter,
  'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'prependListener' | 'prependOnceListener' | 'listenerCount' | 'listeners' | 'rawListeners' | 'removeAllListeners' | 'eventNames'
> {
  on<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  once<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  off<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  addListener<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  removeListener<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  prependListener<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  prependOnceListener<K extends keyof E>(event: K, listener: Listener<E, K>): this;
  removeAllListeners(event?: keyof E): this;
  listenerCount(event: keyof E): number;
  listeners<K extends keyof E>(event: K): Array<Listener<E, K>>;
  rawListeners<K extends keyof E>(event: K): Array<Listener<E, K>>;
  eventNames(): Array<keyof E>;
}

/** `EventEmitter` itself, typed as a `TypedEventEmitter` of `E`: a base class with no runtime cost. */
export const TypedEventEmitter = EventEmitter as unknown as new <E>() => TypedEventEmitter<E>;
