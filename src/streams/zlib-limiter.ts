import { DEFAULT_MAX_CONCURRENT_ZLIB } from '../protocol/permessage-deflate.js';

/** Gives back the slot a job held; calling it more than once does nothing. */
export type ReleaseSlot = () => void;

/**
 * A counting semaphore for zlib work. Node runs zlib on the libuv thread pool
 * and every context holds native memory; many connections compressing at
 * once would crowd out file and DNS work and fragment memory. Jobs beyond the
 * limit wait, first come first served.
 */
export class ZlibLimiter {
  private limit: number;
  private running = 0;
  private readonly waiting: Array<(release: ReleaseSlot) => void> = [];

  constructor(concurrency: number = DEFAULT_MAX_CONCURRENT_ZLIB) {
    this.limit = ZlibLimiter.check(concurrency);
  }

  /** Jobs holding a slot now. */
  get active(): number {
    return this.running;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  get concurrency(): number {
    return this.limit;
  }

  /** Changes the limit; raising it starts waiting jobs at once. */
  setConcurrency(concurrency: number): void {
    this.limit = ZlibLimiter.check(concurrency);
    this.drain();
  }

  /** Calls `job` with a release function once a slot is free (synchronously if one is free now). */
  run(job: (release: ReleaseSlot) => void): void {
    this.waiting.push(job);
    this.drain();
  }

  private drain(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      let released = false;
      job(() => {
        if (released) return;
        released = true;
        this.running--;
        // A release from inside a job must not start the next job on the same stack.
        if (this.waiting.length > 0) queueMicrotask(() => this.drain());
      });
    }
  }

  private static check(concurrency: number): number {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('zlib concurrency must be a positive integer');
    return concurrency;
  }
}

/** The limiter every permessage-deflate stage shares unless given another. */
export const sharedZlibLimiter = new ZlibLimiter();

/**
 * The process-wide limiter, after applying `maxConcurrentZlib` when the
 * options have one. The limit is process-wide: the last value given applies
 * to every connection.
 */
export function zlibLimiterFor(options: { maxConcurrentZlib?: number | undefined }): ZlibLimiter {
  if (options.maxConcurrentZlib !== undefined) sharedZlibLimiter.setConcurrency(options.maxConcurrentZlib);
  return sharedZlibLimiter;
}
