import { Transform, type TransformCallback } from 'node:stream';
import { ConnectionError, ErrorCode } from '../protocol/errors.js';
import type { FrameSpec } from '../protocol/frame-encoder.js';
import { keepaliveDecision, type KeepaliveState } from '../protocol/keepalive.js';
import { Opcode } from '../protocol/opcode.js';

export interface PingInjectorOptions {
  /** Send a ping this often; 0 disables pings. */
  pingIntervalMs: number;
  /** Fail when a ping's pong has not come back within this; 0 never fails. Default: `pingIntervalMs`. */
  pongTimeoutMs?: number;
  /** Start the clock at once. Default true; pass false and call `start()` when the connection opens. */
  autoStart?: boolean;
  /** The clock, for tests. Default `Date.now`. */
  now?: () => number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Frames in, frames out, with a ping (opcode 0x9) injected every interval.
 * Tell it about pongs with `pongReceived()`; when one is overdue it destroys
 * itself with a `ConnectionError` (`WSP_ERR_PONG_TIMEOUT`): the peer is dead.
 *
 * Its timer is `unref()`ed and cleared when the stream ends or is destroyed.
 */
export class PingInjector extends Transform {
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  private readonly now: () => number;
  private readonly state: KeepaliveState = { lastPingAt: 0, awaitingPongSince: undefined };
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(options: PingInjectorOptions) {
    super({ objectMode: true });
    this.pingIntervalMs = Math.max(0, options.pingIntervalMs);
    this.pongTimeoutMs = Math.max(0, options.pongTimeoutMs ?? this.pingIntervalMs);
    this.now = options.now ?? Date.now;
    if (options.autoStart ?? true) this.start();
  }

  /** Starts the interval (once). */
  start(): void {
    if (this.started || this.destroyed) return;
    this.started = true;
    this.state.lastPingAt = this.now();
    this.schedule();
  }

  /** A pong arrived: the peer is alive. */
  pongReceived(): void {
    this.state.awaitingPongSince = undefined;
    if (this.started) this.schedule();
  }

  override _transform(frame: FrameSpec, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, frame);
  }

  override _flush(callback: TransformCallback): void {
    this.stop();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stop();
    callback(error);
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.stop();
    if (this.destroyed || this.writableEnded) return;
    const decision = keepaliveDecision(this.state, this.now(), this.pingIntervalMs, this.pongTimeoutMs);
    switch (decision.action) {
      case 'fail':
        this.destroy(
          new ConnectionError(ErrorCode.PongTimeout, `no pong within ${this.pongTimeoutMs} ms of a ping: the peer is unresponsive`),
        );
        return;
      case 'ping': {
        const now = this.now();
        this.state.lastPingAt = now;
        if (this.state.awaitingPongSince === undefined) this.state.awaitingPongSince = now;
        this.push({ opcode: Opcode.Ping, payload: EMPTY } satisfies FrameSpec);
        this.schedule();
        return;
      }
      case 'wait':
        if (decision.inMs === Infinity) return;
        this.timer = setTimeout(() => this.schedule(), Math.max(1, decision.inMs));
        this.timer.unref();
        return;
    }
  }
}
