// The lines of stdin, each to be sent as one message. Text lines come from
// node:readline (UTF-8, a line ends at \n, \r\n or \r). With --binary stdin
// is bytes: it is split at each \n byte only and the bytes between are sent
// as they are, so a binary file is not decoded as UTF-8 (which would replace
// invalid sequences with U+FFFD) nor cut at \r bytes.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** The reader of stdin the run holds: it pauses it for backpressure and closes it when done. */
export interface InputLines {
  pause(): void;
  resume(): void;
  close(): void;
}

/** Reads `stdin` line by line: `onLine` for each, `onEnd` once at its end (or when closed). */
export function readInputLines(
  stdin: Readable,
  binary: boolean,
  onLine: (line: string | Buffer) => void,
  onEnd: () => void,
): InputLines {
  if (!binary) {
    const lines = createInterface({ input: stdin, crlfDelay: Infinity, terminal: false });
    lines.on('line', onLine);
    lines.on('close', onEnd);
    return lines;
  }
  return new BinaryLines(stdin, onLine, onEnd);
}

const NEWLINE = 0x0a;

class BinaryLines implements InputLines {
  /** The start of a line whose \n has not come yet. */
  private partial: Buffer[] = [];
  private ended = false;

  constructor(
    private readonly stdin: Readable,
    private readonly onLine: (line: Buffer) => void,
    private readonly onEnd: () => void,
  ) {
    stdin.on('data', this.onData);
    stdin.once('end', this.onStdinEnd);
    stdin.once('close', this.onStdinEnd);
    stdin.on('error', this.onStdinEnd);
  }

  pause(): void {
    this.stdin.pause();
  }

  resume(): void {
    if (!this.ended) this.stdin.resume();
  }

  close(): void {
    this.end(false);
  }

  private readonly onData = (chunk: Buffer | string): void => {
    if (this.ended) return;
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let at = data.indexOf(NEWLINE); at !== -1 && !this.ended; at = data.indexOf(NEWLINE)) {
      this.partial.push(data.subarray(0, at));
      const line = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
      this.partial = [];
      data = data.subarray(at + 1);
      this.onLine(line);
    }
    if (data.length > 0) this.partial.push(data);
  };

  private readonly onStdinEnd = (): void => this.end(true);

  private end(deliverPartial: boolean): void {
    if (this.ended) return;
    // As with text lines, a last line without a newline is still a line.
    if (deliverPartial && this.partial.length > 0) this.onLine(Buffer.concat(this.partial));
    this.ended = true;
    this.partial = [];
    this.stdin.off('data', this.onData);
    this.stdin.off('end', this.onStdinEnd);
    this.stdin.off('close', this.onStdinEnd);
    this.stdin.off('error', this.onStdinEnd);
    this.onEnd();
  }
}
