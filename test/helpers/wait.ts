import type { EventEmitter } from 'node:events';
import type { WebSocketClient, WebSocketClientEvents } from '../../src/index.js';

/** Resolves after `ms`. The timer is cleared by the time it resolves, so it leaks nothing. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a message naming `what` unless `promise` settles within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The arguments of the next `event` on `emitter`, within `ms`. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms: number): Promise<T> {
  let listener: ((...args: unknown[]) => void) | undefined;
  const fired = new Promise<T>((resolve) => {
    listener = (...args: unknown[]) => resolve(args as T);
    emitter.once(event, listener);
  });
  return withTimeout(fired, ms, `event '${event}'`).finally(() => emitter.off(event, listener!));
}

/** Polls `condition` every few milliseconds until it holds, for at most `ms`. */
export async function waitUntil(condition: () => boolean, ms: number, what: string, everyMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await delay(everyMs);
  }
}

/** One event a client emitted, in order, with the time it happened. */
export interface RecordedEvent {
  type: string;
  args: unknown[];
  at: number;
}

const CLIENT_EVENTS: Array<keyof WebSocketClientEvents> = ['connect', 'open', 'message', 'error', 'close', 'bufferFull', 'drain', 'ping', 'pong', 'reconnecting'];

/**
 * Records what a client emits, as EventEmitter events (the on* callbacks stay
 * free for the test). `nth('close', 2, ms)` waits for the second close.
 */
export class ClientRecorder {
  readonly log: RecordedEvent[] = [];
  private readonly listeners = new Map<keyof WebSocketClientEvents, (...args: unknown[]) => void>();
  private waiters: Array<() => void> = [];

  constructor(readonly client: WebSocketClient) {
    for (const type of CLIENT_EVENTS) {
      const listener = (...args: unknown[]): void => {
        this.log.push({ type, args, at: Date.now() });
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      };
      this.listeners.set(type, listener);
      client.on(type, listener);
    }
  }

  of(type: string): RecordedEvent[] {
    return this.log.filter((e) => e.type === type);
  }

  count(type: string): number {
    return this.of(type).length;
  }

  /** The order of event types, optionally only some of them. */
  types(only?: string[]): string[] {
    return this.log.filter((e) => !only || only.includes(e.type)).map((e) => e.type);
  }

  /** Waits until `n` events of `type` were recorded; returns the n-th. */
  async nth(type: string, n: number, ms: number): Promise<RecordedEvent> {
    const found = (): RecordedEvent | undefined => this.of(type)[n - 1];
    const settled = new Promise<RecordedEvent>((resolve) => {
      const check = (): void => {
        const event = found();
        if (event) resolve(event);
        else this.waiters.push(check);
      };
      check();
    });
    return withTimeout(settled, ms, `${type} #${n} (log: ${this.types().join(', ')})`);
  }

  /** The first event of `type`. */
  first(type: string, ms: number): Promise<RecordedEvent> {
    return this.nth(type, 1, ms);
  }

  /** Removes the recorder's listeners from the client. */
  detach(): void {
    for (const [type, listener] of this.listeners) this.client.off(type, listener);
    this.listeners.clear();
  }
}
