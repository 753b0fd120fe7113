import type { HandshakeResponse } from '../protocol/handshake.js';
import { ConnectionError, ErrorCode, type WebSocketError } from '../protocol/errors.js';

/** How a connection ended: what `client.closed` resolves to. */
export interface ConnectionClosed {
  /** The close code: the server's (1005 when its frame had none), the one we failed with, or 1006. */
  code: number;
  reason: string;
  /** The error that ended it, when one did. */
  error: WebSocketError | undefined;
}

/** A promise with its resolve and reject. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/**
 * A promise and its settling functions, marked as handled (as the WHATWG
 * standards mark `opened` and `closed`): a caller who never looks at it gets
 * no unhandled rejection, and awaiting it still throws.
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * The bookkeeping behind `client.opened` and `client.closed`, one
 * connection at a time. The client tells it when an attempt opens and ends,
 * and says whether a connection is under way (an attempt running, a
 * reconnect planned, or `connect()` not called yet).
 *
 * - `opened`: the 101 of the connection open now; else of the next one to
 *   open. It rejects when an attempt ends without opening and none follows.
 * - `closed`: the end of the connection under way (or of the next); once
 *   nothing is under way, the last connection's end. It never rejects: an
 *   unclean end is code 1006 with its `error`.
 */
export class ConnectionPromises {
  #opened: Deferred<HandshakeResponse> | undefined;
  #closed: Deferred<ConnectionClosed> | undefined;
  #last: ConnectionClosed | undefined;

  opened(openResponse: HandshakeResponse | undefined, underWay: boolean): Promise<HandshakeResponse> {
    if (openResponse !== undefined) return Promise.resolve(openResponse);
    if (!underWay) {
      const closed = deferred<HandshakeResponse>();
      closed.reject(this.#notOpening());
      return closed.promise;
    }
    return (this.#opened ??= deferred()).promise;
  }

  closed(underWay: boolean): Promise<ConnectionClosed> {
    if (!underWay && this.#last !== undefined) return Promise.resolve(this.#last);
    return (this.#closed ??= deferred()).promise;
  }

  attemptOpened(response: HandshakeResponse): void {
    this.#opened?.resolve(response);
    this.#opened = undefined;
  }

  /** `more`: another attempt is under way or planned. */
  attemptEnded(end: ConnectionClosed, more: boolean): void {
    this.#last = end;
    this.#closed?.resolve(end);
    this.#closed = undefined;
    if (!more && this.#opened !== undefined) {
      this.#opened.reject(this.#notOpening());
      this.#opened = undefined;
    }
  }

  /** The error that ended the last attempt, or one that says it is not open. */
  #notOpening(): WebSocketError {
    const last = this.#last;
    if (last?.error !== undefined) return last.error;
    const why = last === undefined ? 'the connection is not open' : `the connection closed (${last.code}) and no other attempt follows`;
    return new ConnectionError(ErrorCode.NotOpen, why);
  }
}
