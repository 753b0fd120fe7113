import type { WebSocketClient } from '../client/websocket-client.js';
import { tapConnections } from './connection-tap.js';

/** Options of `client.messages()`. */
export interface MessagesOptions {
  /** Messages held for a slow loop before the client is paused (and so the socket). Default 16. */
  highWaterMark?: number;
  /** Close the connection (1000) when the loop stops early (`break`, `return`, a throw). Default true. */
  closeOnReturn?: boolean;
}

/**
 * The messages of a client as an async iterator, with backpressure: when
 * `highWaterMark` messages wait for the loop, the client is paused (the
 * socket is not read, TCP slows the server), and resumed as the loop takes
 * them. Text arrives as a string, binary as a Buffer.
 *
 * The iteration lasts across reconnects and ends with the client's last
 * connection: done after a clean close, or throwing the error that failed
 * it, once every message received before is taken. Leaving the loop early
 * closes the connection (see `closeOnReturn`) and resolves once it ended.
 * An idle client is connected. One loop at a time per client.
 */
export function iterateMessages(client: WebSocketClient, options: MessagesOptions = {}): AsyncIterableIterator<string | Buffer> {
  const highWaterMark = Math.max(1, options.highWaterMark ?? 16);
  const closeOnReturn = options.closeOnReturn ?? true;
  const queue: Array<string | Buffer> = [];
  let waiter: { resolve: (result: IteratorResult<string | Buffer>) => void; reject: (error: unknown) => void } | undefined;
  let pausedHere = false;
  /** The last connection ended: undefined while going on; `null` when it ended cleanly. */
  let outcome: Error | null | undefined;
  let whenEnded: Array<() => void> = [];

  const untap = tapConnections(client, {
    message: (data) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w.resolve({ value: data, done: false });
        return;
      }
      queue.push(data);
      if (queue.length >= highWaterMark && !pausedHere) {
        pausedHere = true;
        client.pause();
      }
    },
    end: (end) => {
      if (!end.reconnecting) over(end.failure ?? null);
    },
  });

  /** The client's last connection ended (`null`: cleanly). */
  function over(result: Error | null): void {
    if (outcome !== undefined) return;
    outcome = result;
    untap();
    for (const wake of whenEnded) wake();
    whenEnded = [];
    if (waiter && queue.length === 0) settle();
  }

  /** Hands the waiting `next()` the end: done, or the failure (once). */
  function settle(): void {
    const w = waiter!;
    waiter = undefined;
    if (outcome instanceof Error) {
      const error = outcome;
      outcome = null; // thrown once; later next() calls are done
      w.reject(error);
    } else {
      w.resolve({ value: undefined, done: true });
    }
  }

  if (client.readyState === 'idle') client.connect();
  else if (client.readyState === 'closed') {
    // Started after an end: `opened` waits for a planned reconnect, and rejects when none follows.
    client.opened.catch(() => over(null));
  }

  const iterator: AsyncIterableIterator<string | Buffer> = {
    next(): Promise<IteratorResult<string | Buffer>> {
      const value = queue.shift();
      if (value !== undefined) {
        if (pausedHere && queue.length < highWaterMark) {
          pausedHere = false;
          client.resume();
        }
        return Promise.resolve({ value, done: false });
      }
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
        if (outcome !== undefined) settle();
      });
    },
    async return(): Promise<IteratorResult<string | Buffer>> {
      queue.length = 0;
      if (pausedHere) {
        pausedHere = false;
        client.resume(); // the server's close frame may be behind what nobody reads now
      }
      if (outcome === undefined && closeOnReturn) {
        const state = client.readyState;
        const ended = new Promise<void>((resolve) => whenEnded.push(resolve));
        client.close();
        // Between two attempts of a reconnecting client, no connection is left to end.
        if (state === 'open' || state === 'connecting' || state === 'closing') await ended;
      }
      untap();
      outcome = null;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
